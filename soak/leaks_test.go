package soak

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/poolguard/poolguard"
)

// The kinds of deliberate leak. Each is made by a function of its own, so
// that the call site the pool reports names it.
const (
	leakDroppedConn  = "dropped_conn"  // acquired, used, dropped without Release
	leakDroppedTx    = "dropped_tx"    // begun on the pool, dropped without Commit or Rollback
	leakRowsInScope  = "rows_in_scope" // With returned with the rows of a query still open
	leakEscapedScope = "escaped_scope" // a With scope's Conn used after the scope returned
)

var leakKinds = []string{leakDroppedConn, leakDroppedTx, leakRowsInScope, leakEscapedScope}

// sites maps each call site of a deliberate leak, as the pool reports it
// ("soak/leaks_test.go:42"), to its kind.
var sites sync.Map

// leakSite registers the line after its call, which must hold the call
// that leaks, as a call site of a leak of kind. The pool reports call
// sites as the file's directory and name.
func leakSite(kind string) {
	_, file, line, _ := runtime.Caller(1)
	sites.Store(fmt.Sprintf("%s:%d", shortFile(file), line+1), kind)
}

// shortFile names a file as a LeakEvent's call site does: its directory
// and its name.
func shortFile(path string) string {
	return filepath.Base(filepath.Dir(path)) + "/" + filepath.Base(path)
}

// siteKind returns the kind of leak made at a call site, or "".
func siteKind(site string) string {
	k, _ := sites.Load(site)
	s, _ := k.(string)
	return s
}

// leak is one deliberate leak: the backend of its connection and when it
// began (before its acquire). A leaked connection is never reused, so the
// backend identifies the leak among proven leaks and revocations from
// that moment on.
type leak struct {
	kind  string
	pid   uint32
	began time.Time
}

// dropConn acquires a connection on pt, runs a statement and drops the
// Conn without releasing it: the garbage collector proves the leak,
// unless the chaos goroutine, to which it is offered, revokes it first.
func dropConn(ctx context.Context, pt *poolguard.Partition, rec *recorder, o *offered) error {
	began := time.Now()
	leakSite(leakDroppedConn)
	c, err := pt.Acquire(ctx) //leakcheck:ignore dropped on purpose: the soak checks that the pool proves the leak
	if err != nil {
		return err
	}
	pid := c.PID()
	rec.leaked(leak{kind: leakDroppedConn, pid: pid, began: began})
	if _, err = c.Exec(ctx, "SELECT 1"); err != nil {
		return err
	}
	o.drop(pid) // past its acquire: a call has entered the lease
	return nil
}

// dropTx begins a transaction on the pool, writes a ledger row in it and
// drops it: the write must never commit, and the lease is proven leaked
// with the call site of Begin.
func dropTx(ctx context.Context, p *poolguard.Pool, l *ledger, rec *recorder) error {
	began := time.Now()
	leakSite(leakDroppedTx)
	tx, err := p.Begin(ctx) //leakcheck:ignore dropped on purpose: the soak checks that the pool proves the leak
	if err != nil {
		return err
	}
	// The transaction gives no access to its backend's PID without
	// exposing (and so pinning) the connection: ask the server.
	var pid uint32
	if err := tx.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	rec.leaked(leak{kind: leakDroppedTx, pid: pid, began: began})
	w := l.newWrite("dropped_tx")
	l.settle(w, failed) // never committed, whatever happens next
	return w.apply(ctx, tx)
}

// rowsInScope returns from a With scope with the rows of a query still
// open: the lease is taken back as escaped, its connection closed.
func rowsInScope(ctx context.Context, pt *poolguard.Partition, rec *recorder) error {
	began := time.Now()
	leakSite(leakRowsInScope)
	return pt.With(ctx, func(c *poolguard.Conn) error {
		rows, err := c.Query(ctx, "SELECT generate_series(1, 100)") //leakcheck:ignore left open on purpose: the soak checks that the pool takes the lease back
		if err != nil {
			return err
		}
		rec.leaked(leak{kind: leakRowsInScope, pid: c.PID(), began: began})
		_ = rows
		return nil
	})
}

// escapeScope keeps the Conn of a With scope and uses it after the scope
// returned: the use fails and is reported as an escape, with its own
// call site.
func escapeScope(ctx context.Context, t *testing.T, pt *poolguard.Partition, rec *recorder) error {
	began := time.Now()
	var escaped *poolguard.Conn
	var pid uint32
	err := pt.With(ctx, func(c *poolguard.Conn) error {
		escaped, pid = c, c.PID()
		return nil
	})
	if err != nil {
		return err
	}
	// The chaos goroutine never revokes a With scope's lease, so the
	// use must find the lease released.
	leakSite(leakEscapedScope)
	if _, err := escaped.Exec(ctx, "SELECT 1"); !errors.Is(err, poolguard.ErrReleased) {
		t.Errorf("a Conn used after its With scope returned: %v, want ErrReleased", err)
		return nil
	}
	rec.leaked(leak{kind: leakEscapedScope, pid: pid, began: began})
	return nil
}
