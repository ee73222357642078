package pooltest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/pooltest"
)

// errValidation is the outage's DataValidationError.
var errValidation = errors.New("user data failed validation")

// syncUserDataBuggy is the outage's sync job, ported as it was: on a
// validation error it returns early and never releases the connection.
func syncUserDataBuggy(ctx context.Context, pool *poolguard.Pool, userID int) error {
	conn, err := pool.Acquire(ctx) //leakcheck:ignore the outage's bug, kept on purpose
	if err != nil {
		return err
	}
	var email string
	if err := conn.QueryRow(ctx, "SELECT email FROM users WHERE id = $1", userID).Scan(&email); err != nil {
		conn.Release()
		return err
	}
	if !strings.Contains(email, "@") {
		return fmt.Errorf("user %d: %w", userID, errValidation) // the connection is never released
	}
	conn.Release()
	return nil
}

// syncUserDataFixed is the fix: With releases the connection on every path.
func syncUserDataFixed(ctx context.Context, pool *poolguard.Pool, userID int) error {
	return pool.With(ctx, func(conn *poolguard.Conn) error {
		var email string
		if err := conn.QueryRow(ctx, "SELECT email FROM users WHERE id = $1", userID).Scan(&email); err != nil {
			return err
		}
		if !strings.Contains(email, "@") {
			return fmt.Errorf("user %d: %w", userID, errValidation)
		}
		return nil
	})
}

// acquireLine returns "file:line" of the first line of file that
// contains code, as a leak report names it.
func acquireLine(t *testing.T, file, code string) string {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(src), "\n") {
		if strings.Contains(line, code) {
			return fmt.Sprintf("%s:%d", file, i+1)
		}
	}
	t.Fatalf("%s has no line with %q", file, code)
	return ""
}

// withBadUser creates the users table with one user whose data fails
// validation, and returns that user's ID.
func withBadUser(t testing.TB, pool *poolguard.Pool) int {
	t.Helper()
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL);
		INSERT INTO users VALUES (1, 'alice@example.com'), (2, 'corrupted')`); err != nil {
		t.Fatal(err)
	}
	return 2
}

// TestOutage is the postmortem's test, "the pool's connections are the same
// before and after a job that hits a validation error", in one line.
func TestOutage(t *testing.T) {
	t.Parallel()
	t.Run("buggy", func(t *testing.T) {
		t.Parallel()
		ft := newFakeT(t)
		ft.run(func() {
			pool := pooltest.New(ft, pooltest.Grace(0))
			bad := withBadUser(ft, pool)
			if err := syncUserDataBuggy(context.Background(), pool, bad); !errors.Is(err, errValidation) {
				t.Fatalf("sync: got %v, want a validation error", err)
			}
		})
		ft.finish()
		if !ft.Failed() {
			t.Fatal("NoLeaks passed a test that leaked a connection")
		}
		mustContain(t, "failure", ft.report(), `partition "default"`, "syncUserDataBuggy", "held ",
			acquireLine(t, "outage_test.go", "conn, err := pool.Acquire(ctx)"))
	})
	t.Run("fixed", func(t *testing.T) {
		t.Parallel()
		pool := pooltest.New(t)
		bad := withBadUser(t, pool)
		if err := syncUserDataFixed(context.Background(), pool, bad); !errors.Is(err, errValidation) {
			t.Fatalf("sync: got %v, want a validation error", err)
		}
	})
}

// TestRealTestFails runs TestLeakyHelper, the buggy job in a real test, in
// a child process of this test binary, and checks that it fails there as a
// user would see it.
func TestRealTestFails(t *testing.T) {
	t.Parallel()
	cmd := exec.CommandContext(ctxFor(t), os.Args[0], "-test.run=^TestLeakyHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), "POOLTEST_LEAKY=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("the leaky test did not fail: %v\n%s", err, out)
	}
	mustContain(t, "output", string(out), "--- FAIL: TestLeakyHelper",
		acquireLine(t, "outage_test.go", "// the failure points "+"here")+": pooltest: 1 connection still held",
		acquireLine(t, "outage_test.go", "conn, err := pool.Acquire(ctx)"))
}

func TestLeakyHelper(t *testing.T) {
	if os.Getenv("POOLTEST_LEAKY") != "1" {
		t.Skip("run by TestRealTestFails")
	}
	pool := pooltest.New(t, pooltest.Grace(0)) // the failure points here
	if err := syncUserDataBuggy(context.Background(), pool, withBadUser(t, pool)); !errors.Is(err, errValidation) {
		t.Fatalf("sync: got %v, want a validation error", err)
	}
}
