package leakcheck

import (
	"go/ast"
	"go/constant"
	"go/types"

	"golang.org/x/tools/go/types/typeutil"
)

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
			return t.transfer()
		case t.c.table.releasers[fn.Origin().FullName()]:
			return t.transfer()
		case isInterfaceMethod(fn):
			return t.transfer()
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
		if u.Index != i || u.Partial && t.res != nil && !t.holdsFor(u, call) {
			continue
		}
		if t.res == nil {
			t.taken = t.taken || u.Taken
			for _, m := range u.Methods {
				t.used[prefix+m] = true
			}
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
