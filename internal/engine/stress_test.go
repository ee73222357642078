package engine

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// TestStress runs workers that acquire, hold, release, revoke and fail to
// open at random, with short timeouts, while another pauses partitions and
// runs maintenance. No two workers may ever hold one resource, the caps
// hold at every sample, and once all is done no place or lease is lost.
func TestStress(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	cfg := Config{MaxConns: 4, Parts: []PartConfig{pc("a", 1, 3, 4), pc("b", 1, 2, 4), pc("c", 0, 4, 4)}}
	e, err := New[*fakeRes](cfg)
	if err != nil {
		t.Fatal(err)
	}
	var workers, maint sync.WaitGroup
	stop := make(chan struct{})
	sample := func() {
		st := e.Stats()
		sum := 0
		for i, ps := range st.Parts {
			sum += ps.Held
			if ps.Held > cfg.Parts[i].Max {
				t.Errorf("seed %d: partition %d holds %d above its Max", seed, i, ps.Held)
			}
		}
		if st.Total > cfg.MaxConns || sum > cfg.MaxConns {
			t.Errorf("seed %d: Total %d, leases %d, above MaxConns", seed, st.Total, sum)
		}
	}
	for w := range 4 {
		workers.Add(1)
		go func() {
			defer workers.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for range 1500 {
				stressOnce(t, e, rng, len(cfg.Parts))
				sample()
			}
		}()
	}
	maint.Add(1)
	go func() {
		defer maint.Done()
		rng := rand.New(rand.NewPCG(seed, 99))
		for {
			select {
			case <-stop:
				for i := range cfg.Parts {
					e.SetPaused(i, false)
				}
				return
			default:
			}
			e.SetPaused(rng.IntN(len(cfg.Parts)), rng.IntN(3) == 0)
			u := e.Maintain(time.Now().Add(time.Duration(rng.IntN(2))*time.Hour), time.Minute, conns(1, 1, 0))
			for _, s := range u.Close {
				e.Closed(s)
			}
			for _, p := range u.Open {
				if rng.IntN(3) == 0 {
					e.OpenIdleFailed(p)
				} else if s := e.OpenedIdle(p, &fakeRes{}, time.Time{}); s != nil {
					e.Closed(s)
				}
			}
			sample()
			time.Sleep(50 * time.Microsecond)
		}
	}()
	workers.Wait()
	close(stop)
	maint.Wait()
	st := e.Stats()
	idle := 0
	for _, ps := range st.Parts {
		idle += ps.Idle
		if ps.Held != 0 || ps.Waiting != 0 {
			t.Errorf("seed %d: after the run partition %s holds %d, %d waiting", seed, ps.Name, ps.Held, ps.Waiting)
		}
	}
	if st.Total != idle {
		t.Errorf("seed %d: Total %d with %d idle and nothing held", seed, st.Total, idle)
	}
	for _, s := range e.Close() {
		e.Closed(s)
	}
	if st := e.Stats(); st.Total != 0 {
		t.Errorf("seed %d: Total %d after Close", seed, st.Total)
	}
}

// stressOnce is one random operation of a stress worker.
func stressOnce(t *testing.T, e *Engine[*fakeRes], rng *rand.Rand, parts int) {
	p := rng.IntN(parts)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(2000))*time.Microsecond)
	defer cancel()
	g, r, _ := e.Acquire(ctx, p, nil)
	switch r {
	case ReasonNone:
	case ReasonPaused, ReasonQueueFull, ReasonDeadline, ReasonTimeout:
		return
	default:
		t.Errorf("acquire refused with %v", r)
		return
	}
	s := g.Slot
	if s == nil {
		if rng.IntN(5) == 0 {
			e.OpenFailed(p)
			return
		}
		s = e.Opened(p, &fakeRes{}, time.Time{}, nil)
	}
	if n := s.Res.inUse.Add(1); n != 1 {
		t.Errorf("%d holders of one resource", n)
	}
	gen := s.Gen()
	if s.Enter(gen) != EnterOK {
		t.Errorf("the holder cannot enter its lease")
	}
	if rng.IntN(2) == 0 {
		time.Sleep(time.Duration(rng.IntN(200)) * time.Microsecond)
	}
	s.Exit(gen)
	s.Res.inUse.Add(-1)
	how := Release
	if rng.IntN(8) == 0 {
		how = Revoke
	}
	en := e.End(s, gen, how, rng.IntN(4) != 0)
	switch {
	case !en.Ended || en.Action == Interrupt:
		t.Errorf("End(%v) of an idle lease = %+v", how, en)
	case en.Action == Close:
		e.Closed(s)
	}
}
