package pooltest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/pooltest"
)

// The outage's own test: a job that hits a validation error must give its
// connection back. The buggy version fails the test, naming the acquire.
func Example() {
	// func TestSyncUserData(t *testing.T) {
	t := &exampleT{name: "TestSyncUserData"}
	pool := pooltest.New(t, pooltest.Grace(0))
	ctx := context.Background()
	bad := withBadUser(t, pool)
	err := syncUserDataBuggy(ctx, pool, bad)
	fmt.Println("sync:", err)
	// }
	t.end()

	fmt.Println("test failed:", t.failed)
	fmt.Println("names the acquire:", strings.Contains(t.report(), "acquired at pooltest/outage_test.go"))
	// Output:
	// sync: user 2: user data failed validation
	// test failed: true
	// names the acquire: true
}

func ExampleInject() {
	// func TestCheckoutRetries(t *testing.T) {
	t := &exampleT{name: "TestCheckoutRetries"}
	defer t.end()
	pool := pooltest.New(t)
	pooltest.Inject(t, pool, pooltest.FailQuery("INSERT INTO orders", &pgconn.PgError{
		Code: "40001", Message: "could not serialize access due to concurrent update",
	}))

	// The insert fails as a serialization failure would, without reaching
	// the server.
	_, err := pool.Exec(context.Background(), "INSERT INTO orders VALUES (1)")
	var pgErr *pgconn.PgError
	fmt.Println(errors.As(err, &pgErr), pgErr.Code)
	// }

	// Output: true 40001
}

func ExampleFillQueue() {
	// func TestSyncBacksOff(t *testing.T) {
	t := &exampleT{name: "TestSyncBacksOff"}
	defer t.end()
	pool := pooltest.New(t, pooltest.Configure(func(cfg *poolguard.Config) {
		cfg.Partitions = []poolguard.PartitionConfig{{Name: "api"}, {Name: "sync", Max: 1, MaxWaiting: 1}}
	}))
	pooltest.FillQueue(t, pool, "sync")

	_, err := pool.Partition("sync").Exec(context.Background(), "SELECT 1")
	fmt.Println(errors.Is(err, poolguard.ErrQueueFull))
	// }

	// Output: true
}

func ExampleNoLeaks() {
	// func TestReport(t *testing.T) {
	t := &exampleT{name: "TestReport"}
	cfg := pooltest.New(t).Config() // stands for the test's own configuration

	// A Recorder set as OnLeak lets NoLeaks show the stacks of leaks the
	// pool proved during the test, here a connection used after its With
	// scope ended.
	rec := &pooltest.Recorder{}
	cfg.OnLeak = rec.Record
	pool, err := poolguard.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	pooltest.NoLeaks(t, pool, pooltest.Events(rec))

	ctx := context.Background()
	var escaped *poolguard.Conn
	_ = pool.With(ctx, func(c *poolguard.Conn) error {
		escaped = c
		return nil
	})
	_, err = escaped.Exec(ctx, "SELECT 1")
	fmt.Println(errors.Is(err, poolguard.ErrReleased))
	// }
	t.end()
	fmt.Println(strings.Contains(t.report(), "scope_escaped"))
	// Output:
	// true
	// true
}

// exampleT stands for a test's *testing.T in the examples: it records
// failures instead of failing, and end runs its cleanups.
type exampleT struct {
	testing.TB // nil: only the methods below are used

	name     string
	failed   bool
	errors   []string
	cleanups []func()
}

func (t *exampleT) Helper()             {}
func (t *exampleT) Name() string        { return t.name }
func (t *exampleT) Log(...any)          {}
func (t *exampleT) Logf(string, ...any) {}
func (t *exampleT) Failed() bool        { return t.failed }
func (t *exampleT) Cleanup(fn func())   { t.cleanups = append(t.cleanups, fn) }
func (t *exampleT) Error(args ...any) {
	t.failed = true
	t.errors = append(t.errors, fmt.Sprint(args...))
}
func (t *exampleT) Errorf(f string, a ...any) { t.Error(fmt.Sprintf(f, a...)) }
func (t *exampleT) Fatal(args ...any)         { t.Error(args...); panic(fmt.Sprint(args...)) }
func (t *exampleT) Fatalf(f string, a ...any) { t.Fatal(fmt.Sprintf(f, a...)) }
func (t *exampleT) report() string            { return strings.Join(t.errors, "\n") }

func (t *exampleT) end() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	t.cleanups = nil
}
