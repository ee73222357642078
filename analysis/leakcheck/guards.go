package leakcheck

import (
	"go/ast"
	"go/token"
	"go/types"

	"golang.org/x/tools/go/ast/inspector"
)

// guards records the boolean variables whose value is known wherever
// the resource is held: an acquisition inside "if need { ... }" holds
// the resource only where need is true, so a later "if need" cannot
// take its false branch. Only variables that are never assigned after
// their declaration qualify.
func (t *tracker) guards(cur inspector.Cursor, fnNode ast.Node) {
	child := cur.Node()
	for enc := range cur.Enclosing() {
		n := enc.Node()
		if n == fnNode {
			return
		}
		if ifs, ok := n.(*ast.IfStmt); ok && child != ifs.Init && child != ifs.Cond {
			if v, val := t.boolVar(ifs.Cond); v != nil {
				if t.guard == nil {
					t.guard = make(map[*types.Var]bool)
				}
				t.guard[v] = val == (child == ifs.Body)
			}
		}
		child = n
	}
}

// boolVar returns the variable of a condition "v" or "!v", and whether
// the condition is v itself, if v is a bool that is never reassigned.
func (t *tracker) boolVar(e ast.Expr) (*types.Var, bool) {
	val := true
	if u, ok := ast.Unparen(e).(*ast.UnaryExpr); ok && u.Op == token.NOT {
		e, val = u.X, false
	}
	v := t.varOf(e)
	if v == nil || !t.f.contains(v) || !types.Identical(v.Type().Underlying(), types.Typ[types.Bool]) || t.reassigned(v) {
		return nil, false
	}
	return v, val
}

// reassigned reports whether v is assigned, or its address taken,
// anywhere in the function after its declaration.
func (t *tracker) reassigned(v *types.Var) bool {
	found := false
	ast.Inspect(t.f.body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.AssignStmt:
			if n.Tok != token.DEFINE && t.assigns(n, v) {
				found = true
			}
		case *ast.UnaryExpr:
			if n.Op == token.AND && t.varOf(n.X) == v {
				found = true
			}
		}
		return !found
	})
	return found
}
