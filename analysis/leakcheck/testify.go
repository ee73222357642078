package leakcheck

import (
	"go/ast"
	"go/types"
	"strings"

	"golang.org/x/tools/go/types/typeutil"
)

const requirePath = "github.com/stretchr/testify/require"

// expectsFailure reports whether n is a testify require assertion that
// holds only where there is nothing to release: the acquisition failed,
// as in require.Error(t, err) or require.Nil(t, conn), or the library
// released it, as in require.False(t, rows.Next()).
func (t *tracker) expectsFailure(n ast.Node, st state) bool {
	s, ok := n.(*ast.ExprStmt)
	if !ok {
		return false
	}
	call, ok := ast.Unparen(s.X).(*ast.CallExpr)
	if !ok {
		return false
	}
	fn, ok := typeutil.Callee(t.c.pass.TypesInfo, call).(*types.Func)
	if !ok || fn.Pkg() == nil || fn.Pkg().Path() != requirePath {
		return false
	}
	name := strings.TrimSuffix(fn.Name(), "f")
	for _, arg := range call.Args {
		switch name {
		case "Error", "ErrorIs", "ErrorAs", "ErrorContains", "EqualError":
			if st.errLive && t.isObj(arg, t.errVar) {
				return true
			}
		case "NoError":
			if st.okIfNil != nil && t.isObj(arg, st.okIfNil) {
				return true
			}
		case "Nil", "Zero", "Empty":
			if t.isVar(arg) {
				return true
			}
		case "True", "False":
			if t.cond(arg, name == "True", st) {
				return true
			}
		}
	}
	return false
}
