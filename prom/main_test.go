package prom_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/pooltest"
	"github.com/poolguard/poolguard/prom"
)

func TestMain(m *testing.M) { pooltest.VerifyTestMain(m) }

// newCollector returns a collector for p.
func newCollector(tb testing.TB, p *poolguard.Pool, opts ...prom.Option) *prom.Collector {
	tb.Helper()
	c, err := prom.NewCollector(p, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// gather collects c through a registry, as a scrape does, and returns the
// metric families by name.
func gather(t *testing.T, c prometheus.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	return byName
}

// metric returns the metric of family name whose labels include want, or
// fails the test.
func metric(t *testing.T, mfs map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	t.Helper()
	mf, ok := mfs[name]
	if !ok {
		t.Fatalf("no metric family %s", name)
	}
next:
	for _, m := range mf.GetMetric() {
		for k, v := range want {
			if !hasLabel(m, k, v) {
				continue next
			}
		}
		return m
	}
	t.Fatalf("no %s with labels %v", name, want)
	return nil
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// value returns the value of a gauge or counter.
func value(t *testing.T, c prometheus.Collector, name string, labels map[string]string) float64 {
	t.Helper()
	m := metric(t, gather(t, c), name, labels)
	if m.Gauge != nil {
		return m.GetGauge().GetValue()
	}
	return m.GetCounter().GetValue()
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
