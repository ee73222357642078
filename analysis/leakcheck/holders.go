package leakcheck

import (
	"go/ast"
	"go/token"
	"go/types"
	"maps"
	"slices"
	"strings"
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
	t := newTracker(c, nil, c.function(decl), types.NewVar(token.NoPos, nil, "", nil))
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
