package leakcheck

import (
	"go/ast"
	"go/constant"
	"go/token"
	"go/types"
	"maps"
	"slices"
	"strings"

	"golang.org/x/tools/go/types/typeutil"
)

// A tracker follows one resource through one function. It answers, for
// a statement or expression, whether that node releases the resource or
// hands it over (disposes of it).
//
// A tracker works in one of two modes. On a path (newTracker) it
// follows an acquired resource of a known kind and stops at the first
// disposal. Summarizing (newSummary) it follows a parameter of a
// function, whose kind is not known, through the whole body, and
// records every release method used and whether the value is handed
// over.
type tracker struct {
	c         *checker
	summarize bool      // summary mode; res is then nil
	res       *resource // path mode: the resource followed
	f         *function
	root      *types.Var                     // the variable bound at the acquisition
	vars      map[*types.Var]bool            // root and its plain copies
	funcs     map[*types.Var]bool            // local func values whose body disposes of it
	holders   map[*types.Var]map[string]bool // local structs built around it
	errVar    *types.Var                     // the acquisition's error result, if named
	guard     map[*types.Var]bool            // bool variables known wherever it is held
	parent    *types.Var                     // for a savepoint, the transaction it is in
	used      map[string]bool                // summary mode: release methods seen
	taken     bool                           // summary mode: handed over
	// successOnly makes the search count only the paths that return a
	// nil error (see checker.partial).
	successOnly bool
	// loans makes passing the resource to code the pass cannot see (a
	// func value, an interface method) a use rather than a hand-over:
	// see checker.disposedOnSuccess.
	loans bool
}

// newTracker returns a tracker that follows res, held by root, along
// the paths of f.
func newTracker(c *checker, res *resource, f *function, root *types.Var) *tracker {
	return track(c, false, res, f, root)
}

// newSummary returns a tracker that records what f does with root.
func newSummary(c *checker, f *function, root *types.Var) *tracker {
	return track(c, true, nil, f, root)
}

func track(c *checker, summarize bool, res *resource, f *function, root *types.Var) *tracker {
	t := &tracker{
		c:         c,
		summarize: summarize,
		res:       res,
		f:         f,
		root:      root,
		vars:      map[*types.Var]bool{root: true},
		funcs:     make(map[*types.Var]bool),
		holders:   make(map[*types.Var]map[string]bool),
		used:      make(map[string]bool),
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
				} else if keys, ok := t.literalHolds(r); ok && !t.summarize {
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
	if t.summarize {
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
	if t.summarize {
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
	if t.summarize {
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
		if found && !t.summarize {
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

// call reports whether the call disposes of the resource: a call of a
// func value that does, or passing the resource to a function that
// releases or keeps it, or to code this pass cannot see.
func (t *tracker) call(call *ast.CallExpr) bool {
	info := t.c.pass.TypesInfo
	fun := ast.Unparen(call.Fun)
	if t.isType(fun) {
		return false
	}
	if t.isFunc(fun) {
		return t.transfer()
	}
	if sel, ok := fun.(*ast.SelectorExpr); ok && len(call.Args) > 0 {
		if s := info.Selections[sel]; s != nil && s.Kind() == types.MethodExpr && t.isVar(call.Args[0]) {
			if t.release(sel.Sel.Name) {
				return true
			}
		}
	}
	callee := typeutil.Callee(info, call)
	if b, ok := callee.(*types.Builtin); ok {
		if b.Name() == "append" {
			for _, a := range call.Args[1:] {
				if t.flows(a) {
					return t.transfer()
				}
			}
		}
		return false
	}
	fn, _ := callee.(*types.Func)
	for i, arg := range call.Args {
		if _, ok := ast.Unparen(arg).(*ast.FuncLit); ok || !t.flows(arg) {
			continue // closures are judged by scan
		}
		switch {
		case fn == nil: // a func value: assume it takes ownership
			if !t.loans {
				return t.transfer()
			}
		case t.c.table.releasers[t.c.fullName(fn)]:
			return t.transfer()
		case isInterfaceMethod(fn):
			if !t.loans {
				return t.transfer()
			}
		case t.takes(fn, i, ownerPrefix(arg), call):
			return true
		}
	}
	return false
}

func isInterfaceMethod(fn *types.Func) bool {
	recv := fn.Signature().Recv()
	return recv != nil && types.IsInterface(recv.Type())
}

// wraps reports whether call is a method of this package on the
// resource that keeps its receiver, such as a constructor of a wrapper
// that releases it later. Library methods (Conn, Hijack aside) lend
// rather than keep, so only this package's own methods are trusted.
func (t *tracker) wraps(call *ast.CallExpr) bool {
	sel, ok := ast.Unparen(call.Fun).(*ast.SelectorExpr)
	if !ok || !t.isVar(sel.X) {
		return false
	}
	fn, ok := typeutil.Callee(t.c.pass.TypesInfo, call).(*types.Func)
	return ok && t.c.decls[fn.Origin()] != nil && t.takes(fn, -1, "", call)
}

// ownerPrefix returns "Body." for an argument such as resp.Body: the
// callee's release of its parameter is then a release of Body.
func ownerPrefix(arg ast.Expr) string {
	if sel, ok := ast.Unparen(arg).(*ast.SelectorExpr); ok {
		return sel.Sel.Name + "."
	}
	return ""
}

// takes reports whether fn, called by call, releases or keeps its i'th
// argument; prefix is the owning field the argument was taken from, if
// any.
func (t *tracker) takes(fn *types.Func, i int, prefix string, call *ast.CallExpr) bool {
	fn = fn.Origin()
	sig := fn.Signature()
	if sig.Variadic() && i >= sig.Params().Len()-1 && i >= 0 {
		i = sig.Params().Len() - 1
	}
	for _, u := range t.c.summary(fn) {
		if u.Index != i || u.Partial && !t.summarize && !t.holdsFor(u, call) {
			continue
		}
		if t.summarize {
			for _, m := range u.Methods {
				t.used[prefix+m] = true
			}
			if t.loans { // only a release counts
				return len(u.Methods) > 0
			}
			t.taken = t.taken || u.Taken
			return true
		}
		if u.Taken {
			return true
		}
		for _, m := range u.Methods {
			if t.release(prefix + m) {
				return true
			}
		}
	}
	return false
}

// holdsFor reports whether the condition under which a partial use u
// releases on every path holds at call: the helper's bool parameter is
// passed as the constant that makes it release (closeRows = true).
func (t *tracker) holdsFor(u paramUse, call *ast.CallExpr) bool {
	if call == nil {
		return false
	}
	for _, c := range u.If {
		if c.Index >= len(call.Args) {
			continue
		}
		tv := t.c.pass.TypesInfo.Types[call.Args[c.Index]]
		if tv.Value != nil && tv.Value.Kind() == constant.Bool && constant.BoolVal(tv.Value) == c.Value {
			return true
		}
	}
	return false
}

// A holder is a local struct value built around the resource, as in
// s := session{conn: conn}. Passing, returning, storing or calling a
// method on it hands the resource over; reading its other fields does
// not, so a holder dropped at return leaks the resource.
//
// holders maps each holder to the keys of the fields that hold the
// resource, or to nil for a positional literal, whose every use counts.

// literalHolds reports whether e is a struct literal (or its address)
// with the resource as a field, and returns the keys of those fields.
func (t *tracker) literalHolds(e ast.Expr) (map[string]bool, bool) {
	e = ast.Unparen(e)
	if u, ok := e.(*ast.UnaryExpr); ok && u.Op == token.AND {
		e = ast.Unparen(u.X)
	}
	lit, ok := e.(*ast.CompositeLit)
	if !ok {
		return nil, false
	}
	if _, isStruct := t.c.pass.TypesInfo.TypeOf(lit).Underlying().(*types.Struct); !isStruct {
		return nil, false
	}
	var keys map[string]bool
	held := false
	for _, elt := range lit.Elts {
		kv, keyed := elt.(*ast.KeyValueExpr)
		if !keyed {
			if t.isVar(elt) {
				return nil, true
			}
			continue
		}
		if id, ok := kv.Key.(*ast.Ident); ok && t.isVar(kv.Value) {
			if keys == nil {
				keys = make(map[string]bool)
			}
			keys[id.Name], held = true, true
		}
	}
	return keys, held
}

// holds reports whether assigning r to l makes l a holder.
func (t *tracker) holds(l, r ast.Expr) bool {
	v := t.localVar(l)
	if v == nil {
		return false
	}
	_, isHolder := t.holders[v]
	_, ok := t.literalHolds(r)
	return isHolder && ok
}

// holder returns the holder e names, if any.
func (t *tracker) holder(e ast.Expr) (*types.Var, bool) {
	v := t.varOf(e)
	if v == nil {
		return nil, false
	}
	_, ok := t.holders[v]
	return v, ok
}

// holderField reports whether sel selects the resource out of a holder.
func (t *tracker) holderField(sel *ast.SelectorExpr) bool {
	v, ok := t.holder(sel.X)
	return ok && t.holders[v][sel.Sel.Name]
}

// holderUse reports whether a selection on a holder hands the resource
// over: a method call may release it; a positional literal's fields are
// not told apart.
func (t *tracker) holderUse(sel *ast.SelectorExpr) bool {
	v, _ := t.holder(sel.X)
	s := t.c.pass.TypesInfo.Selections[sel]
	keys := t.holders[v]
	switch {
	case s == nil || keys == nil:
		return true
	case s.Kind() == types.FieldVal:
		return false
	}
	fn, ok := s.Obj().(*types.Func)
	return !ok || t.c.disposesOfFields(fn, keys)
}

// disposesOfFields reports whether the method fn may release or hand
// over what its receiver holds in the given fields. A method of another
// package, or one that passes its receiver on, may; one that only reads
// and uses the fields (h.ping(ctx)) does not.
func (c *checker) disposesOfFields(fn *types.Func, fields map[string]bool) bool {
	decl := c.decls[fn.Origin()]
	if decl == nil || decl.Recv == nil || len(decl.Recv.List) == 0 {
		return true
	}
	names := decl.Recv.List[0].Names
	if len(names) == 0 || names[0].Name == "_" {
		return false
	}
	recv, ok := c.pass.TypesInfo.Defs[names[0]].(*types.Var)
	if !ok {
		return true
	}
	keys := slices.Sorted(maps.Keys(fields))
	key := fieldsKey{fn.Origin(), strings.Join(keys, ",")}
	if d, ok := c.fieldUses[key]; ok {
		return d
	}
	c.fieldUses[key] = true // recursion: assume it may
	t := newSummary(c, c.function(decl), types.NewVar(token.NoPos, nil, "", nil))
	t.holders[recv] = fields
	d := t.scan(decl.Body)
	c.fieldUses[key] = d
	return d
}

// fieldsKey names a method and the receiver fields asked about.
type fieldsKey struct {
	fn     *types.Func
	fields string
}
