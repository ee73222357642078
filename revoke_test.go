package poolguard_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/internal/wait"
	"github.com/poolguard/poolguard/pooltest"
)

// TestRevokeDuringHealthCheck revokes a lease while its acquire is still
// checking the idle connection it was granted, as the soak's chaos
// goroutine did under load. The engine records the lease, held and not
// busy, as soon as it grants the slot, so Pool.Revoke (and MaxHold, and
// Close) can end it then, and Pool.end has the connection closed
// (pgx.Conn.Close, on a goroutine of the pool's) while Partition.healthy
// still uses the same pgx.Conn: IsClosed, ShouldPing, Ping. pgx.Conn is
// not safe for concurrent use; the race detector reports the write of
// pgconn.PgConn.Close against the read of IsClosed in healthy.
//
// The test makes the window wide with ShouldPing, which runs inside it:
// it revokes the lease there and waits for its backend to go. The
// connection under the check must not have been closed by someone else:
// the check runs inside a call on the lease, so the revocation interrupts
// it, and the acquire moves on to another connection.
func TestRevokeDuringHealthCheck(t *testing.T) {
	var pool *poolguard.Pool
	var armed atomic.Bool
	revoked := false
	pool = pooltest.New(t, pooltest.Configure(func(c *poolguard.Config) {
		c.MaxConns = 1
		c.ShouldPing = func(ctx context.Context, p poolguard.ShouldPingParams) bool {
			if !armed.CompareAndSwap(true, false) {
				return false
			}
			pid := p.Conn.PgConn().PID()
			if !pool.Revoke(pid) {
				return true // not revocable yet: what a fix may do
			}
			revoked = true
			wait.Until(t, "the revoked backend exits", func() bool { return !backendAlive(t, pid) })
			if p.Conn.IsClosed() {
				t.Errorf("Revoke closed the connection under the health check of the acquire it was granted to")
			}
			return true
		}
	}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.Release() // idle now: the next acquire checks it
	armed.Store(true)
	c, err = pool.Acquire(ctx)
	if err == nil {
		c.Release()
	}
	if !revoked {
		t.Log("the lease could not be revoked during its health check")
	}
}
