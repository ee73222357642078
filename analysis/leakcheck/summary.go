package leakcheck

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"slices"
	"strings"
)

// A paramUse says what a function does with one of its parameters.
type paramUse struct {
	Index   int      // parameter index, -1 for the receiver
	Methods []string // release methods it calls on it (or "Next" in a loop)
	Taken   bool     // it returns, stores or passes the value on
	Partial bool     // some path returns without doing either
	// If lists, when Partial, the bool parameters under which no path
	// returns without releasing or handing over (closeRows = true).
	If []paramValue
	// OnSuccess is set, with Partial, when every path that returns a
	// nil error releases or hands over the parameter: a constructor
	// that keeps it in the value it returns.
	OnSuccess bool
}

// takesFact is exported for functions that release or keep a
// parameter, so that callers in other packages see the release.
type takesFact struct {
	Params []paramUse
}

// AFact marks takesFact as an analysis fact.
func (*takesFact) AFact() {}

func (f *takesFact) String() string {
	var parts []string
	for _, u := range f.Params {
		s := fmt.Sprintf("%d:%s", u.Index, strings.Join(u.Methods, ","))
		if u.Taken {
			s += ":taken"
		}
		if u.Partial {
			s += ":partial"
		}
		for _, c := range u.If {
			s += fmt.Sprintf(":if%d=%v", c.Index, c.Value)
		}
		if u.OnSuccess {
			s += ":onsuccess"
		}
		parts = append(parts, s)
	}
	return "takes(" + strings.Join(parts, " ") + ")"
}

// summary returns what fn does with its parameters, from its body when
// it is declared in this package and from its fact otherwise.
func (c *checker) summary(fn *types.Func) []paramUse {
	if uses, ok := c.summaries[fn]; ok {
		return uses
	}
	decl := c.decls[fn]
	if decl == nil {
		var fact takesFact
		if fn.Pkg() != c.pass.Pkg && c.pass.ImportObjectFact(fn, &fact) {
			return fact.Params
		}
		return nil
	}
	c.summaries[fn] = nil // recursion: assume nothing until known
	var uses []paramUse
	sig := fn.Signature()
	f := c.function(decl)
	for i := -1; i < sig.Params().Len(); i++ {
		p := sig.Recv()
		if i >= 0 {
			p = sig.Params().At(i)
		}
		if p == nil || !c.closeable(p.Type()) {
			continue
		}
		t := newSummary(c, f, p)
		t.scan(decl.Body)
		if t.taken || len(t.used) > 0 {
			methods := make([]string, 0, len(t.used))
			for m := range t.used {
				methods = append(methods, m)
			}
			slices.Sort(methods)
			u := paramUse{Index: i, Methods: methods, Taken: t.taken, Partial: c.partial(f, p, nil, false)}
			if u.Partial {
				u.If = c.partialUnless(f, sig, p)
				u.OnSuccess = returnsError(sig) && !c.partial(f, p, nil, true)
			}
			uses = append(uses, u)
		}
	}
	c.summaries[fn] = uses
	return uses
}

// partial reports whether some path through f returns without
// releasing or handing over parameter p, as in a helper that releases
// only when an error is nil: callers must not count on it.
//
// With successOnly, only the paths that return a nil error count.
func (c *checker) partial(f *function, p *types.Var, guard map[*types.Var]bool, successOnly bool) bool {
	t := newTracker(c, c.releasesOf(p.Type()), f, p)
	t.guard, t.successOnly = guard, successOnly
	return t.search(nodeRef{f.g.Blocks[0], -1}) != nil
}

// A paramValue is a value of a bool parameter.
type paramValue struct {
	Index int
	Value bool
}

// partialUnless returns the values of bool parameters under which f
// releases or hands over p on every path, as a scanning helper called
// with closeRows = true does.
func (c *checker) partialUnless(f *function, sig *types.Signature, p *types.Var) []paramValue {
	var out []paramValue
	t := &tracker{c: c, f: f}
	for i := range sig.Params().Len() {
		b := sig.Params().At(i)
		if !types.Identical(b.Type().Underlying(), types.Typ[types.Bool]) || t.reassigned(b) {
			continue
		}
		for _, val := range []bool{true, false} {
			if !c.partial(f, p, map[*types.Var]bool{b: val}, false) {
				out = append(out, paramValue{i, val})
			}
		}
	}
	return out
}

// returnsError reports whether sig's last result is an error.
func returnsError(sig *types.Signature) bool {
	res := sig.Results()
	return res.Len() > 0 && types.Identical(res.At(res.Len()-1).Type(), errorType)
}

// releasesOf returns the resource a parameter of type T may be, for
// the search of its paths: the one of that type, or one released by
// every known release method that T has.
func (c *checker) releasesOf(T types.Type) *resource {
	if r := c.table.resourceOf(T); r != nil {
		return r
	}
	if r, ok := c.anyRelease[T]; ok {
		return r
	}
	r := &resource{Noun: "parameter", NextCloses: true, ScanErrCloses: true}
	for name := range c.table.names {
		first, _, _ := strings.Cut(name, ".")
		if obj, _, _ := types.LookupFieldOrMethod(T, true, nil, first); obj != nil {
			r.Release = append(r.Release, name)
		}
	}
	slices.Sort(r.Release)
	c.anyRelease[T] = r
	return r
}

// exportFacts summarizes the exported functions of the package.
func (c *checker) exportFacts() {
	for fn := range c.decls {
		if !fn.Exported() {
			continue
		}
		var params []paramUse
		for _, u := range c.summary(fn) {
			if u.Index >= 0 { // receivers are trusted only in their own package
				params = append(params, u)
			}
		}
		if len(params) > 0 {
			c.pass.ExportObjectFact(fn, &takesFact{Params: params})
		}
		if a := c.acquirer(fn); a.res != nil {
			c.pass.ExportObjectFact(fn, &acquiresFact{Resource: *a.res, ReleaseFunc: a.release})
		}
	}
}

// closeable reports whether a value of type T could be a resource: it
// has a release method or an owning field. Only such parameters are
// summarized.
func (c *checker) closeable(T types.Type) bool {
	if ok, seen := c.closeables[T]; seen {
		return ok
	}
	ok := false
	for name := range c.table.names {
		first, _, _ := strings.Cut(name, ".")
		if obj, _, _ := types.LookupFieldOrMethod(T, true, nil, first); obj != nil {
			ok = true
			break
		}
	}
	c.closeables[T] = ok
	return ok
}

// acquiresFact is exported for a function that returns a resource it
// acquired, so that its callers in other packages release it.
type acquiresFact struct {
	Resource resource
	// ReleaseFunc, if not 0, is the index of a func result that
	// releases the resource (conn, cleanup, err := open(ctx)).
	ReleaseFunc int
}

// AFact marks acquiresFact as an analysis fact.
func (*acquiresFact) AFact() {}

func (f *acquiresFact) String() string {
	if f.ReleaseFunc > 0 {
		return fmt.Sprintf("acquires(%s, released by result %d)", f.Resource.Noun, f.ReleaseFunc)
	}
	return "acquires(" + f.Resource.Noun + ")"
}

// An acquirer says what a function acquires for its caller.
type acquirer struct {
	res     *resource // nil if nothing
	release int       // index of a func result that releases res, or 0
}

// acquires returns the resource fn acquires for its caller, or nil.
func (c *checker) acquires(fn *types.Func) *resource { return c.acquirer(fn).res }

// acquirer says what fn acquires for its caller. A function acquires
// when every return hands out either nil or a resource it has just
// acquired and not disposed of on the way (see fresh): a wrapper such
// as sqlx's Queryx. A function that may return a resource it was given
// or found (a getter, a transaction taken from a context) lends it, and
// its callers owe nothing. A function may also return, with the
// resource, a func that releases it (see releaseResult).
func (c *checker) acquirer(fn *types.Func) acquirer {
	fn = fn.Origin()
	if a, ok := c.acquirers[fn]; ok {
		return a
	}
	decl := c.decls[fn]
	if decl == nil {
		var fact acquiresFact
		var a acquirer
		if fn.Pkg() != c.pass.Pkg && c.pass.ImportObjectFact(fn, &fact) {
			a = acquirer{&fact.Resource, fact.ReleaseFunc}
		}
		c.acquirers[fn] = a
		return a
	}
	c.acquirers[fn] = acquirer{} // recursion: assume not until known
	res := fn.Signature().Results()
	if res.Len() == 0 || !c.closeable(res.At(0).Type()) {
		return acquirer{}
	}
	f := c.function(decl)
	var out *resource
	ok := true
	ast.Inspect(decl.Body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncLit:
			return false
		case *ast.ReturnStmt:
			var r *resource
			var fresh bool
			if len(n.Results) == 0 {
				if len(f.results) == 0 {
					ok = false
					break
				}
				r, fresh = c.freshVar(f, f.results[0])
			} else {
				r, fresh = c.fresh(f, n.Results[0])
			}
			ok = ok && fresh
			if out == nil {
				out = r
			}
		}
		return ok
	})
	var a acquirer
	if ok && out != nil {
		a = acquirer{out, c.releaseResult(f, res)}
	}
	c.acquirers[fn] = a
	return a
}

// releaseResult returns the index of a func result of f that releases
// the resource it returns first, on every return that hands one out,
// or 0. Such a func is a literal that releases the returned variable, or
// a variable only ever assigned such literals.
func (c *checker) releaseResult(f *function, results *types.Tuple) int {
	for k := 1; k < results.Len(); k++ {
		if _, ok := results.At(k).Type().Underlying().(*types.Signature); !ok {
			continue
		}
		ok, seen := true, false
		ast.Inspect(f.body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncLit:
				return false
			case *ast.ReturnStmt:
				if len(n.Results) != results.Len() {
					ok = false
				} else if !c.pass.TypesInfo.Types[n.Results[0]].IsNil() {
					v, isVar := c.pass.TypesInfo.Uses[identOf(n.Results[0])].(*types.Var)
					ok = ok && isVar && c.releasesVar(f, n.Results[k], v)
					seen = true
				}
			}
			return ok
		})
		if ok && seen {
			return k
		}
	}
	return 0
}

// releasesVar reports whether e is a func literal that releases v, or a
// local variable only ever assigned such literals.
func (c *checker) releasesVar(f *function, e ast.Expr, v *types.Var) bool {
	switch e := ast.Unparen(e).(type) {
	case *ast.FuncLit:
		return newSummary(c, f, v).scan(e.Body)
	case *ast.Ident:
		w, isVar := c.pass.TypesInfo.Uses[e].(*types.Var)
		if !isVar || !f.contains(w) {
			return false
		}
		ok, assigned := true, false
		ast.Inspect(f.body, func(n ast.Node) bool {
			lhs, rhs := assignment(n)
			for i, l := range lhs {
				if id := identOf(l); id == nil || c.pass.TypesInfo.ObjectOf(id) != w {
					continue
				}
				assigned = true
				lit, isLit := (*ast.FuncLit)(nil), false
				if len(lhs) == len(rhs) {
					lit, isLit = ast.Unparen(rhs[i]).(*ast.FuncLit)
				}
				ok = ok && isLit && newSummary(c, f, v).scan(lit.Body)
			}
			return ok
		})
		return ok && assigned
	}
	return false
}

// fresh reports whether e, returned by f, is nil or a resource f has
// just acquired, and returns the resource.
func (c *checker) fresh(f *function, e ast.Expr) (*resource, bool) {
	info := c.pass.TypesInfo
	e = ast.Unparen(e)
	if info.Types[e].IsNil() {
		return nil, true
	}
	switch e := e.(type) {
	case *ast.CallExpr:
		r := c.acquired(e)
		return r, r != nil
	case *ast.Ident:
		if v, ok := info.Uses[e].(*types.Var); ok && f.contains(v) {
			return c.freshVar(f, v)
		}
	case *ast.UnaryExpr:
		if e.Op == token.AND {
			return c.fresh(f, e.X)
		}
	case *ast.CompositeLit:
		// A wrapper that embeds the resource, as &sqlx.Rows{Rows: r}, or
		// holds it and has the same release methods.
		T := info.TypeOf(e)
		st, ok := T.Underlying().(*types.Struct)
		if !ok {
			break
		}
		for i, elt := range e.Elts {
			fld, val := (*types.Var)(nil), elt
			if kv, ok := elt.(*ast.KeyValueExpr); ok {
				key, _ := kv.Key.(*ast.Ident)
				fld, _ = info.Uses[key].(*types.Var)
				val = kv.Value
			} else if i < st.NumFields() {
				fld = st.Field(i)
			}
			if fld == nil {
				continue
			}
			if r, ok := c.fresh(f, val); ok && r != nil && (fld.Embedded() || hasMethods(T, r.Release)) {
				return r, true
			}
		}
	}
	return nil, false
}

// freshVar reports whether every value assigned to the local variable v
// is nil or a fresh resource, and f disposes of it nowhere but on its
// failure paths.
func (c *checker) freshVar(f *function, v *types.Var) (*resource, bool) {
	if c.freshening[v] {
		return nil, false // x = &node{next: x}
	}
	c.freshening[v] = true
	defer delete(c.freshening, v)
	var out *resource
	ok, assigned := true, false
	ast.Inspect(f.body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.AssignStmt, *ast.ValueSpec:
			lhs, rhs := assignment(n)
			for i, l := range lhs {
				id, isID := ast.Unparen(l).(*ast.Ident)
				if !isID || c.pass.TypesInfo.ObjectOf(id) != v {
					continue
				}
				assigned = true
				var r *resource
				var fresh bool
				switch {
				case len(lhs) == len(rhs):
					r, fresh = c.fresh(f, rhs[i])
				case len(rhs) == 1 && i == 0:
					if call, isCall := ast.Unparen(rhs[0]).(*ast.CallExpr); isCall {
						r = c.acquired(call)
						fresh = r != nil
					}
				case len(rhs) == 0:
					fresh = true // var v T
				}
				ok = ok && fresh
				if out == nil {
					out = r
				}
			}
		case *ast.RangeStmt:
			if c.pass.TypesInfo.ObjectOf(identOf(n.Key)) == v || c.pass.TypesInfo.ObjectOf(identOf(n.Value)) == v {
				ok = false
			}
		case *ast.UnaryExpr:
			if n.Op == token.AND && identOf(n.X) != nil && c.pass.TypesInfo.Uses[identOf(n.X)] == v {
				ok = false
			}
		}
		return ok
	})
	if !ok || !assigned || out == nil {
		return nil, false
	}
	if c.disposedOnSuccess(f, v) {
		return nil, false
	}
	return out, true
}

// hasMethods reports whether T or *T has every release method or path.
func hasMethods(T types.Type, release []string) bool {
	for _, rel := range release {
		first, _, _ := strings.Cut(rel, ".")
		if obj, _, _ := types.LookupFieldOrMethod(types.NewPointer(T), false, nil, first); obj == nil {
			return false
		}
	}
	return len(release) > 0
}

func identOf(e ast.Expr) *ast.Ident {
	id, _ := ast.Unparen(e).(*ast.Ident)
	return id
}

// disposedOnSuccess reports whether f releases or hands over v on its
// way to returning it: a deferred release, a cleanup registered with
// the test, a store. Releases in a branch that returns or that tests an
// error (the failure path) do not count.
func (c *checker) disposedOnSuccess(f *function, v *types.Var) bool {
	t := newSummary(c, f, v)
	t.loans = true // it returns v: what it passed v to only used it
	found := false
	var walk func(n ast.Node) bool
	walk = func(n ast.Node) bool {
		if found {
			return false
		}
		switch n := n.(type) {
		case *ast.ReturnStmt, *ast.FuncLit:
			return false
		case *ast.IfStmt:
			if n.Init != nil {
				found = found || t.scan(n.Init)
			}
			if c.testsError(n.Cond) {
				return false
			}
			if !endsFunction(n.Body) {
				ast.Inspect(n.Body, walk)
			}
			if n.Else != nil {
				if b, ok := n.Else.(*ast.BlockStmt); !ok || !endsFunction(b) {
					ast.Inspect(n.Else, walk)
				}
			}
			return false
		case *ast.DeferStmt:
			if lit, ok := ast.Unparen(n.Call.Fun).(*ast.FuncLit); ok {
				ast.Inspect(lit.Body, walk)
				return false
			}
			found = t.scan(n)
			return false
		case *ast.ExprStmt, *ast.AssignStmt, *ast.GoStmt, *ast.SendStmt, *ast.DeclStmt:
			found = t.scan(n)
			return false
		}
		return true
	}
	ast.Inspect(f.body, walk)
	return found
}

// testsError reports whether cond mentions a value of type error.
func (c *checker) testsError(cond ast.Expr) bool {
	found := false
	ast.Inspect(cond, func(n ast.Node) bool {
		if e, ok := n.(ast.Expr); ok && !found {
			if T := c.pass.TypesInfo.TypeOf(e); T != nil && types.Identical(T, errorType) {
				found = true
			}
		}
		return !found
	})
	return found
}

// endsFunction reports whether block b ends in a return or a panic.
func endsFunction(b *ast.BlockStmt) bool {
	if len(b.List) == 0 {
		return false
	}
	switch s := b.List[len(b.List)-1].(type) {
	case *ast.ReturnStmt:
		return true
	case *ast.ExprStmt:
		if call, ok := ast.Unparen(s.X).(*ast.CallExpr); ok {
			id, isID := ast.Unparen(call.Fun).(*ast.Ident)
			return isID && id.Name == "panic"
		}
	}
	return false
}
