package leakcheck

import (
	"go/ast"
	"go/token"
	"go/types"
)

// A tracker follows one resource through one function. It answers, for
// a statement or expression, whether that node releases the resource or
// hands it over (disposes of it).
//
// With a nil res the tracker summarizes a parameter instead: it records
// every release method used and whether the value is handed over.
type tracker struct {
	c       *checker
	res     *Resource
	f       *function
	root    *types.Var                     // the variable bound at the acquisition
	vars    map[*types.Var]bool            // root and its plain copies
	funcs   map[*types.Var]bool            // local func values whose body disposes of it
	holders map[*types.Var]map[string]bool // local structs built around it
	errVar  *types.Var                     // the acquisition's error result, if named
	guard   map[*types.Var]bool            // bool variables known wherever it is held
	parent  *types.Var                     // for a savepoint, the transaction it is in
	used    map[string]bool                // summary mode: release methods seen
	taken   bool                           // summary mode: handed over
	// successOnly makes the search count only the paths that return a
	// nil error (see checker.partial).
	successOnly bool
}

func newTracker(c *checker, res *Resource, f *function, root *types.Var) *tracker {
	t := &tracker{
		c:       c,
		res:     res,
		f:       f,
		root:    root,
		vars:    map[*types.Var]bool{root: true},
		funcs:   make(map[*types.Var]bool),
		holders: make(map[*types.Var]map[string]bool),
		used:    make(map[string]bool),
	}
	t.aliases()
	return t
}

// aliases adds the local copies of the resource and the local func
// values that dispose of it, to a fixed point.
func (t *tracker) aliases() {
	for changed := true; changed; {
		changed = false
		ast.Inspect(t.f.body, func(n ast.Node) bool {
			lhs, rhs := assignment(n)
			if len(lhs) != len(rhs) {
				return true
			}
			for i, r := range rhs {
				v := t.localVar(lhs[i])
				if v == nil || t.vars[v] || t.funcs[v] {
					continue
				}
				if lit, ok := ast.Unparen(r).(*ast.FuncLit); ok {
					if t.scan(lit.Body) {
						t.funcs[v], changed = true, true
					}
				} else if t.releaseValue(r) {
					t.funcs[v], changed = true, true
				} else if t.copyOf(r) {
					t.vars[v], changed = true, true
				} else if keys, ok := t.literalHolds(r); ok && t.res != nil {
					t.holders[v] = keys // summaries keep counting stores as hand-overs
				}
			}
			return true
		})
	}
}

// releaseValue reports whether e is a method value that releases the
// resource, as rows.Close: bound to a variable, it releases when called.
func (t *tracker) releaseValue(e ast.Expr) bool {
	sel, ok := ast.Unparen(e).(*ast.SelectorExpr)
	if !ok {
		return false
	}
	if s := t.c.pass.TypesInfo.Selections[sel]; s == nil || s.Kind() != types.MethodVal {
		return false
	}
	p, ok := t.chain(sel)
	if !ok || p == "Next" {
		return false
	}
	if t.res == nil {
		return t.c.table.names[p]
	}
	return t.res.releases(p)
}

// assignment returns the two sides of an assignment or var spec.
func assignment(n ast.Node) (lhs, rhs []ast.Expr) {
	switch n := n.(type) {
	case *ast.AssignStmt:
		return n.Lhs, n.Rhs
	case *ast.ValueSpec:
		lhs = make([]ast.Expr, len(n.Names))
		for i, id := range n.Names {
			lhs[i] = id
		}
		return lhs, n.Values
	}
	return nil, nil
}

// localVar returns the variable e names if it is declared in the function.
func (t *tracker) localVar(e ast.Expr) *types.Var {
	id, ok := ast.Unparen(e).(*ast.Ident)
	if !ok || id.Name == "_" {
		return nil
	}
	v, ok := t.c.pass.TypesInfo.ObjectOf(id).(*types.Var)
	if !ok || !t.f.contains(v) {
		return nil
	}
	return v
}

// isVar reports whether e is a variable holding the resource.
func (t *tracker) isVar(e ast.Expr) bool {
	v := t.varOf(e)
	return v != nil && t.vars[v]
}

// isFunc reports whether e is a local func value that disposes of the
// resource.
func (t *tracker) isFunc(e ast.Expr) bool {
	v := t.varOf(e)
	return v != nil && t.funcs[v]
}

func (t *tracker) varOf(e ast.Expr) *types.Var {
	id, ok := ast.Unparen(e).(*ast.Ident)
	if !ok {
		return nil
	}
	v, _ := t.c.pass.TypesInfo.Uses[id].(*types.Var)
	return v
}

// copyOf reports whether e is the resource itself, maybe converted.
func (t *tracker) copyOf(e ast.Expr) bool {
	switch e := ast.Unparen(e).(type) {
	case *ast.Ident:
		return t.isVar(e)
	case *ast.TypeAssertExpr:
		return t.copyOf(e.X)
	case *ast.CallExpr:
		return len(e.Args) == 1 && t.isType(e.Fun) && t.copyOf(e.Args[0])
	}
	return false
}

func (t *tracker) isType(e ast.Expr) bool {
	tv, ok := t.c.pass.TypesInfo.Types[e]
	return ok && tv.IsType()
}

// flows reports whether the value of e holds the resource: the variable,
// its owning field (resp.Body), its address, or a literal containing it.
func (t *tracker) flows(e ast.Expr) bool {
	switch e := ast.Unparen(e).(type) {
	case *ast.Ident:
		return t.isVar(e) || t.isFunc(e)
	case *ast.SelectorExpr:
		return t.isVar(e.X) && t.ownerField(e.Sel.Name) || t.holderField(e)
	case *ast.UnaryExpr:
		return e.Op == token.AND && t.flows(e.X)
	case *ast.StarExpr:
		return t.flows(e.X)
	case *ast.TypeAssertExpr:
		return t.flows(e.X)
	case *ast.CompositeLit:
		for _, elt := range e.Elts {
			if kv, ok := elt.(*ast.KeyValueExpr); ok {
				elt = kv.Value
			}
			if t.flows(elt) {
				return true
			}
		}
	case *ast.CallExpr:
		if len(e.Args) == 1 && t.isType(e.Fun) {
			return t.flows(e.Args[0])
		}
		return t.wraps(e)
	case *ast.FuncLit:
		return t.scan(e.Body)
	}
	return false
}

func (t *tracker) ownerField(name string) bool {
	if t.res == nil {
		return t.c.table.owners[name]
	}
	for _, f := range t.res.ownerFields() {
		if f == name {
			return true
		}
	}
	return false
}

// release records the use of a release method and reports whether it
// releases the tracked resource.
func (t *tracker) release(name string) bool {
	if t.res == nil {
		if t.c.table.names[name] || name == "Next" {
			t.used[name] = true
			return true
		}
		return false
	}
	return t.res.releases(name) || name == "Next" && t.res.NextCloses
}

// transfer records that the resource is handed over.
func (t *tracker) transfer() bool {
	t.taken = true
	return true
}

// chain returns the path of a selector rooted at the resource, such as
// "Close" for rows.Close or "Body.Close" for resp.Body.Close.
func (t *tracker) chain(sel *ast.SelectorExpr) (string, bool) {
	switch x := ast.Unparen(sel.X).(type) {
	case *ast.Ident:
		// Ending a transaction ends its savepoints too.
		return sel.Sel.Name, t.isVar(x) || t.parent != nil && t.varOf(x) == t.parent
	case *ast.SelectorExpr:
		if t.holderField(x) {
			return sel.Sel.Name, true
		}
		p, ok := t.chain(x)
		return p + "." + sel.Sel.Name, ok
	}
	return "", false
}

// methodCall reports whether call is resource.name(...).
func (t *tracker) methodCall(e ast.Expr, name string) bool {
	call, ok := ast.Unparen(e).(*ast.CallExpr)
	if !ok {
		return false
	}
	sel, ok := ast.Unparen(call.Fun).(*ast.SelectorExpr)
	return ok && sel.Sel.Name == name && t.isVar(sel.X)
}

// scan reports whether n disposes of the resource. In path mode it stops
// at the first disposal; in summary mode it records them all.
func (t *tracker) scan(root ast.Node) bool {
	found := false
	hit := func(ok bool) {
		found = found || ok
	}
	ast.Inspect(root, func(n ast.Node) bool {
		if found && t.res != nil {
			return false
		}
		switch n := n.(type) {
		case *ast.FuncLit:
			hit(t.scan(n.Body))
			return false
		case *ast.ForStmt:
			if t.methodCall(n.Cond, "Next") {
				hit(t.release("Next"))
			}
		case *ast.AssignStmt, *ast.ValueSpec:
			lhs, rhs := assignment(n)
			if len(lhs) == len(rhs) {
				for i, r := range rhs {
					if _, ok := ast.Unparen(r).(*ast.FuncLit); (ok || t.releaseValue(r)) && t.localVar(lhs[i]) != nil {
						continue // a local func value: it counts when called
					}
					if t.holds(lhs[i], r) {
						continue // a holder: its uses count
					}
					if t.flows(r) && !t.copied(lhs[i], r) {
						hit(t.transfer())
					}
					hit(t.scan(r))
				}
				return false
			}
		case *ast.ReturnStmt:
			if len(n.Results) == 0 {
				for _, v := range t.f.results {
					if t.vars[v] {
						hit(t.transfer())
					}
				}
			}
			for _, r := range n.Results {
				if t.flows(r) {
					hit(t.transfer())
				}
			}
		case *ast.SendStmt:
			if t.flows(n.Value) {
				hit(t.transfer())
			}
		case *ast.CallExpr:
			hit(t.call(n))
		case *ast.SelectorExpr:
			if _, ok := t.holder(n.X); ok {
				if t.holderUse(n) {
					hit(t.transfer())
				}
				return false
			}
			if p, ok := t.chain(n); ok && p != "Next" {
				hit(t.release(p))
			}
		case *ast.Ident:
			if _, ok := t.holder(n); ok {
				hit(t.transfer())
			}
		case *ast.UnaryExpr:
			if n.Op == token.AND && t.flows(n.X) {
				hit(t.transfer())
			}
		case *ast.CompositeLit:
			if t.flows(n) {
				hit(t.transfer())
			}
		}
		return true
	})
	return found
}

// copied reports whether assigning r to l only makes a local copy.
func (t *tracker) copied(l, r ast.Expr) bool {
	if id, ok := ast.Unparen(l).(*ast.Ident); ok && id.Name == "_" {
		return true
	}
	return t.localVar(l) != nil && t.copyOf(r)
}

// assigns reports whether n assigns to v.
func (t *tracker) assigns(n ast.Node, v *types.Var) bool {
	lhs, _ := assignment(n)
	for _, l := range lhs {
		if id, ok := ast.Unparen(l).(*ast.Ident); ok && t.c.pass.TypesInfo.ObjectOf(id) == v {
			return true
		}
	}
	return false
}

// scanResult returns the variable assigned the result of resource.Scan
// by n, if any.
func (t *tracker) scanResult(n ast.Node) *types.Var {
	lhs, rhs := assignment(n)
	if len(lhs) != 1 || len(rhs) != 1 || !t.methodCall(rhs[0], "Scan") {
		return nil
	}
	return t.localVar(lhs[0])
}
