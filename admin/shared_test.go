package admin_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/admin"
	"github.com/poolguard/poolguard/internal/wait"
)

// dialer dials as pgx does, and once counting, counts the dials and sends
// them to redirect if it is set.
type dialer struct {
	counting atomic.Bool
	redirect atomic.Pointer[string]
	dials    atomic.Int64
}

func (d *dialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if d.counting.Load() {
		d.dials.Add(1)
		if to := d.redirect.Load(); to != nil {
			addr = *to
		}
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

// poolWithLease returns a pool whose connections are dialled by d, with
// one lease held, so that a snapshot reads pg_stat_activity.
func poolWithLease(t *testing.T, d *dialer) *poolguard.Pool {
	t.Helper()
	pool := newPool(t, "", func(cfg *poolguard.Config) { cfg.ConnConfig.DialFunc = d.dial })
	syncUserData(ctxTimeout(t, 30*time.Second), t, pool.Partition("sync"))
	return pool
}

// getSnapshots sends n requests for the snapshot at once and returns the
// snapshots.
func getSnapshots(t *testing.T, url string, n int) []admin.Snapshot {
	t.Helper()
	out := make([]admin.Snapshot, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp, err := http.Get(url + "/snapshot")
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET /snapshot: %s", resp.Status)
			}
			if err := json.NewDecoder(resp.Body).Decode(&out[i]); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	return out
}

// However many requests arrive at once, one connection reads
// pg_stat_activity for all of them.
func TestSnapshotShared(t *testing.T) {
	var d dialer
	pool := poolWithLease(t, &d)
	base := newHandler(t, pool, admin.Options{Refresh: time.Hour})
	d.counting.Store(true) // from here on, only the handler dials
	for i, s := range getSnapshots(t, base, 100) {
		if !s.Activity.OK || len(s.Leases) != 1 || !strings.HasPrefix(s.Leases[0].Query, "SELECT ?") {
			t.Fatalf("snapshot %d: activity %+v, leases %+v", i, s.Activity, s.Leases)
		}
	}
	if n := d.dials.Load(); n != 1 {
		t.Errorf("100 concurrent snapshots made %d connections, want 1", n)
	}
}

// blackHole accepts connections and never answers, until hangUp. It
// counts the connection attempts: the startup messages it receives, not
// the cancel requests that pgx sends on connections it gives up.
type blackHole struct {
	ln       net.Listener
	startups atomic.Int64
	mu       sync.Mutex
	conns    []net.Conn
}

func newBlackHole(t *testing.T) *blackHole {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackHole{ln: ln}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns = append(b.conns, c)
			b.mu.Unlock()
			wg.Go(func() {
				// Length, then the protocol version 3.0 of a startup message.
				var head [8]byte
				if _, err := io.ReadFull(c, head[:]); err == nil && binary.BigEndian.Uint32(head[4:]) == 3<<16 {
					b.startups.Add(1)
				}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		b.hangUp()
		wg.Wait()
		b.hangUp()
	})
	return b
}

func (b *blackHole) addr() *string {
	a := b.ln.Addr().String()
	return &a
}

// hangUp closes the connections accepted so far.
func (b *blackHole) hangUp() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		c.Close()
	}
	b.conns = nil
}

// With a server that never answers, concurrent requests wait for one
// connection attempt, not one each in turn.
func TestSnapshotUnreachable(t *testing.T) {
	var d dialer
	pool := poolWithLease(t, &d)
	base := newHandler(t, pool, admin.Options{Refresh: time.Hour, ActivityTimeout: 300 * time.Millisecond})
	hole := newBlackHole(t)
	d.redirect.Store(hole.addr())
	d.counting.Store(true)
	for i, s := range getSnapshots(t, base, 20) {
		if s.Activity.OK || !strings.Contains(s.Activity.Error, "no answer within 300ms") || len(s.Leases) != 1 {
			t.Fatalf("snapshot %d: activity %+v, leases %+v", i, s.Activity, s.Leases)
		}
	}
	if n := hole.startups.Load(); n != 1 {
		t.Errorf("20 concurrent snapshots made %d connection attempts, want 1", n)
	}
}

// A request whose client goes away returns at once, and does not cut
// short the snapshot that others wait for.
func TestSnapshotClientGone(t *testing.T) {
	var d dialer
	pool := poolWithLease(t, &d)
	h, err := admin.New(pool, admin.Options{Refresh: time.Hour, ActivityTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	hole := newBlackHole(t)
	d.redirect.Store(hole.addr())
	d.counting.Store(true)

	serve := func(ctx context.Context) (*httptest.ResponseRecorder, chan struct{}) {
		r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/snapshot", nil)
		r.Host = "127.0.0.1"
		w := httptest.NewRecorder()
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.ServeHTTP(w, r)
		}()
		return w, done
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, first := serve(ctx)
	wait.Until(t, "the snapshot is being taken", func() bool { return hole.startups.Load() == 1 })
	cancel()
	select {
	case <-first:
	case <-time.After(wait.Bound):
		t.Fatal("the request whose client went away still waits for the snapshot")
	}

	w, second := serve(context.Background())
	hole.hangUp() // the snapshot being taken fails now
	<-second
	var s admin.Snapshot
	if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil || w.Code != http.StatusOK {
		t.Fatalf("second request: %d %s", w.Code, w.Body)
	}
	if s.Activity.OK || strings.Contains(s.Activity.Error, "canceled") {
		t.Errorf("second request's activity: %+v, want the server's failure, not the first client's cancellation", s.Activity)
	}
	if n := hole.startups.Load(); n != 1 {
		t.Errorf("%d connection attempts, want 1", n)
	}
}

// An action's effect shows in the next snapshot, however recent the last.
func TestSnapshotAfterAction(t *testing.T) {
	pool := newPool(t, "")
	base := newHandler(t, pool, admin.Options{Token: token, Refresh: time.Hour})
	if s := snapshot(t, base); s.Partitions[1].Paused {
		t.Fatal("sync paused before the action")
	}
	if status, body := do(t, http.MethodPost, base+"/pause?partition=sync", token); status != http.StatusOK {
		t.Fatalf("pause: %d %s", status, body)
	}
	if s := snapshot(t, base); !s.Partitions[1].Paused {
		t.Error("the snapshot after pausing shows sync running")
	}
}
