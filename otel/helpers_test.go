package otel_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/otel"
)

// ctxTimeout returns a context ended when the test ends, or after d.
func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// collect reads every metric of the reader, by name.
func collect(t *testing.T, r *sdkmetric.ManualReader) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != otel.ScopeName {
			t.Errorf("scope %q, want %q", sm.Scope.Name, otel.ScopeName)
		}
		if sm.Scope.SchemaURL != otel.SchemaURL {
			t.Errorf("schema URL %q, want %q", sm.Scope.SchemaURL, otel.SchemaURL)
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// attrs is a point's attributes as a map.
func attrs(s attribute.Set) map[string]string {
	m := map[string]string{}
	for _, kv := range s.ToSlice() {
		m[string(kv.Key)] = kv.Value.String()
	}
	return m
}

// matches reports whether s has every attribute of want.
func matches(s attribute.Set, want map[string]string) bool {
	got := attrs(s)
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// value returns the value of the one point of m whose attributes include
// want, and whether there is one.
func value(t *testing.T, ms map[string]metricdata.Metrics, name string, want map[string]string) (float64, bool) {
	t.Helper()
	m, ok := ms[name]
	if !ok {
		return 0, false
	}
	var vals []float64
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			if matches(p.Attributes, want) {
				vals = append(vals, float64(p.Value))
			}
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			if matches(p.Attributes, want) {
				vals = append(vals, float64(p.Value))
			}
		}
	case metricdata.Gauge[float64]:
		for _, p := range d.DataPoints {
			if matches(p.Attributes, want) {
				vals = append(vals, p.Value)
			}
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			if matches(p.Attributes, want) {
				vals = append(vals, float64(p.Count))
			}
		}
	default:
		t.Fatalf("%s: unexpected data %T", name, m.Data)
	}
	switch len(vals) {
	case 0:
		return 0, false
	case 1:
		return vals[0], true
	}
	t.Fatalf("%s%v: %d points, want one", name, want, len(vals))
	return 0, false
}

// with returns base with more attributes.
func with(base map[string]string, kv ...string) map[string]string {
	m := map[string]string{}
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// leak acquires a connection of partition and drops its handle without
// releasing it.
//
//go:noinline
func leak(ctx context.Context, t *testing.T, pt *poolguard.Partition) {
	c, err := pt.Acquire(ctx) //leakcheck:ignore leaked on purpose, for the exporter to show
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
}

// gc collects garbage, twice: the leak token's finalizer runs after the
// first.
func gc() {
	runtime.GC()
	runtime.GC()
}
