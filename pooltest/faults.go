package pooltest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/poolguard/poolguard"
)

// ErrInjected is the error a fault returns when it was given none. Errors
// returned by faults wrap the fault's error and name the fault.
var ErrInjected = errors.New("pooltest: injected fault")

type faultKind int

const (
	failAcquire faultKind = iota + 1
	failQuery
	delayQuery
	terminateQuery
)

// A Fault describes one fault to inject into a pool's calls. Build it with
// FailAcquire, FailQuery, Delay or Terminate, narrow it with On, After and
// Times, and install it with Inject or the WithFaults option of New.
//
// A fault counts the calls it matches; it fires on the first one after the
// number given to After, and then on as many as Times allows (one by
// default).
type Fault struct {
	kind      faultKind
	partition string // "" matches every partition
	pattern   string // case-insensitive substring of the SQL; "" matches all
	skip      int
	times     int // < 0: every match
	err       error
	delay     time.Duration
	invalid   string // why the fault cannot be used, reported by Inject
}

// FailAcquire makes the nth acquire (counting from 1) fail with err, or with
// ErrInjected if err is nil. Like every fault, it counts only the calls it
// matches: narrow it to a partition with On.
func FailAcquire(nth int, err error) Fault {
	f := Fault{kind: failAcquire, skip: nth - 1, err: err}
	if nth < 1 {
		f.invalid = fmt.Sprintf("FailAcquire(%d): nth counts acquires from 1", nth)
	}
	return f
}

// FailQuery makes the next statement whose SQL contains pattern (ignoring
// case; "" matches every statement) fail with err, or with ErrInjected if
// err is nil. The statement is not sent to the server. To fail the way
// PostgreSQL does, pass a *pgconn.PgError with the SQLSTATE code of your
// choice.
func FailQuery(pattern string, err error) Fault {
	return Fault{kind: failQuery, pattern: pattern, err: err}
}

// Delay makes the next statement whose SQL contains pattern wait d before
// it is sent, as a slow network or a loaded server would. The wait ends
// early, failing the statement, when the statement's context ends.
func Delay(pattern string, d time.Duration) Fault {
	f := Fault{kind: delayQuery, pattern: pattern, delay: d}
	if d <= 0 {
		f.invalid = fmt.Sprintf("Delay(%q, %v): the delay must be positive", pattern, d)
	}
	return f
}

// Terminate ends the server backend of the next statement whose SQL
// contains pattern while that statement runs, with pg_terminate_backend on
// a connection of its own, as an administrator or a crashing server would.
// The statement is sent; its caller sees the connection break. A statement
// that finishes before the server shows it running (a fast one) is not
// interrupted: the backend is terminated just after it, so the next call on
// the connection fails instead. Use a statement that runs a while, or waits
// on a lock, to fail the statement itself.
func Terminate(pattern string) Fault {
	return Fault{kind: terminateQuery, pattern: pattern}
}

// On narrows the fault to the partition named name.
func (f Fault) On(name string) Fault {
	f.partition = name
	return f
}

// After lets the first n matching calls through before the fault fires.
func (f Fault) After(n int) Fault {
	if n < 0 {
		f.invalid = fmt.Sprintf("%s.After(%d): the count must not be negative", f, n)
	}
	f.skip += max(n, 0)
	return f
}

// Times makes the fault fire on n matching calls in a row; n < 0 means on
// every matching call from then on.
func (f Fault) Times(n int) Fault {
	if n == 0 {
		f.invalid = fmt.Sprintf("%s.Times(0): a fault must fire at least once; leave it out instead", f)
	}
	f.times = n - 1
	if n < 0 {
		f.times = -1
	}
	return f
}

// String describes the fault as it was built, for failure messages.
func (f Fault) String() string {
	var s string
	switch f.kind {
	case failAcquire:
		s = fmt.Sprintf("FailAcquire(%d)", f.skip+1)
	case failQuery:
		s = fmt.Sprintf("FailQuery(%q)", f.pattern)
	case delayQuery:
		s = fmt.Sprintf("Delay(%q, %v)", f.pattern, f.delay)
	case terminateQuery:
		s = fmt.Sprintf("Terminate(%q)", f.pattern)
	default:
		return "Fault{}"
	}
	if f.partition != "" {
		s += fmt.Sprintf(".On(%q)", f.partition)
	}
	if f.kind != failAcquire && f.skip > 0 {
		s += fmt.Sprintf(".After(%d)", f.skip)
	}
	switch {
	case f.times < 0:
		s += ".Times(-1)"
	case f.times > 0:
		s += fmt.Sprintf(".Times(%d)", f.times+1)
	}
	return s
}

func (f Fault) validate() error {
	switch {
	case f.kind == 0:
		return errors.New("pooltest: a zero Fault does nothing: build faults with FailAcquire, FailQuery, Delay or Terminate")
	case f.invalid != "":
		return errors.New("pooltest: " + f.invalid)
	}
	return nil
}

// rule is a fault installed on a pool, with its counts.
type rule struct {
	Fault
	matched, fired int
}

// fires counts a matching call and reports whether the fault fires on it.
func (r *rule) fires(partition, sql string, acquire bool) bool {
	if (r.kind == failAcquire) != acquire || (r.partition != "" && r.partition != partition) {
		return false
	}
	if !acquire && !strings.Contains(strings.ToLower(sql), strings.ToLower(r.pattern)) {
		return false
	}
	r.matched++
	if r.matched <= r.skip || (r.times >= 0 && r.fired > r.times) {
		return false
	}
	r.fired++
	return true
}

// Faults is a set of faults installed on one pool by Inject. Its methods
// may be called from several goroutines at once.
type Faults struct {
	st    *state
	admin *pgx.ConnConfig // for terminating backends

	mu    sync.Mutex
	rules []*rule

	wg     sync.WaitGroup  // terminations in progress
	done   context.Context // ends when the faults are removed
	remove context.CancelFunc
}

// Inject installs faults on pool, replacing any it had, for the rest of the
// test: they affect only that pool's calls, so parallel tests with pools of
// their own do not see each other's. At the end of the test the faults are
// removed and, if the test failed, the ones that fired are logged. A fault
// that is not valid (FailAcquire(0)) fails the test at once.
func Inject(t testing.TB, pool *poolguard.Pool, faults ...Fault) *Faults {
	t.Helper()
	if pool == nil {
		t.Fatal("pooltest: Inject: the pool is nil")
	}
	for _, f := range faults {
		if err := f.validate(); err != nil {
			t.Fatal(err)
		}
	}
	fs := &Faults{st: track(pool), admin: adminConfig(pool)}
	fs.done, fs.remove = context.WithCancel(context.Background())
	for _, f := range faults {
		fs.rules = append(fs.rules, &rule{Fault: f})
	}
	fs.st.setFaults(fs)
	t.Cleanup(func() {
		t.Helper()
		fs.st.setFaults(nil)
		fs.remove() // a termination still waiting for its statement gives up
		fs.wg.Wait()
		if t.Failed() {
			if fired := fs.st.firedText(); fired != "" {
				t.Log(fired)
			}
		}
		fs.st.release()
	})
	return fs
}

// Fired returns a line for each time a fault fired on the pool, oldest
// first, including the queues filled by FillQueue.
func (fs *Faults) Fired() []string { return fs.st.firedList() }

// acquire applies the acquire faults.
func (fs *Faults) acquire(partition string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, r := range fs.rules {
		if r.fires(partition, "", true) {
			fs.st.fired("%s fired: acquire on partition %q failed", r.Fault, partition)
			return fmt.Errorf("%w (%s)", r.errOrDefault(), r.Fault)
		}
	}
	return nil
}

func (f Fault) errOrDefault() error {
	if f.err != nil {
		return f.err
	}
	return ErrInjected
}

// call applies the statement faults: the delays of every rule that fires,
// then the first failure or termination.
func (fs *Faults) call(ctx context.Context, partition string, pid uint32, sql string) error {
	var delay time.Duration
	var act *rule
	fs.mu.Lock()
	for _, r := range fs.rules {
		if !r.fires(partition, sql, false) {
			continue
		}
		switch {
		case r.kind == delayQuery:
			delay += r.delay
			fs.st.fired("%s fired: %s on partition %q delayed", r.Fault, quoteSQL(sql), partition)
		case act == nil:
			act = r
		default:
			r.fired-- // an earlier rule acts on this call: leave this one for the next
			r.matched--
		}
	}
	fs.mu.Unlock()
	if delay > 0 {
		if err := sleep(ctx, delay); err != nil {
			return fmt.Errorf("pooltest: statement delayed by a fault: %w", err)
		}
	}
	switch {
	case act == nil:
		return nil
	case act.kind == failQuery:
		fs.st.fired("%s fired: %s on partition %q failed without reaching the server", act.Fault, quoteSQL(sql), partition)
		return fmt.Errorf("%w (%s)", act.errOrDefault(), act.Fault)
	}
	return fs.terminate(ctx, act.Fault, partition, pid, sql)
}

// terminate ends backend pid once the server shows the statement about to
// be sent running. It first notes when the backend's previous statement
// started, so that a statement that was already over when first seen is
// told apart from one not yet started.
func (fs *Faults) terminate(ctx context.Context, f Fault, partition string, pid uint32, sql string) error {
	admin, err := pgx.ConnectConfig(ctx, fs.admin)
	if err != nil {
		return fmt.Errorf("pooltest: %s: connect to terminate backend %d: %w", f, pid, err)
	}
	var before *time.Time
	if err := admin.QueryRow(ctx, "SELECT query_start FROM pg_stat_activity WHERE pid = $1", int64(pid)).Scan(&before); err != nil {
		_ = admin.Close(context.Background())
		return fmt.Errorf("pooltest: %s: look up backend %d: %w", f, pid, err)
	}
	fs.wg.Add(1)
	go func() {
		defer fs.wg.Done()
		ctx, cancel := context.WithTimeout(fs.done, adminTimeout)
		defer cancel()
		defer admin.Close(context.Background())
		when, err := waitForStatement(ctx, admin, pid, before)
		if err == nil {
			// Recorded first, so that whoever sees the backend gone sees
			// the record too.
			fs.st.fired("%s fired: backend %d terminated %s %s on partition %q", f, pid, when, quoteSQL(sql), partition)
			_, err = admin.Exec(ctx, "SELECT pg_terminate_backend($1, $2)", int64(pid), adminTimeout.Milliseconds())
		}
		if err != nil {
			fs.st.fired("%s fired on backend %d but could not terminate it: %v", f, pid, err)
		}
	}()
	return nil
}

// waitForStatement waits until the server shows that backend pid started
// a statement after the one that started at before, and reports whether
// it is running ("during") or already over ("just after").
func waitForStatement(ctx context.Context, admin *pgx.Conn, pid uint32, before *time.Time) (string, error) {
	for {
		var state string
		var start *time.Time
		err := admin.QueryRow(ctx, "SELECT coalesce(state, ''), query_start FROM pg_stat_activity WHERE pid = $1", int64(pid)).Scan(&state, &start)
		if errors.Is(err, pgx.ErrNoRows) {
			return "", fmt.Errorf("the backend had already exited")
		}
		if err != nil {
			return "", err
		}
		if start != nil && (before == nil || !start.Equal(*before)) {
			if state == "active" {
				return "during", nil
			}
			return "just after", nil
		}
		if err := sleep(ctx, pollInterval); err != nil {
			return "", err
		}
	}
}

// quoteSQL names a statement in a message: its first line, shortened.
// Statements carry no argument values here (they travel separately).
func quoteSQL(sql string) string {
	sql = strings.Join(strings.Fields(sql), " ")
	if len(sql) > 60 {
		sql = sql[:57] + "..."
	}
	return fmt.Sprintf("%q", sql)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

const (
	pollInterval = 2 * time.Millisecond
	adminTimeout = 30 * time.Second
)
