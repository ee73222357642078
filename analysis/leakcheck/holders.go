package leakcheck

import (
	"go/ast"
	"go/token"
	"go/types"
)

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
	return s == nil || s.Kind() != types.FieldVal || t.holders[v] == nil
}
