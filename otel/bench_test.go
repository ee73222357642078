package otel_test

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/otel"
	"github.com/poolguard/poolguard/pooltest"
)

// BenchmarkAcquireRelease measures what the Tracer adds to an acquire and
// release served from the idle list: alone, feeding a registration's
// histograms, and remembering the lease under a request's span.
func BenchmarkAcquireRelease(b *testing.B) {
	for _, bc := range []struct {
		name             string
		tracer, register bool
		span             bool
	}{
		{"plain", false, false, false},
		{"tracer", true, false, false},
		{"tracer+register", true, true, false},
		{"tracer+register+span", true, true, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewInMemoryExporter()))
			defer tp.Shutdown(context.Background())
			var tr *otel.Tracer
			if bc.tracer {
				tr = otel.NewTracer(otel.WithTracerProvider(tp))
			}
			p := pooltest.New(b, pooltest.Configure(func(cfg *poolguard.Config) {
				if tr != nil {
					cfg.ConnConfig.Tracer = tr
				}
			}))
			if bc.register {
				mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
				defer mp.Shutdown(context.Background())
				if _, err := otel.Register(p, otel.WithMeterProvider(mp)); err != nil {
					b.Fatal(err)
				}
			}
			ctx := context.Background()
			if bc.span {
				c, sp := tp.Tracer("bench").Start(ctx, "request")
				defer sp.End()
				ctx = c
			}
			c, err := p.Acquire(ctx) // open the connection first
			if err != nil {
				b.Fatal(err)
			}
			c.Release()
			b.ReportAllocs()
			for b.Loop() {
				c, err := p.Acquire(ctx)
				if err != nil {
					b.Fatal(err)
				}
				c.Release()
			}
		})
	}
}
