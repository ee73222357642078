package userapi_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/poolguard/poolguard/examples/userapi/userapi"
	"github.com/poolguard/poolguard/internal/users"
	"github.com/poolguard/poolguard/internal/wait"
)

// TestShutdownInFlight checks that a shutdown lets the requests in flight
// finish, stops the job, and closes the pool. The requests are held in
// flight by a lock on the users table, so no timing is involved.
func TestShutdownInFlight(t *testing.T) {
	pool, ev := newPool(t, 3, 0, 10)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- userapi.Run(ctx, ln, pool, userapi.RunOptions{
			Sync: users.SyncUser, Logger: slog.New(slog.DiscardHandler),
			// Long enough that a loaded machine cannot time the held
			// requests out before the shutdown starts.
			Handler:         userapi.HandlerOptions{RequestTimeout: time.Minute},
			ShutdownTimeout: time.Minute,
		})
	}()

	locker, err := pgx.ConnectConfig(t.Context(), pool.Config().ConnConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close(context.Background())
	tx, err := locker.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), "LOCK TABLE users IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}

	const n = 4
	codes := make(chan int, n)
	for range n {
		go func() {
			resp, err := http.Get("http://" + ln.Addr().String() + "/users/1")
			if err != nil {
				t.Error(err)
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	wait.Until(t, "the requests to wait on the lock", func() bool {
		var waiting int
		// Not on locker: pg_stat_activity is a snapshot per transaction.
		err := pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND query = $1`, users.SelectUser).Scan(&waiting)
		return err == nil && waiting == n
	})

	stop() // the shutdown starts with n requests in flight
	wait.Until(t, "the listener to close", func() bool {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	for range n {
		if code := <-codes; code != http.StatusOK {
			t.Errorf("request in flight at shutdown: status %d, want 200", code)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := pool.Exec(t.Context(), "SELECT 1"); err == nil {
		t.Fatal("the pool still serves after Run returned")
	}
	if len(ev.Events()) != 0 {
		t.Fatalf("leaks at shutdown: %v", ev.Events())
	}
}
