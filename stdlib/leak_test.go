package stdlib_test

import (
	"context"
	"database/sql"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/internal/wait"
	"github.com/poolguard/poolguard/stdlib"
)

var errValidation = errors.New("validation failed")

// firstItem is the outage's bug on database/sql: it returns early on a
// validation error and never closes its rows. It returns the call site of
// its query.
func firstItem(ctx context.Context, db *sql.DB) (site string, err error) {
	//leakcheck:ignore the bug under test
	rows, err := db.QueryContext(ctx, "SELECT n FROM generate_series(1, 10) n")
	site = lineAbove()
	if err != nil {
		return site, err
	}
	var n int
	if !rows.Next() {
		return site, rows.Close()
	}
	if err := rows.Scan(&n); err != nil {
		return site, err
	}
	if n == 1 {
		return site, errValidation // the rows stay open
	}
	return site, rows.Close()
}

// How sql.Rows left open surfaces. database/sql keeps a reference to each
// connection it has open, so while the DB is open the garbage collector
// cannot prove the leak: the lease is held, busy with its open rows (so it
// is not a suspect, which is an idle lease), until MaxHold revokes it or
// the pool's Close does. Once the DB is closed and the leaked rows are
// unreachable along with it, the collector proves the leak. Rows read with
// a context that can end are closed by database/sql when it ends, which
// gives the lease back: no leak.
func TestLeakedRows(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		limit time.Duration // the partition's MaxHold
		ownDB bool          // leak through a DB that is closed and dropped
		end   func(*poolguard.Pool)
		want  poolguard.LeakKind // 0: no leak at all
		// cancel, when set, is the context the rows are leaked with: when
		// it ends, database/sql closes the rows itself.
		cancel bool
	}{
		{name: "MaxHold", limit: time.Second, want: poolguard.LeakMaxHold},
		{name: "pool Close", end: (*poolguard.Pool).Close, want: poolguard.LeakOpenAtClose},
		{name: "DB closed and dropped", ownDB: true, want: poolguard.LeakUnreachable},
		{name: "context ends", cancel: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool, db, ev := newDB(t, setup{expectLeaks: true, configure: func(c *poolguard.Config) {
				c.SuspectAfter = 50 * time.Millisecond
				c.MaxHold = tc.limit
			}})
			var site string
			var err error
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if !tc.cancel {
				ctx = context.Background()
			}
			if tc.ownDB {
				site, err = leakThroughOwnDB(pool)
			} else {
				site, err = firstItem(ctx, db)
			}
			if !errors.Is(err, errValidation) {
				t.Fatalf("firstItem: %v, want the validation error", err)
			}
			if !tc.ownDB {
				runtime.GC()
				runtime.GC()
				ls := pool.Leases()
				if len(ls) != 1 || ls[0].State != poolguard.LeaseActive || ls[0].CallSite != site {
					t.Fatalf("leases after the leak: %+v, want one active, acquired at %s", ls, site)
				}
			}
			if tc.end != nil {
				tc.end(pool)
			}
			if tc.cancel {
				cancel()
				released(t, pool)
				for _, e := range ev.Events() {
					if !suspicion(e.Kind) {
						t.Errorf("%s event at %s, want none but suspicion", e.Kind, e.CallSite)
					}
				}
				return
			}
			wait.Until(t, "the leak is reported as "+tc.want.String(), func() bool {
				if tc.ownDB {
					runtime.GC()
				}
				return len(ev.Of(tc.want)) == 1
			})
			got := ev.Of(tc.want)[0]
			if got.CallSite != site || !strings.HasSuffix(got.Function, ".firstItem") {
				t.Errorf("%s reported at %s in %s, want %s in firstItem", tc.want, got.CallSite, got.Function, site)
			}
			for _, ev := range ev.Events() {
				// Rows left open are suspected before they are proven leaked.
				if ev.Kind != tc.want && !suspicion(ev.Kind) {
					t.Errorf("unexpected %s event at %s", ev.Kind, ev.CallSite)
				}
			}
			released(t, pool)
			if tc.end == nil && !tc.ownDB {
				// The pool took the connection back, but database/sql still
				// counts it as in use: only closing the rows would tell it.
				if n := db.Stats().InUse; n != 1 {
					t.Errorf("database/sql counts %d connections in use, want the leaked one", n)
				}
				var one int
				if err := db.QueryRowContext(testCtx(t), "SELECT 1").Scan(&one); err != nil {
					t.Errorf("a query after the revocation: %v", err)
				}
			}
		})
	}
}

// leakThroughOwnDB leaks rows through a DB of its own, which it closes: the
// DB and the rows are then unreachable together.
func leakThroughOwnDB(pool *poolguard.Pool) (string, error) {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	// A context that never ends: database/sql watches one that can end
	// from a goroutine, which would keep the rows reachable.
	return firstItem(context.Background(), db)
}

// A transaction or sql.Conn left open between statements holds an idle
// lease: a suspect, with the call site that began it, unlike open rows.
func TestIdleLeaseIsSuspect(t *testing.T) {
	t.Parallel()
	_, db, ev := newDB(t, setup{configure: func(c *poolguard.Config) { c.SuspectAfter = 50 * time.Millisecond }})
	tx, err := db.BeginTx(testCtx(t), nil)
	site := lineAbove()
	if err != nil {
		t.Fatal(err)
	}
	wait.Until(t, "the transaction is suspected", func() bool { return len(ev.Of(poolguard.LeakSuspected)) == 1 })
	if got := ev.Of(poolguard.LeakSuspected)[0]; got.CallSite != site {
		t.Errorf("suspect acquired at %s, want %s", got.CallSite, site)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, "the suspect is noted as returned", func() bool { return len(ev.Of(poolguard.LeakSuspectReturned)) == 1 })
}

// suspicion tells whether kind reports a suspect, which rows left open
// become after SuspectAfter, before any proof.
func suspicion(kind poolguard.LeakKind) bool {
	return kind == poolguard.LeakSuspected || kind == poolguard.LeakSuspectReturned
}
