package poolguard_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/poolguard/poolguard"
)

// DBTX is the interface sqlc generates for its queries, with :copyfrom and
// :batch queries enabled.
type DBTX interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
	Query(context.Context, string, ...any) (pgx.Rows, error)
	QueryRow(context.Context, string, ...any) pgx.Row
	CopyFrom(ctx context.Context, tableName pgx.Identifier, columnNames []string, rowSrc pgx.CopyFromSource) (int64, error)
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
}

// Code written for pgxpool and sqlc compiles against each of poolguard's
// handles.
var (
	_ DBTX = (*poolguard.Pool)(nil)
	_ DBTX = (*poolguard.Partition)(nil)
	_ DBTX = (*poolguard.Conn)(nil)
	_ DBTX = pgx.Tx(nil)

	_ interface {
		Begin(context.Context) (pgx.Tx, error)
	} = (*poolguard.Pool)(nil)
	_ interface {
		BeginTx(context.Context, pgx.TxOptions) (pgx.Tx, error)
	} = (*poolguard.Partition)(nil)
	_ interface {
		Begin(context.Context) (pgx.Tx, error)
		BeginTx(context.Context, pgx.TxOptions) (pgx.Tx, error)
	} = (*poolguard.Conn)(nil)
	_ interface{ Ping(context.Context) error } = (*poolguard.Pool)(nil)
	_ interface{ Ping(context.Context) error } = (*poolguard.Partition)(nil)
)

// handle is one of the four ways to run statements, in a state.
type handle struct {
	db    DBTX
	begin func(context.Context) (pgx.Tx, error)
	ping  func(context.Context) error // nil for a transaction
	ended error                       // what a call returns once the handle has ended
}

// The states a handle is tested in.
const (
	stOK       = "ok"
	stCanceled = "canceled context"
	stEnded    = "ended" // released, committed, or the pool closed
	stRevoked  = "revoked"
)

// newHandle returns the handle named kind, of a pool of its own, in state.
func newHandle(t *testing.T, kind, state string) handle {
	t.Helper()
	ctx := t.Context()
	p, _ := newPool(t, nil, func(c *poolguard.Config) {
		c.Partitions = []poolguard.PartitionConfig{{Name: "api", Guaranteed: 2}, {Name: "sync", Max: 2}}
	})
	if _, err := p.Exec(ctx, "CREATE TABLE t (id int PRIMARY KEY, name text)"); err != nil {
		t.Fatal(err)
	}
	var h handle
	switch kind {
	case "pool":
		h = handle{db: p, begin: p.Begin, ping: p.Ping, ended: poolguard.ErrClosed}
	case "partition":
		pt := p.Partition("sync")
		h = handle{db: pt, begin: pt.Begin, ping: pt.Ping, ended: poolguard.ErrClosed}
	case "conn":
		c, err := p.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Release)
		h = handle{db: c, begin: c.Begin, ping: c.Ping, ended: poolguard.ErrReleased}
	case "tx":
		tx, err := p.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tx.Rollback(context.Background()) })
		h = handle{db: tx, begin: tx.Begin, ended: poolguard.ErrReleased}
	}
	switch state {
	case stEnded:
		switch db := h.db.(type) {
		case *poolguard.Conn:
			db.Release()
		case pgx.Tx:
			if err := db.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		default:
			p.Close()
		}
	case stRevoked:
		pid := p.Leases()[0].PID
		if !p.Revoke(pid) {
			t.Fatal("Revoke found no lease")
		}
		h.ended = poolguard.ErrLeaseRevoked
	}
	return h
}

// op is one method called on a handle. It returns the call's error, and
// fails the test on a wrong result of a call that succeeded.
type op struct {
	name string
	run  func(t *testing.T, ctx context.Context, h handle, sql string) error
}

var ops = []op{
	{"Exec", func(t *testing.T, ctx context.Context, h handle, sql string) error {
		_, err := h.db.Exec(ctx, "INSERT INTO "+sql+" VALUES (1, 'a')")
		return err
	}},
	{"Query+CollectRows", func(t *testing.T, ctx context.Context, h handle, sql string) error {
		rows, err := h.db.Query(ctx, "SELECT id FROM "+sql) // the error is read from the rows, as pgx's docs recommend
		if rows == nil {
			t.Fatalf("Query returned nil rows (error %v)", err)
		}
		ids, cerr := pgx.CollectRows(rows, pgx.RowTo[int32])
		if (err != nil) != (cerr != nil) {
			t.Fatalf("Query's error %v, but CollectRows' %v", err, cerr)
		}
		if cerr == nil && len(ids) != 0 {
			t.Fatalf("CollectRows = %v, want none", ids)
		}
		return cerr
	}},
	{"QueryRow", func(t *testing.T, ctx context.Context, h handle, sql string) error {
		var n int
		err := h.db.QueryRow(ctx, "SELECT count(*) FROM "+sql).Scan(&n)
		if err == nil && n != 0 {
			t.Fatalf("count = %d, want 0", n)
		}
		return err
	}},
	{"ForEachRow", func(t *testing.T, ctx context.Context, h handle, sql string) error {
		rows, _ := h.db.Query(ctx, "SELECT id, name FROM "+sql)
		var id int32
		var name string
		_, err := pgx.ForEachRow(rows, []any{&id, &name}, func() error { return nil })
		return err
	}},
	{"CopyFrom", func(t *testing.T, ctx context.Context, h handle, sql string) error {
		n, err := h.db.CopyFrom(ctx, pgx.Identifier{sql}, []string{"id", "name"}, pgx.CopyFromRows([][]any{{1, "a"}, {2, "b"}}))
		if err == nil && n != 2 {
			t.Fatalf("CopyFrom copied %d rows, want 2", n)
		}
		return err
	}},
	{"SendBatch", func(t *testing.T, ctx context.Context, h handle, sql string) error {
		b := &pgx.Batch{}
		b.Queue("INSERT INTO " + sql + " VALUES (1, 'a')")
		b.Queue("SELECT id FROM " + sql)
		br := h.db.SendBatch(ctx, b)
		if br == nil {
			t.Fatal("SendBatch returned nil results")
		}
		_, err := br.Exec()
		rows, qerr := br.Query()
		if rows == nil {
			t.Fatalf("batch Query returned nil rows (error %v)", qerr)
		}
		if _, cerr := pgx.CollectRows(rows, pgx.RowTo[int32]); err == nil {
			err = cerr
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		return err
	}},
	{"BeginFunc", func(t *testing.T, ctx context.Context, h handle, sql string) error {
		return pgx.BeginFunc(ctx, beginner(h.begin), func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO "+sql+" VALUES (1, 'a')")
			return err
		})
	}},
	{"Ping", func(t *testing.T, ctx context.Context, h handle, sql string) error {
		if h.ping == nil || sql != "t" {
			return errSkip
		}
		return h.ping(ctx)
	}},
}

// beginner adapts a Begin method to what pgx.BeginFunc takes.
type beginner func(context.Context) (pgx.Tx, error)

func (b beginner) Begin(ctx context.Context) (pgx.Tx, error) { return b(ctx) }

var errSkip = errors.New("not applicable")

// TestSurface calls each method on each of Pool, Partition, Conn and a
// transaction, on a real server: with success, a server error, a canceled
// context, and once the handle has ended or its lease was revoked. No call
// may panic; every failure is an error that matches its cause.
func TestSurface(t *testing.T) {
	for _, kind := range []string{"pool", "partition", "conn", "tx"} {
		for _, state := range []string{stOK, "server error", stCanceled, stEnded, stRevoked} {
			if state == stRevoked && (kind == "pool" || kind == "partition") {
				continue // they hold no lease between calls
			}
			for _, o := range ops {
				t.Run(fmt.Sprintf("%s/%s/%s", kind, state, o.name), func(t *testing.T) {
					h := newHandle(t, kind, state)
					ctx, table := t.Context(), "t"
					switch state {
					case "server error":
						table = "no_such_table"
					case stCanceled:
						var cancel context.CancelFunc
						ctx, cancel = context.WithCancel(ctx)
						cancel()
					}
					err := o.run(t, ctx, h, table)
					switch {
					case errors.Is(err, errSkip):
					case state == stOK:
						if err != nil {
							t.Fatalf("%v", err)
						}
					case state == "server error":
						var pgErr *pgconn.PgError
						if !errors.As(err, &pgErr) || pgErr.Code != "42P01" {
							t.Fatalf("got %v, want the server's undefined_table error", err)
						}
					case state == stCanceled:
						if !errors.Is(err, context.Canceled) {
							t.Fatalf("got %v, want context.Canceled", err)
						}
					default:
						if !errors.Is(err, h.ended) && !(kind == "tx" && errors.Is(err, pgx.ErrTxClosed)) {
							t.Fatalf("got %v, want %v", err, h.ended)
						}
					}
				})
			}
		}
	}
}

// TestCollectRowsOnFailure is the idiom pgx's documentation recommends:
// the Query error ignored, CollectRows returns it.
func TestCollectRowsOnFailure(t *testing.T) {
	p, _ := newPool(t, nil, nil)
	rows, _ := p.Query(t.Context(), "SELECT nope")
	if _, err := pgx.CollectRows(rows, pgx.RowToMap); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("CollectRows = %v, want the server's error", err)
	}
	type user struct{ ID int32 }
	rows, _ = p.Query(t.Context(), "SELECT nope")
	if _, err := pgx.CollectRows(rows, pgx.RowToStructByName[user]); err == nil {
		t.Fatal("RowToStructByName on a failed query returned no error")
	}
	fullSize(t, p)
}
