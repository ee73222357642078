package leakcheck

import (
	"go/ast"
	"go/types"
	"maps"
	"strings"

	"golang.org/x/tools/go/types/typeutil"
)

// A table is the set of resources the analyzer knows: the built-in ones
// and those of the -resources file.
type table struct {
	acquire   map[string]*Resource // acquire function full name to resource
	releasers map[string]bool      // functions that release their argument
	names     map[string]bool      // every release method or path
	owners    map[string]bool      // every owning field
	user      []*UserResource
}

func newTable(user []*UserResource) *table {
	t := &table{
		acquire:   make(map[string]*Resource),
		releasers: make(map[string]bool),
		names:     make(map[string]bool),
		owners:    make(map[string]bool),
		user:      user,
	}
	for name, r := range builtins {
		t.add(name, r)
	}
	maps.Copy(t.releasers, releasers)
	for _, u := range user {
		if u.Releaser {
			t.releasers[u.Acquire] = true
		} else {
			t.add(u.Acquire, u.Resource)
		}
	}
	return t
}

func (t *table) add(name string, r *Resource) {
	t.acquire[name] = r
	for _, rel := range r.Release {
		t.names[rel] = true
	}
	for _, f := range r.ownerFields() {
		t.owners[f] = true
	}
}

// acquired returns the resource that call acquires, or nil.
func (t *table) acquired(info *types.Info, call *ast.CallExpr) *Resource {
	fn, ok := typeutil.Callee(info, call).(*types.Func)
	if !ok {
		return nil
	}
	return t.acquire[fn.Origin().FullName()]
}

// validate checks the user's resources that belong to pkg or to a
// package it imports: each must name a function that exists and
// release methods its first result has.
func (t *table) validate(pkg *types.Package) error {
	if len(t.user) == 0 {
		return nil
	}
	pkgs := map[string]*types.Package{}
	var walk func(p *types.Package)
	walk = func(p *types.Package) {
		if pkgs[p.Path()] != nil {
			return
		}
		pkgs[p.Path()] = p
		for _, q := range p.Imports() {
			walk(q)
		}
	}
	walk(pkg)
	for _, u := range t.user {
		if p := pkgs[u.Pkg]; p != nil {
			if err := u.Check(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// splitFullName splits "(*pkg.T).M", "(pkg.T).M" or "pkg.F" into its
// package path, type name (empty for a function) and function name.
func splitFullName(s string) (pkg, typ, name string, ok bool) {
	if rest, found := strings.CutPrefix(s, "("); found {
		recv, method, found := strings.Cut(rest, ").")
		if !found {
			return "", "", "", false
		}
		recv = strings.TrimPrefix(recv, "*")
		i := strings.LastIndexByte(recv, '.')
		if i <= 0 {
			return "", "", "", false
		}
		return recv[:i], recv[i+1:], method, true
	}
	i := strings.LastIndexByte(s, '.')
	if i <= 0 || strings.LastIndexByte(s, '/') > i {
		return "", "", "", false
	}
	return s[:i], "", s[i+1:], true
}

// savepoints are the acquire functions that begin a savepoint inside a
// transaction: pgx ends savepoints when their transaction ends.
var savepoints = map[string]bool{
	"(" + pgxPath + ".Tx).Begin":      true,
	"(*" + pgxpoolPath + ".Tx).Begin": true,
}

// savepointOf returns the transaction variable a savepoint is begun on.
func (t *table) savepointOf(info *types.Info, call *ast.CallExpr, tr *tracker) *types.Var {
	fn, ok := typeutil.Callee(info, call).(*types.Func)
	sel, isSel := ast.Unparen(call.Fun).(*ast.SelectorExpr)
	if !ok || !isSel || !savepoints[fn.Origin().FullName()] {
		return nil
	}
	return tr.varOf(sel.X)
}

// libraries are the packages the table describes method by method:
// their methods acquire only as the table says.
var libraries = map[string]bool{
	pgxPath:        true,
	pgxpoolPath:    true,
	poolguardPath:  true,
	"database/sql": true,
	"net/http":     true,
	"os":           true,
}

// noErrorAcquires are the acquire methods of the table that return no
// error: their row or batch reports its error later.
var noErrorAcquires = map[string]bool{"QueryRow": true, "QueryRowContext": true, "SendBatch": true}

// acquireNames are the names of the table's acquire functions.
var acquireNames = func() map[string]bool {
	m := make(map[string]bool)
	for name := range builtins {
		_, _, fn, _ := splitFullName(name)
		m[fn] = true
	}
	return m
}()

// resourceOf returns the resource a value of type T is: one of byType,
// or a struct or interface that embeds one and so has its release
// methods, as sqlx.Rows embeds *sql.Rows.
func resourceOf(T types.Type) *Resource { return embeddedResource(T, 3) }

func embeddedResource(T types.Type, depth int) *Resource {
	if r := byType[types.TypeString(T, nil)]; r != nil || depth == 0 {
		return r
	}
	if p, ok := types.Unalias(T).(*types.Pointer); ok {
		T = p.Elem()
	}
	switch u := types.Unalias(T).Underlying().(type) {
	case *types.Struct:
		for f := range u.Fields() {
			if f.Embedded() {
				if r := embeddedResource(f.Type(), depth-1); r != nil {
					return r
				}
			}
		}
	case *types.Interface:
		for E := range u.EmbeddedTypes() {
			if r := embeddedResource(E, depth-1); r != nil {
				return r
			}
		}
	}
	return nil
}

// acquiredByShape returns the resource that a call of the interface
// method fn, with the given results, acquires. An interface method has
// no body to summarize, so its shape decides, as it does in the table:
// the acquire methods take arguments (a context, a query) or are named
// as the table's are, and report failure with an error, or are named as
// the table's error-free ones (QueryRow, SendBatch). A getter such as
// Conn() *pgxpool.Conn lends what its receiver holds, and is not one.
func acquiredByShape(fn *types.Func, results *types.Tuple) *Resource {
	if !isInterfaceMethod(fn) || fn.Pkg() == nil || libraries[fn.Pkg().Path()] || results.Len() == 0 {
		return nil
	}
	r := resourceOf(results.At(0).Type())
	if r == nil {
		return nil
	}
	name := fn.Name()
	withErr := results.Len() > 1 && types.Identical(results.At(results.Len()-1).Type(), errorType)
	if (fn.Signature().Params().Len() > 0 || acquireNames[name]) && (withErr || noErrorAcquires[name]) {
		return r
	}
	return nil
}

var errorType = types.Universe.Lookup("error").Type()
