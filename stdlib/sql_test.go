package stdlib_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/internal/wait"
	"github.com/poolguard/poolguard/pooltest"
	"github.com/poolguard/poolguard/stdlib"
)

func TestExecAndQuery(t *testing.T) {
	t.Parallel()
	pool, db, _ := newDB(t, setup{})
	ctx := testCtx(t)

	mustExec(t, db, "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)")
	res := mustExec(t, db, "INSERT INTO items VALUES ($1, $2), ($3, $4)", 1, "one", 2, "two")
	if n, err := res.RowsAffected(); err != nil || n != 2 {
		t.Fatalf("RowsAffected = %d, %v; want 2", n, err)
	}
	if _, err := res.LastInsertId(); err == nil {
		t.Error("LastInsertId: no error; PostgreSQL has no last insert ID")
	}

	rows, err := db.QueryContext(ctx, "SELECT id, name FROM items ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var id int
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			t.Fatal(err)
		}
		got = append(got, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "one,two" {
		t.Errorf("rows = %v, want [one two]", got)
	}

	var name string
	if err := db.QueryRowContext(ctx, "SELECT name FROM items WHERE id = $1", 2).Scan(&name); err != nil || name != "two" {
		t.Errorf("QueryRow = %q, %v; want two", name, err)
	}
	if err := db.QueryRowContext(ctx, "SELECT name FROM items WHERE id = $1", 3).Scan(&name); !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("QueryRow of no row: %v, want sql.ErrNoRows", err)
	}

	// The server's error is returned by QueryContext itself, not by the rows.
	if rows, err = db.QueryContext(ctx, "SELECT 1/0"); err == nil {
		rows.Close()
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "22012" {
		t.Errorf("QueryContext(1/0): %v, want SQLSTATE 22012", err)
	}
	_, err = db.ExecContext(ctx, "INSERT INTO items VALUES (1, 'again')")
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		t.Errorf("duplicate insert: %v, want SQLSTATE 23505", err)
	}

	// database/sql keeps nothing: every call's lease went back to the pool.
	if st := db.Stats(); st.Idle != 0 || st.InUse != 0 {
		t.Errorf("database/sql holds %d idle, %d in use; want none", st.Idle, st.InUse)
	}
	released(t, pool)
}

func TestPreparedStatements(t *testing.T) {
	t.Parallel()
	_, db, _ := newDB(t, setup{})
	ctx := testCtx(t)
	mustExec(t, db, "CREATE TABLE log (n int)")

	// On the DB: database/sql prepares it again on each call's connection.
	ins, err := db.PrepareContext(ctx, "INSERT INTO log VALUES ($1)")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := ins.ExecContext(ctx, i); err != nil {
			t.Fatalf("insert %d: %v", i, err)
		}
	}
	if err := ins.Close(); err != nil {
		t.Fatal(err)
	}

	// On one connection: two statements of the same text share the
	// server's, which outlives the first Close and goes with the second.
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const q = "SELECT count(*) FROM log WHERE n >= $1"
	s1, err := conn.PrepareContext(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := conn.PrepareContext(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	prepared := func() int {
		t.Helper()
		var n int
		if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1", q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var n int
	if err := s1.QueryRowContext(ctx, 1).Scan(&n); err != nil || n != 2 {
		t.Errorf("count = %d, %v; want 2", n, err)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	if got := prepared(); got != 1 {
		t.Errorf("after closing one of two statements, %d prepared; want 1", got)
	}
	if err := s2.QueryRowContext(ctx, 0).Scan(&n); err != nil || n != 3 {
		t.Errorf("count = %d, %v; want 3", n, err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if got := prepared(); got != 0 {
		t.Errorf("after closing both statements, %d prepared; want 0", got)
	}
}

func TestTransactions(t *testing.T) {
	t.Parallel()
	pool, db, _ := newDB(t, setup{})
	ctx := testCtx(t)
	mustExec(t, db, "CREATE TABLE t (n int)")
	count := func() int {
		t.Helper()
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("commit", func(t *testing.T) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO t VALUES (1)"); err != nil {
			t.Fatal(err)
		}
		if ls := pool.Leases(); len(ls) != 1 || ls[0].State != poolguard.LeaseInTransaction {
			t.Errorf("leases during the transaction: %+v, want one in transaction", ls)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if n := count(); n != 1 {
			t.Errorf("%d rows after commit, want 1", n)
		}
	})
	t.Run("rollback", func(t *testing.T) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO t VALUES (2)"); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if n := count(); n != 1 {
			t.Errorf("%d rows after rollback, want 1", n)
		}
	})
	t.Run("isolation", func(t *testing.T) {
		for _, tc := range []struct {
			level sql.IsolationLevel
			want  string
		}{
			{sql.LevelDefault, "read committed"},
			{sql.LevelReadUncommitted, "read uncommitted"},
			{sql.LevelReadCommitted, "read committed"},
			{sql.LevelRepeatableRead, "repeatable read"},
			{sql.LevelSnapshot, "repeatable read"},
			{sql.LevelSerializable, "serializable"},
		} {
			tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: tc.level})
			if err != nil {
				t.Fatalf("%v: %v", tc.level, err)
			}
			var got string
			err = tx.QueryRowContext(ctx, "SHOW transaction_isolation").Scan(&got)
			if rerr := tx.Rollback(); err == nil {
				err = rerr
			}
			if err != nil || got != tc.want {
				t.Errorf("%v: transaction_isolation = %q, %v; want %q", tc.level, got, err, tc.want)
			}
		}
	})
	t.Run("unsupported isolation", func(t *testing.T) {
		for _, level := range []sql.IsolationLevel{sql.LevelWriteCommitted, sql.LevelLinearizable} {
			tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: level})
			if !errors.Is(err, stdlib.ErrUnsupportedIsolation) {
				if tx != nil {
					tx.Rollback()
				}
				t.Errorf("%v: %v, want ErrUnsupportedIsolation", level, err)
			}
		}
	})
	t.Run("read only", func(t *testing.T) {
		tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		var ro string
		if err := tx.QueryRowContext(ctx, "SHOW transaction_read_only").Scan(&ro); err != nil || ro != "on" {
			t.Errorf("transaction_read_only = %q, %v; want on", ro, err)
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO t VALUES (3)")
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "25006" {
			t.Errorf("insert in a read-only transaction: %v, want SQLSTATE 25006", err)
		}
	})
	released(t, pool)
}

// A cancelled context stops the query on the server; the connection it
// broke is not reused, and its lease is given back.
func TestCancelMidQuery(t *testing.T) {
	t.Parallel()
	pool, db, _ := newDB(t, setup{})
	ctx, cancel := context.WithCancel(testCtx(t))
	errc := make(chan error, 1)
	go func() {
		rows, err := db.QueryContext(ctx, "SELECT pg_sleep(60)")
		if err == nil {
			rows.Close()
		}
		errc <- err
	}()
	wait.Until(t, "the query runs", func() bool {
		ls := pool.Leases()
		return len(ls) == 1 && ls[0].State == poolguard.LeaseActive
	})
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled query: %v, want context.Canceled", err)
	}
	released(t, pool)
	var one int
	if err := db.QueryRowContext(testCtx(t), "SELECT 1").Scan(&one); err != nil {
		t.Errorf("a query after the cancelled one: %v", err)
	}
}

// Pool.Revoke takes back a lease that database/sql holds: the next call
// fails with an error that database/sql treats as a bad connection and
// that still matches ErrLeaseRevoked.
func TestRevoke(t *testing.T) {
	t.Parallel()
	pool, db, _ := newDB(t, setup{})
	ctx := testCtx(t)

	t.Run("between calls", func(t *testing.T) {
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var pid uint32
		if err := conn.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatal(err)
		}
		if !pool.Revoke(pid) {
			t.Fatal("Revoke found no lease")
		}
		_, err = conn.ExecContext(ctx, "SELECT 1")
		if !errors.Is(err, poolguard.ErrLeaseRevoked) || !errors.Is(err, driver.ErrBadConn) {
			t.Errorf("call after Revoke: %v, want ErrLeaseRevoked and driver.ErrBadConn", err)
		}
		// database/sql discarded the connection.
		if _, err := conn.ExecContext(ctx, "SELECT 1"); !errors.Is(err, sql.ErrConnDone) {
			t.Errorf("next call: %v, want sql.ErrConnDone", err)
		}
	})
	t.Run("ping", func(t *testing.T) {
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := conn.PingContext(ctx); err != nil {
			t.Fatal(err)
		}
		pool.Revoke(pool.Leases()[0].PID)
		err = conn.PingContext(ctx)
		if !errors.Is(err, poolguard.ErrLeaseRevoked) || !errors.Is(err, driver.ErrBadConn) {
			t.Errorf("ping after Revoke: %v, want ErrLeaseRevoked and driver.ErrBadConn", err)
		}
	})
	t.Run("rows open", func(t *testing.T) {
		rows, err := db.QueryContext(ctx, "SELECT n FROM generate_series(1, 1000000) n")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		ls := pool.Leases()
		if len(ls) != 1 {
			t.Fatalf("%d leases, want 1", len(ls))
		}
		if !pool.Revoke(ls[0].PID) {
			t.Fatal("Revoke found no lease")
		}
		for rows.Next() {
		}
		if err := rows.Err(); !errors.Is(err, poolguard.ErrLeaseRevoked) {
			t.Errorf("rows after Revoke: %v, want ErrLeaseRevoked", err)
		}
	})
	released(t, pool)
	if n := pool.Stats().Total().Reclaimed.Of(poolguard.ReclaimRevoked); n != 3 {
		t.Errorf("%d leases reclaimed as revoked, want 3", n)
	}
	if st := db.Stats(); st.InUse != 0 || st.Idle != 0 {
		t.Errorf("database/sql holds %d in use, %d idle; want none", st.InUse, st.Idle)
	}
	var one int
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Errorf("a query after the revocations: %v", err)
	}
}

// database/sql waits in the partition's queue, and a refusal is the
// pool's AcquireError, naming who holds the partition.
func TestPartitionExhausted(t *testing.T) {
	t.Parallel()
	pool, db, _ := newDB(t, setup{configure: func(c *poolguard.Config) {
		c.Partitions = []poolguard.PartitionConfig{{Name: "sql", Max: 1}}
	}})
	ctx := testCtx(t)
	holder, err := pool.Acquire(ctx)
	site := lineAbove()
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Release()

	_, err = db.ExecContext(ctxTimeout(t, 100*time.Millisecond), "SELECT 1")
	if !errors.Is(err, poolguard.ErrAcquireTimeout) {
		t.Fatalf("exec on a full partition: %v, want ErrAcquireTimeout", err)
	}
	var ae *poolguard.AcquireError
	if !errors.As(err, &ae) || ae.Partition != "sql" || len(ae.Holders) != 1 || ae.Holders[0].CallSite != site {
		t.Errorf("AcquireError = %+v, want partition sql held at %s", ae, site)
	}

	// A caller that waits is served when the holder lets go.
	done := make(chan error, 1)
	go func() {
		_, err := db.ExecContext(ctx, "SELECT 1")
		done <- err
	}()
	wait.Until(t, "database/sql waits in the partition's queue", func() bool { return pool.Partition("sql").Stats().Waiting == 1 })
	holder.Release()
	if err := <-done; err != nil {
		t.Errorf("exec after the release: %v", err)
	}
}

// database/sql's calls are the partition's acquires, in its statistics.
func TestMetricsCountDatabaseSQL(t *testing.T) {
	t.Parallel()
	pool, db, _ := newDB(t, setup{})
	ctx := testCtx(t)
	before := pool.Stats().Total()
	const calls = 5
	for range calls {
		var one int
		if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			t.Fatal(err)
		}
	}
	released(t, pool)
	after := pool.Stats().Total()
	if d := after.Acquires - before.Acquires; d != calls {
		t.Errorf("%d acquires for %d calls", d, calls)
	}
	if d := after.UseTime.Count - before.UseTime.Count; d != calls {
		t.Errorf("%d hold times observed for %d calls", d, calls)
	}
	if after.Opened > calls || after.Opened < 1 {
		t.Errorf("%d connections opened for %d sequential calls", after.Opened, calls)
	}
}

// A lease taken through database/sql names the line that called
// database/sql, not database/sql's own.
func TestCallSite(t *testing.T) {
	t.Parallel()
	pool, db, _ := newDB(t, setup{})
	ctx := testCtx(t)
	check := func(t *testing.T, site string) {
		t.Helper()
		ls := pool.Leases()
		if len(ls) != 1 {
			t.Fatalf("%d leases, want 1", len(ls))
		}
		if ls[0].CallSite != site || !strings.HasPrefix(ls[0].Function, "stdlib_test.TestCallSite") {
			t.Errorf("lease acquired at %s in %s, want %s in this test", ls[0].CallSite, ls[0].Function, site)
		}
	}
	t.Run("QueryContext", func(t *testing.T) {
		rows, err := db.QueryContext(ctx, "SELECT 1")
		site := lineAbove()
		if err != nil {
			t.Fatal(err)
		}
		check(t, site)
		rows.Close()
	})
	t.Run("BeginTx", func(t *testing.T) {
		tx, err := db.BeginTx(ctx, nil)
		site := lineAbove()
		if err != nil {
			t.Fatal(err)
		}
		check(t, site)
		tx.Rollback()
	})
	t.Run("Conn", func(t *testing.T) {
		conn, err := db.Conn(ctx)
		site := lineAbove()
		if err != nil {
			t.Fatal(err)
		}
		check(t, site)
		conn.Close()
	})
	released(t, pool)
}

// OptionResetSession and OptionShouldPing run when database/sql hands a
// connection from one of its callers to another, which it does only with
// SetMaxOpenConns; a revoked lease is discarded instead of handed over.
func TestHandOver(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var resets, pings int
	pool, db, _ := newDB(t, setup{opts: []stdlib.OptionOpenDB{
		stdlib.OptionResetSession(func(ctx context.Context, c *poolguard.Conn) error {
			mu.Lock()
			resets++
			mu.Unlock()
			_, err := c.Exec(ctx, "RESET ALL")
			return err
		}),
		stdlib.OptionShouldPing(func(_ context.Context, p stdlib.ShouldPingParams) bool {
			mu.Lock()
			pings++
			mu.Unlock()
			return p.Conn != nil && p.IdleDuration >= 0
		}),
	}})
	db.SetMaxOpenConns(1)
	ctx := testCtx(t)
	counts := func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return resets, pings
	}
	// handOver holds a connection until a second caller waits for it in
	// database/sql, then runs end and closes the connection.
	handOver := func(waits int64, end func(*sql.Conn)) {
		t.Helper()
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := db.ExecContext(ctx, "SELECT 1")
			done <- err
		}()
		wait.Until(t, "a caller waits in database/sql", func() bool { return db.Stats().WaitCount == waits })
		end(conn)
		conn.Close()
		if err := <-done; err != nil {
			t.Fatalf("the waiting caller: %v", err)
		}
	}

	handOver(1, func(*sql.Conn) {})
	if r, p := counts(); r != 1 || p != 1 {
		t.Errorf("%d resets, %d ping decisions; want 1 each", r, p)
	}

	handOver(2, func(conn *sql.Conn) {
		var pid uint32
		if err := conn.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatal(err)
		}
		pool.Revoke(pid)
	})
	if r, p := counts(); r != 1 || p != 1 {
		t.Errorf("%d resets, %d ping decisions after a revoked lease; want it discarded, not reset", r, p)
	}
	released(t, pool)
}

// A missing pool or partition is an error, not a panic.
func TestNoPartition(t *testing.T) {
	t.Parallel()
	pool, _, _ := newDB(t, setup{})
	ctx := testCtx(t)
	for _, tc := range []struct {
		name string
		db   *sql.DB
	}{
		{"nil pool", stdlib.OpenDBFromPool(nil)},
		{"nil partition", stdlib.OpenDB(nil)},
		{"unknown partition", stdlib.OpenDB(pool.Partition("nope"))},
	} {
		_, err := tc.db.ExecContext(ctx, "SELECT 1")
		tc.db.Close()
		if !errors.Is(err, poolguard.ErrNoPartition) {
			t.Errorf("%s: %v, want an error matching ErrNoPartition", tc.name, err)
		}
	}
}

// pooltest's faults reach database/sql's calls, which run through the
// lease: the error paths of code built on database/sql run for real.
func TestFaults(t *testing.T) {
	t.Parallel()
	serialization := &pgconn.PgError{Code: "40001"}
	for _, tc := range []struct {
		name  string
		fault pooltest.Fault
		sql   string
		check func(error) bool
	}{
		{"acquire fails", pooltest.FailAcquire(1, nil), "SELECT 1",
			func(err error) bool { return errors.Is(err, pooltest.ErrInjected) }},
		{"statement fails", pooltest.FailQuery("UPDATE", serialization), "UPDATE t SET n = 1",
			func(err error) bool { return errors.Is(err, serialization) }},
		{"backend terminated", pooltest.Terminate("pg_sleep"), "SELECT pg_sleep(30)",
			func(err error) bool { return err != nil && !errors.Is(err, driver.ErrBadConn) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool, db, _ := newDB(t, setup{})
			mustExec(t, db, "CREATE TABLE t (n int)")
			pooltest.Inject(t, pool, tc.fault)
			_, err := db.ExecContext(testCtx(t), tc.sql)
			if !tc.check(err) {
				t.Errorf("%s: %v", tc.sql, err)
			}
			released(t, pool)
			mustExec(t, db, "SELECT 1")
		})
	}
	t.Run("queue full", func(t *testing.T) {
		t.Parallel()
		pool, db, _ := newDB(t, setup{})
		drain := pooltest.FillQueue(t, pool, "default")
		_, err := db.ExecContext(testCtx(t), "SELECT 1")
		drain()
		if !errors.Is(err, poolguard.ErrQueueFull) {
			t.Errorf("exec on a full queue: %v, want ErrQueueFull", err)
		}
	})
}

// sql.Conn.Raw reaches the lease, for what database/sql does not offer;
// what is done with it is checked against the lease too.
func TestRaw(t *testing.T) {
	t.Parallel()
	pool, db, _ := newDB(t, setup{})
	ctx := testCtx(t)
	mustExec(t, db, "CREATE TABLE t (n int)")
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		lease := dc.(*stdlib.Conn).Conn()
		if lease.Partition() != pool.Partitions()[0] {
			t.Errorf("lease of partition %q", lease.Partition().Name())
		}
		_, err := lease.CopyFrom(ctx, pgx.Identifier{"t"}, []string{"n"}, pgx.CopyFromRows([][]any{{1}, {2}, {3}}))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 3 {
		t.Errorf("count = %d, %v; want 3", n, err)
	}
}
