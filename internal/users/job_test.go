package users_test

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/internal/users"
	"github.com/poolguard/poolguard/internal/wait"
	"github.com/poolguard/poolguard/pooltest"
)

func TestMigrateTwice(t *testing.T) {
	pool, _ := newPool(t, 0, 0, 4)
	err := pool.With(t.Context(), func(c *poolguard.Conn) error { return users.Migrate(t.Context(), c) })
	if err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	var n int
	if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil || n != 2 {
		t.Fatalf("schema_migrations has %d rows (%v), want 2", n, err)
	}
}

func TestSyncJob(t *testing.T) {
	for _, tc := range []struct {
		mode         string
		corruptEvery int
		synced, bad  int
		wantLeak     bool
	}{
		{"fixed", 0, 5, 0, false},
		{"buggy", 0, 5, 0, false},
		{"fixed", 2, 3, 2, false},
		// One corrupt user, the last, so the leak does not block the pass.
		{"buggy", 5, 4, 1, true},
	} {
		t.Run(fmt.Sprintf("%s/corrupt-every-%d", tc.mode, tc.corruptEvery), func(t *testing.T) {
			// A pool of 20 gives the job 2 connections: one to leak, one to list users.
			pool, ev := newPool(t, 5, tc.corruptEvery, 20, pooltest.ExpectLeaks())
			syncFn, err := users.ParseSyncMode(tc.mode)
			if err != nil {
				t.Fatal(err)
			}
			job := &users.Job{DB: pool.Partition(users.PartitionSync), Sync: syncFn, Logger: slog.New(slog.DiscardHandler)}
			res, err := job.Pass(t.Context())
			if err != nil || res.Synced != tc.synced || res.Invalid != tc.bad || res.Failed != 0 {
				t.Fatalf("Pass = %+v, %v; want %d synced, %d invalid", res, err, tc.synced, tc.bad)
			}
			var unsynced int
			if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM users WHERE synced_at IS NULL").Scan(&unsynced); err != nil || unsynced != tc.bad {
				t.Fatalf("%d users not synced (%v), want %d", unsynced, err, tc.bad)
			}
			sync := pool.Partition(users.PartitionSync)
			if !tc.wantLeak {
				if st := sync.Stats(); st.InUse != 0 || st.LeaksProven() != 0 {
					t.Fatalf("after the pass: %d in use, %d leaks; want none", st.InUse, st.LeaksProven())
				}
				return
			}
			// The leaked Conn is unreachable: the next collection proves it.
			wait.Until(t, "the leak to be proven", func() bool {
				runtime.GC()
				return len(ev.Events()) > 0 && sync.Stats().InUse == 0
			})
			got := ev.Events()[0]
			want := fmt.Sprintf("users/job.go:%d", buggyAcquireLine(t))
			if got.Kind != poolguard.LeakUnreachable || got.CallSite != want || got.Partition != users.PartitionSync {
				t.Fatalf("leak event %v, want an unreachable leak of partition sync at %s", got, want)
			}
			if n := sync.Stats().Reclaimed.Of(poolguard.ReclaimLeak); n != 1 {
				t.Fatalf("%d connections reclaimed, want 1", n)
			}
		})
	}
}

// TestSyncBuggyMaxHold checks the other way out of a leak: a lease that is
// still referenced is never proven by the collector, but MaxHold revokes it.
func TestSyncBuggyMaxHold(t *testing.T) {
	pool, _ := newPool(t, 1, 1, 4, pooltest.ExpectLeaks(), pooltest.Configure(func(cfg *poolguard.Config) {
		cfg.DisableLeakTracking = true
		if err := users.Configure(cfg, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}))
	sync := pool.Partition(users.PartitionSync)
	if err := users.SyncUserBuggy(t.Context(), sync, slog.New(slog.DiscardHandler), 1); !errors.Is(err, users.ErrValidation) {
		t.Fatalf("SyncUserBuggy on a corrupt user: %v, want a validation error", err)
	}
	wait.Until(t, "MaxHold to revoke the leaked lease", func() bool {
		st := sync.Stats()
		return st.InUse == 0 && st.Reclaimed.Of(poolguard.ReclaimMaxHold) == 1
	})
}

func TestConfigure(t *testing.T) {
	cfg := &poolguard.Config{MaxConns: 1}
	if err := users.Configure(cfg, 0); err == nil {
		t.Fatal("Configure accepted a pool of 1")
	}
	cfg.MaxConns = 100
	if err := users.Configure(cfg, 0); err != nil {
		t.Fatal(err)
	}
	if api, sync := cfg.Partitions[0], cfg.Partitions[1]; api.Guaranteed != 90 || sync.Max != 10 {
		t.Fatalf("partitions %+v, want api guaranteed 90, sync max 10", cfg.Partitions)
	}
	if _, err := users.ParseSyncMode("leaky"); err == nil {
		t.Fatal("ParseSyncMode accepted an unknown mode")
	}
}

// buggyAcquireLine returns the line of job.go holding the buggy acquire.
func buggyAcquireLine(t *testing.T) int {
	t.Helper()
	src, err := os.ReadFile("job.go")
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(src), "\n") {
		if strings.Contains(line, "the buggy acquire") {
			return i + 1
		}
	}
	t.Fatal("job.go has no line marked as the buggy acquire")
	return 0
}

// TestQueriesOnEveryHandle runs the sqlc-shaped queries on a partition, a
// connection and a transaction, including the :copyfrom one.
func TestQueriesOnEveryHandle(t *testing.T) {
	pool, _ := newPool(t, 0, 0, 4)
	ctx := t.Context()
	q := users.New(pool.Partition(users.PartitionAPI))
	if n, err := q.CreateUsers(ctx, []users.CreateUserParams{{Email: "a@x", Name: "A"}, {Email: "b@x", Name: "B"}}); err != nil || n != 2 {
		t.Fatalf("CreateUsers = %d, %v", n, err)
	}
	err := pool.With(ctx, func(c *poolguard.Conn) error {
		_, err := users.New(c).CreateUser(ctx, users.CreateUserParams{Email: "c@x", Name: "C"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	err = pool.WithTx(ctx, func(tx pgx.Tx) error {
		return q.WithTx(tx).MarkUserSynced(ctx, 1)
	})
	if err != nil {
		t.Fatal(err)
	}
	all, err := q.ListUsers(ctx, users.ListUsersParams{Limit: 10})
	if err != nil || len(all) != 3 || all[0].SyncedAt == nil || all[1].SyncedAt != nil {
		t.Fatalf("ListUsers = %+v, %v", all, err)
	}
	if _, err := q.GetUser(ctx, 99); !errors.Is(err, users.ErrNotFound) {
		t.Fatalf("GetUser(99) = %v, want ErrNotFound", err)
	}
}
