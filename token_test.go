package poolguard

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poolguard/poolguard/internal/wait"
	"github.com/poolguard/poolguard/pgtemp"
)

// TestRevokedLeaseFreesItsConnection checks that a connection whose lease
// was revoked while its handle held the leak token is freed once the
// handle is released: the token, given back after the connection closed,
// must not keep it alive (the two point at each other).
func TestRevokedLeaseFreesItsConnection(t *testing.T) {
	srv := pgtemp.New(t, pgtemp.Options{})
	cfg, err := ParseConfig(srv.DSN())
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var freed atomic.Bool
	func() {
		c, err := p.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c.tok == nil {
			t.Fatal("the handle holds no leak token")
		}
		runtime.AddCleanup(c.slot.Res.conn, func(b *atomic.Bool) { b.Store(true) }, &freed)
		if !p.Revoke(c.PID()) {
			t.Fatal("Revoke found no lease")
		}
		wait.Until(t, "the revoked connection closed", func() bool { return p.Stats().TotalConns == 0 })
		c.Release()
	}()
	wait.Until(t, "the revoked connection freed", func() bool {
		runtime.GC()
		return freed.Load()
	})
}
