package leakcheck

import (
	"slices"
	"strings"
)

// A Resource describes what an acquire function hands out and how the
// caller gives it back.
type Resource struct {
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
func (r *Resource) releases(name string) bool {
	return slices.Contains(r.Release, name) || name == "Next" && r.NextCloses
}

// ownerFields returns the fields through which r is released, e.g.
// "Body" for an http.Response: handing one over hands over r.
func (r *Resource) ownerFields() []string {
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
	connection = &Resource{Noun: "connection", Release: []string{"Release"}}
	// pgxpool: "Hijack assumes ownership of the connection from the pool.
	// Caller is responsible for closing the connection" (Conn.Hijack doc).
	pgxpoolConn = &Resource{Noun: "connection", Release: []string{"Release", "Hijack"}}
	sqlConn     = &Resource{Noun: "connection", Release: []string{"Close"}}
	// pgx: Rows.Next "automatically closes rows upon returning false";
	// Rows.Scan: "Rows is automatically closed upon error"
	// (pgx/v5 rows.go, Rows interface; baseRows.Scan calls fatal, which
	// calls Close).
	pgxRows = &Resource{Noun: "rows", Release: []string{"Close"}, NextCloses: true, ScanErrCloses: true}
	// database/sql: "If Next is called and returns false and there are
	// no further result sets, the Rows are closed automatically"
	// (Rows.Close doc). A failed Scan does not close them.
	sqlRows = &Resource{Noun: "rows", Release: []string{"Close"}, NextCloses: true}
	// QueryRow holds its rows until Scan, which closes them (pgx conn.go
	// QueryRow doc and connRow.Scan; database/sql Row.Scan). Without a
	// Scan the connection stays busy.
	row    = &Resource{Noun: "row", Release: []string{"Scan"}}
	tx     = &Resource{Noun: "transaction", Release: []string{"Commit", "Rollback"}}
	batch  = &Resource{Noun: "batch results", Release: []string{"Close"}}
	stmt   = &Resource{Noun: "statement", Release: []string{"Close"}}
	body   = &Resource{Noun: "response body", Release: []string{"Body.Close"}}
	osFile = &Resource{Noun: "file", Release: []string{"Close"}}
)

// builtins maps an acquire function's full name (types.Func.FullName)
// to the resource it returns as its first result.
//
// Statements prepared on a database/sql Tx are left out on purpose:
// "The returned statement operates within the transaction and will be
// closed when the transaction has been committed or rolled back"
// (Tx.PrepareContext doc).
var builtins = map[string]*Resource{}

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
var byType = map[string]*Resource{
	"*database/sql.Rows":          sqlRows,
	"*database/sql.Row":           row,
	"*database/sql.Tx":            tx,
	"*database/sql.Conn":          sqlConn,
	pgxPath + ".Rows":             pgxRows,
	pgxPath + ".Row":              row,
	pgxPath + ".Tx":               tx,
	pgxPath + ".BatchResults":     batch,
	"*" + pgxpoolPath + ".Conn":   pgxpoolConn,
	"*" + pgxpoolPath + ".Tx":     tx,
	"*" + poolguardPath + ".Conn": connection,
	"*os.File":                    osFile,
	"*net/http.Response":          body,
}

func init() {
	add := func(r *Resource, recvs []string, names ...string) {
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

	add(pgxpoolConn, ptr(pgxpoolPath, "Pool"), "Acquire")
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
