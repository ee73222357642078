package leakcheck

import (
	"go/ast"
	"go/token"
	"go/types"

	"golang.org/x/tools/go/ast/inspector"
	"golang.org/x/tools/go/types/typeutil"
)

// checkCall checks one call: if it acquires a resource bound to a local
// variable, it searches for a path on which the resource leaks.
func (c *checker) checkCall(cur inspector.Cursor) {
	call := cur.Node().(*ast.CallExpr)
	res := c.acquired(call)
	if res == nil {
		return
	}
	var fnNode ast.Node
	for enc := range cur.Enclosing((*ast.FuncDecl)(nil), (*ast.FuncLit)(nil)) {
		fnNode = enc.Node()
		break
	}
	if fnNode == nil {
		return
	}
	parent := cur.Parent()
	for {
		if _, ok := parent.Node().(*ast.ParenExpr); !ok {
			break
		}
		parent = parent.Parent()
	}
	var lhs []ast.Expr
	switch p := parent.Node().(type) {
	case *ast.ExprStmt:
		c.report(call, res, "%s acquired here is discarded without being released", res.Noun)
		return
	case *ast.AssignStmt, *ast.ValueSpec:
		l, rhs := assignment(p)
		switch {
		case len(rhs) == 1:
			lhs = l
		case len(l) == len(rhs):
			for i, r := range rhs {
				if ast.Unparen(r) == call {
					lhs = l[i : i+1]
				}
			}
		}
	default:
		return // used in place or handed on
	}
	if len(lhs) == 0 {
		return
	}
	f := c.function(fnNode)
	ref, ok := f.where[parent.Node()]
	if !ok {
		return // dead code
	}
	t := &tracker{c: c, f: f}
	root := t.localVar(lhs[0])
	blank := false
	if id, ok := lhs[0].(*ast.Ident); ok && id.Name == "_" {
		// Follow a variable nobody uses: only the error checks can
		// show that there was nothing to release.
		root, blank = types.NewVar(id.Pos(), c.pass.Pkg, "_", c.pass.TypesInfo.TypeOf(call)), true
	}
	if root == nil {
		return // stored outside the function
	}
	t = newTracker(c, res, f, root)
	if len(lhs) > 1 {
		if v := t.localVar(lhs[len(lhs)-1]); v != nil && types.Identical(v.Type(), types.Universe.Lookup("error").Type()) {
			t.errVar = v
		}
	}
	t.guards(cur, fnNode)
	t.parent = c.table.savepointOf(c.pass.TypesInfo, call, t)
	if t.deferredBefore(call.Pos()) {
		return // a deferred closure registered earlier releases it at exit
	}
	if blank {
		if t.errVar == nil || t.search(ref) != nil {
			c.report(call, res, "%s acquired here is discarded without being released", res.Noun)
		}
		return
	}
	if l := t.search(ref); l != nil {
		c.report(call, res, "%s acquired here is not released %s", res.Noun, l.what)
	}
}

// acquired returns the resource that call acquires, or nil: a function
// of the table, an interface method shaped like one, or a function that
// returns what one of those acquired (see acquires).
func (c *checker) acquired(call *ast.CallExpr) *Resource {
	info := c.pass.TypesInfo
	if r := c.table.acquired(info, call); r != nil {
		return r
	}
	fn, ok := typeutil.Callee(info, call).(*types.Func)
	if !ok {
		return nil
	}
	var results *types.Tuple
	switch T := info.TypeOf(call).(type) {
	case nil:
		return nil
	case *types.Tuple:
		results = T
	default:
		results = types.NewTuple(types.NewVar(call.Pos(), nil, "", T))
	}
	if results.Len() == 0 || !c.closeable(results.At(0).Type()) {
		return nil
	}
	if isInterfaceMethod(fn) {
		return acquiredByShape(fn, results)
	}
	return c.acquires(fn)
}

// deferredBefore reports whether a closure deferred before pos releases
// the resource: it reads the variable when the function returns, so it
// releases whatever the variable then holds.
func (t *tracker) deferredBefore(pos token.Pos) bool {
	found := false
	ast.Inspect(t.f.body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncLit:
			return false
		case *ast.DeferStmt:
			if lit, ok := ast.Unparen(n.Call.Fun).(*ast.FuncLit); ok && n.Pos() < pos && t.scan(lit.Body) {
				found = true
			}
			return false
		}
		return !found
	})
	return found
}
