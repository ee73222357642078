package leakcheck

import (
	"fmt"
	"go/ast"
	"go/types"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/poolguard/poolguard/analysis/leakcheck/internal/resources"
	"golang.org/x/tools/go/types/typeutil"
)

// A resource describes what an acquire function hands out and how the
// caller gives it back.
type resource struct {
	// Noun names the resource in diagnostics ("connection", "rows").
	Noun string
	// Release lists the methods that give the resource back. An entry
	// may be a field path ending in a method, such as "Body.Close".
	Release []string
	// NextCloses is set when Next returning false releases the resource.
	NextCloses bool
	// ScanErrCloses is set when a failed Scan releases the resource.
	ScanErrCloses bool
}

// releases reports whether name (a method or field path) releases r.
func (r *resource) releases(name string) bool {
	return slices.Contains(r.Release, name) || name == "Next" && r.NextCloses
}

// ownerFields returns the fields through which r is released, e.g.
// "Body" for an http.Response: handing one over hands over r.
func (r *resource) ownerFields() []string {
	var fields []string
	for _, rel := range r.Release {
		if i := strings.LastIndexByte(rel, '.'); i > 0 {
			fields = append(fields, rel[:i])
		}
	}
	return fields
}

const (
	pgxPath       = "github.com/jackc/pgx/v5"
	pgxpoolPath   = "github.com/jackc/pgx/v5/pgxpool"
	poolguardPath = "github.com/poolguard/poolguard"
)

// The built-in resources. Each auto-release rule cites its source.
var (
	// pgxpool: "Hijack assumes ownership of the connection from the pool.
	// Caller is responsible for closing the connection" (Conn.Hijack
	// doc); poolguard's Conn.Hijack does the same.
	connection = &resource{Noun: "connection", Release: []string{"Release", "Hijack"}}
	sqlConn    = &resource{Noun: "connection", Release: []string{"Close"}}
	// pgx: Rows.Next "automatically closes rows upon returning false";
	// Rows.Scan: "Rows is automatically closed upon error"
	// (pgx/v5 rows.go, Rows interface; baseRows.Scan calls fatal, which
	// calls Close).
	pgxRows = &resource{Noun: "rows", Release: []string{"Close"}, NextCloses: true, ScanErrCloses: true}
	// database/sql: "If Next is called and returns false and there are
	// no further result sets, the Rows are closed automatically"
	// (Rows.Close doc). A failed Scan does not close them.
	sqlRows = &resource{Noun: "rows", Release: []string{"Close"}, NextCloses: true}
	// QueryRow holds its rows until Scan, which closes them (pgx conn.go
	// QueryRow doc and connRow.Scan; database/sql Row.Scan). Without a
	// Scan the connection stays busy.
	row    = &resource{Noun: "row", Release: []string{"Scan"}}
	tx     = &resource{Noun: "transaction", Release: []string{"Commit", "Rollback"}}
	batch  = &resource{Noun: "batch results", Release: []string{"Close"}}
	stmt   = &resource{Noun: "statement", Release: []string{"Close"}}
	body   = &resource{Noun: "response body", Release: []string{"Body.Close"}}
	osFile = &resource{Noun: "file", Release: []string{"Close"}}
)

// builtins maps an acquire function's full name (types.Func.FullName)
// to the resource it returns as its first result.
//
// Statements prepared on a database/sql Tx are left out on purpose:
// "The returned statement operates within the transaction and will be
// closed when the transaction has been committed or rolled back"
// (Tx.PrepareContext doc).
var builtins = map[string]*resource{}

// releasers are functions that release or keep the resource passed to
// them.
// pgx: CollectRows, CollectOneRow, CollectExactlyOneRow and AppendRows
// "close the rows automatically on return"; ForEachRow: "Rows will be
// closed when ForEachRow returns" (pgx/v5 rows.go).
//
// The others keep the file they are given for the life of the process,
// the idiom for profiles, traces and logs in a main function.
var releasers = map[string]bool{
	pgxPath + ".CollectRows":          true,
	pgxPath + ".CollectOneRow":        true,
	pgxPath + ".CollectExactlyOneRow": true,
	pgxPath + ".AppendRows":           true,
	pgxPath + ".ForEachRow":           true,

	"runtime/pprof.StartCPUProfile": true,
	"runtime/trace.Start":           true,
	"log.SetOutput":                 true,
	"(*log.Logger).SetOutput":       true,
	"log.New":                       true,
}

// byType maps a resource type, as types.TypeString prints it, to the
// resource a call returning it acquires when the callee is an interface
// method (see table.acquiredByShape).
var byType = map[string]*resource{
	"*database/sql.Rows":          sqlRows,
	"*database/sql.Row":           row,
	"*database/sql.Tx":            tx,
	"*database/sql.Conn":          sqlConn,
	pgxPath + ".Rows":             pgxRows,
	pgxPath + ".Row":              row,
	pgxPath + ".Tx":               tx,
	pgxPath + ".BatchResults":     batch,
	"*" + pgxpoolPath + ".Conn":   connection,
	"*" + pgxpoolPath + ".Tx":     tx,
	"*" + poolguardPath + ".Conn": connection,
	"*os.File":                    osFile,
	"*net/http.Response":          body,
}

func init() {
	add := func(r *resource, recvs []string, names ...string) {
		for _, recv := range recvs {
			for _, name := range names {
				builtins[recv+name] = r
			}
		}
	}
	ptr := func(pkg string, types ...string) []string {
		var out []string
		for _, t := range types {
			out = append(out, "(*"+pkg+"."+t+").")
		}
		return out
	}
	pgxTx := []string{"(" + pgxPath + ".Tx)."}

	add(connection, ptr(poolguardPath, "Pool", "Partition"), "Acquire")
	add(tx, ptr(poolguardPath, "Conn"), "Begin")
	add(pgxRows, ptr(poolguardPath, "Conn", "Pool", "Partition"), "Query")
	add(batch, ptr(poolguardPath, "Conn"), "SendBatch")

	add(connection, ptr(pgxpoolPath, "Pool"), "Acquire")
	pgxRecvs := append(ptr(pgxPath, "Conn"), append(pgxTx, ptr(pgxpoolPath, "Pool", "Conn", "Tx")...)...)
	add(pgxRows, pgxRecvs, "Query")
	add(row, pgxRecvs, "QueryRow")
	add(batch, pgxRecvs, "SendBatch")
	add(tx, append(ptr(pgxPath, "Conn"), ptr(pgxpoolPath, "Pool", "Conn")...), "Begin", "BeginTx")
	add(tx, append(pgxTx, ptr(pgxpoolPath, "Tx")...), "Begin")

	const sql = "database/sql"
	add(sqlRows, ptr(sql, "DB", "Tx", "Stmt"), "Query", "QueryContext")
	add(sqlRows, ptr(sql, "Conn"), "QueryContext")
	add(row, ptr(sql, "DB", "Tx", "Stmt"), "QueryRow", "QueryRowContext")
	add(row, ptr(sql, "Conn"), "QueryRowContext")
	add(tx, ptr(sql, "DB"), "Begin", "BeginTx")
	add(tx, ptr(sql, "Conn"), "BeginTx")
	add(sqlConn, ptr(sql, "DB"), "Conn")
	add(stmt, ptr(sql, "DB"), "Prepare", "PrepareContext")
	add(stmt, ptr(sql, "Conn"), "PrepareContext")

	add(body, []string{"net/http."}, "Get", "Post", "PostForm", "Head")
	add(body, ptr("net/http", "Client"), "Do", "Get", "Post", "PostForm", "Head")
	add(osFile, []string{"os."}, "Open", "Create", "OpenFile", "CreateTemp")
}

// A table is the set of resources the analyzer knows: the built-in ones
// and those of the -resources file.
type table struct {
	acquire   map[string]*resource // acquire function full name to resource
	releasers map[string]bool      // functions that release their argument
	names     map[string]bool      // every release method or path
	owners    map[string]bool      // every owning field
	user      []*resources.Line
	mu        sync.Mutex           // guards types, filled in by validate
	types     map[string]*resource // the user's resource types
	typeLine  map[string]int       // the line each was taken from
}

func newTable(user []*resources.Line) *table {
	t := &table{
		acquire:   make(map[string]*resource),
		releasers: make(map[string]bool),
		types:     make(map[string]*resource),
		typeLine:  make(map[string]int),
		names:     make(map[string]bool),
		owners:    make(map[string]bool),
		user:      user,
	}
	for name, r := range builtins {
		t.add(name, r)
	}
	maps.Copy(t.releasers, releasers)
	for _, l := range user {
		if l.Releaser {
			t.releasers[l.Func] = true
		} else {
			t.add(l.Func, &resource{Noun: l.Noun, Release: l.Release})
		}
	}
	return t
}

func (t *table) add(name string, r *resource) {
	t.acquire[name] = r
	for _, rel := range r.Release {
		t.names[rel] = true
	}
	for _, f := range r.ownerFields() {
		t.owners[f] = true
	}
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
		p := pkgs[u.Pkg]
		if p == nil {
			continue
		}
		if err := u.Check(p); err != nil {
			return err
		}
		if fn, _ := u.Lookup(p); !u.Releaser && fn != nil {
			// Interface methods that return it acquire it too, as
			// the file's first line for the type says.
			key := types.TypeString(fn.Signature().Results().At(0).Type(), nil)
			t.mu.Lock()
			if t.types[key] == nil || t.typeLine[key] > u.Line {
				t.types[key], t.typeLine[key] = t.acquire[u.Func], u.Line
			}
			t.mu.Unlock()
		}
	}
	return nil
}

// resourceOf returns the resource a value of type T is: one of byType
// or of the user's acquire functions' results, or a struct or interface
// that embeds one and so has its release methods, as sqlx.Rows embeds
// *sql.Rows.
func (t *table) resourceOf(T types.Type) *resource { return t.embeddedResource(T, 3) }

func (t *table) embeddedResource(T types.Type, depth int) *resource {
	key := types.TypeString(T, nil)
	if r := byType[key]; r != nil {
		return r
	}
	if len(t.user) > 0 {
		t.mu.Lock()
		r := t.types[key]
		t.mu.Unlock()
		if r != nil {
			return r
		}
	}
	if depth == 0 {
		return nil
	}
	if p, ok := types.Unalias(T).(*types.Pointer); ok {
		T = p.Elem()
	}
	switch u := types.Unalias(T).Underlying().(type) {
	case *types.Struct:
		for f := range u.Fields() {
			if f.Embedded() {
				if r := t.embeddedResource(f.Type(), depth-1); r != nil {
					return r
				}
			}
		}
	case *types.Interface:
		for E := range u.EmbeddedTypes() {
			if r := t.embeddedResource(E, depth-1); r != nil {
				return r
			}
		}
	}
	return nil
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
// their named interfaces' methods acquire only as the table says
// (pgx.BatchResults.Query reads from a batch; it acquires nothing).
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
		_, _, fn, _ := resources.SplitFullName(name)
		m[fn] = true
	}
	return m
}()

// acquiredByShape returns the resource that a call of the interface
// method fn, with the given results, acquires. An interface method has
// no body to summarize, so its shape decides, as it does in the table:
// the acquire methods take arguments (a context, a query) or are named
// as the table's are, and report failure with an error, or are named as
// the table's error-free ones (QueryRow, SendBatch). A getter such as
// Conn() *pgxpool.Conn lends what its receiver holds, and is not one.
func (t *table) acquiredByShape(fn *types.Func, results *types.Tuple) *resource {
	if !isInterfaceMethod(fn) || fn.Pkg() == nil || results.Len() == 0 {
		return nil
	}
	if _, named := types.Unalias(fn.Signature().Recv().Type()).(*types.Named); named && libraries[fn.Pkg().Path()] {
		return nil
	}
	r := t.resourceOf(results.At(0).Type())
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

// panics reports whether call raises a panic: the builtin, or
// log.Panic, Panicf or Panicln. The graphs of the ctrlflow pass end a
// path at every call that never returns, but do not tell a panic, which
// leaks what the function holds, from the end of the process or of the
// goroutine, which does not; so panics are listed here.
func (c *checker) panics(call *ast.CallExpr) bool {
	switch fn := typeutil.Callee(c.pass.TypesInfo, call).(type) {
	case *types.Builtin:
		return fn.Name() == "panic"
	case *types.Func:
		return fn.Pkg() != nil && fn.Pkg().Path() == "log" && strings.HasPrefix(fn.Name(), "Panic")
	}
	return false
}

// endsTest reports whether call is one of the methods of testing.TB
// that end the test (Fatal, Skip). ctrlflow knows that those of
// *testing.T and *testing.B never return, but a call through the
// interface could reach any implementation, so it cannot say.
func (c *checker) endsTest(call *ast.CallExpr) bool {
	fn, ok := typeutil.Callee(c.pass.TypesInfo, call).(*types.Func)
	if !ok || fn.Pkg() == nil || fn.Pkg().Path() != "testing" || !isInterfaceMethod(fn) {
		return false
	}
	switch fn.Name() {
	case "Fatal", "Fatalf", "FailNow", "Skip", "Skipf", "SkipNow":
		return true
	}
	return false
}

// resourcesFile is the value of the -resources flag.
var resourcesFile string

var tables struct {
	sync.Mutex
	m map[string]*table
}

// loadTable returns the table for a -resources file ("" for none),
// reading each file once.
func loadTable(path string) (*table, error) {
	tables.Lock()
	defer tables.Unlock()
	if t, ok := tables.m[path]; ok {
		return t, nil
	}
	var user []*resources.Line
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("leakcheck: %v", err)
		}
		if user, err = resources.Parse(path, string(data)); err != nil {
			return nil, err
		}
	}
	if tables.m == nil {
		tables.m = make(map[string]*table)
	}
	t := newTable(user)
	tables.m[path] = t
	return t, nil
}
