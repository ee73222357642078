package prom_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/pooltest"
)

// BenchmarkCollect measures one scrape's collection of a pool of 100,
// idle and with all 100 connections leased, the outage's state.
func BenchmarkCollect(b *testing.B) {
	for _, leases := range []int{0, 100} {
		b.Run(fmt.Sprintf("leases=%d", leases), func(b *testing.B) {
			p := pooltest.New(b, pooltest.Configure(func(cfg *poolguard.Config) { cfg.MaxConns = 100 }))
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			for range leases {
				c, err := p.Acquire(ctx)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Release()
			}
			c := newCollector(b, p)
			ch := make(chan prometheus.Metric, 64)
			var wg sync.WaitGroup
			wg.Go(func() {
				for range ch {
				}
			})
			b.ReportAllocs()
			for b.Loop() {
				c.Collect(ch)
			}
			close(ch)
			wg.Wait()
		})
	}
}

// BenchmarkAcquireDuringCollect measures acquire and release on a warm
// pool, alone and while another goroutine collects without pause: the two
// should be close, since Collect holds nothing of the pool's for long.
func BenchmarkAcquireDuringCollect(b *testing.B) {
	for _, collecting := range []bool{false, true} {
		name := "idle"
		if collecting {
			name = "collecting"
		}
		b.Run(name, func(b *testing.B) {
			p := pooltest.New(b)
			c := newCollector(b, p)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			stop := make(chan struct{})
			var wg sync.WaitGroup
			if collecting {
				wg.Go(func() {
					ch := make(chan prometheus.Metric, 64)
					go func() {
						for range ch {
						}
					}()
					defer close(ch)
					for {
						select {
						case <-stop:
							return
						default:
							c.Collect(ch)
						}
					}
				})
			}
			b.ReportAllocs()
			for b.Loop() {
				conn, err := p.Acquire(ctx)
				if err != nil {
					b.Fatal(err)
				}
				conn.Release()
			}
			close(stop)
			wg.Wait()
		})
	}
}
