package otel

import (
	"context"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/pooltest"
)

func (t *Tracer) remembered() map[uint32]bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := map[uint32]bool{}
	for pid := range t.leases {
		m[pid] = true
	}
	return m
}

// TestLeasesBounded shows that the Tracer forgets a lease at its release,
// and that a lease it did not see end (revoked) is dropped when the bound
// is reached, to make room for a new one.
func TestLeasesBounded(t *testing.T) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewInMemoryExporter()))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tr := NewTracer(WithTracerProvider(tp), WithLeaseLimit(2))
	p := pooltest.New(t, pooltest.Configure(func(cfg *poolguard.Config) { cfg.ConnConfig.Tracer = tr }))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx, span := tp.Tracer("test").Start(ctx, "request")
	defer span.End()

	acquire := func() (*poolguard.Conn, uint32) {
		t.Helper()
		c, err := p.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		leases := p.Leases()
		return c, leases[len(leases)-1].PID // the newest
	}
	c1, pid1 := acquire()
	c2, pid2 := acquire()
	if got := tr.remembered(); len(got) != 2 || !got[pid1] || !got[pid2] {
		t.Fatalf("remembered %v, want %d and %d", got, pid1, pid2)
	}
	if !p.Revoke(pid1) {
		t.Fatal("Revoke found no lease")
	}
	c1.Release() // revoked: no release to see
	if got := tr.remembered(); !got[pid1] {
		t.Fatalf("remembered %v: the revoked lease is forgotten before the bound is reached", got)
	}
	c3, pid3 := acquire()
	if got := tr.remembered(); len(got) != 2 || got[pid1] || !got[pid2] || !got[pid3] {
		t.Errorf("remembered %v at the bound, want %d and %d, not the revoked %d", got, pid2, pid3, pid1)
	}
	c2.Release()
	c3.Release()
	if got := tr.remembered(); len(got) != 0 {
		t.Errorf("remembered %v after every release, want none", got)
	}
}
