package otel_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/internal/wait"
	"github.com/poolguard/poolguard/otel"
	"github.com/poolguard/poolguard/pooltest"
)

// countingTracer counts the queries pgx traces through it.
type countingTracer struct{ starts, ends atomic.Int64 }

func (c *countingTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.starts.Add(1)
	return ctx
}

func (c *countingTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {
	c.ends.Add(1)
}

// syncBuffer is a bytes.Buffer for a logger written to by several
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newTracerProvider(t *testing.T) (*sdktrace.TracerProvider, *tracetest.InMemoryExporter) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, exp
}

// spansNamed returns the ended spans called name.
func spansNamed(exp *tracetest.InMemoryExporter, name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

func attr(s tracetest.SpanStub, key string) (string, bool) {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value.String(), true
		}
	}
	return "", false
}

// TestAcquireSpans shows a span for an acquire that waited, as a child of
// the caller's span, one with an error status for an acquire that timed
// out, none for an acquire served at once, and pgx's query tracing passed
// through to the wrapped tracer.
func TestAcquireSpans(t *testing.T) {
	tp, exp := newTracerProvider(t)
	queries := &countingTracer{}
	tr := otel.NewTracer(otel.WithTracerProvider(tp), otel.WithQueryTracer(queries))
	p := pooltest.New(t, pooltest.Configure(func(cfg *poolguard.Config) {
		cfg.MaxConns = 1
		cfg.ConnConfig.Tracer = tr
	}))
	ctx := ctxTimeout(t, 30*time.Second)
	// Opening the connection counts as waiting; do it before looking.
	if _, err := p.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if queries.starts.Load() == 0 || queries.ends.Load() != queries.starts.Load() {
		t.Errorf("wrapped tracer saw %d query starts and %d ends, want as many, at least one", queries.starts.Load(), queries.ends.Load())
	}
	exp.Reset()

	reqCtx, req := tp.Tracer("test").Start(ctx, "request")
	if _, err := p.Exec(reqCtx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if got := spansNamed(exp, "poolguard.acquire"); len(got) != 0 {
		t.Errorf("%d acquire spans for an acquire served at once, want none", len(got))
	}

	held, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		c, err := p.Acquire(reqCtx)
		if err == nil {
			c.Release()
		}
		done <- err
	}()
	wait.Until(t, "the second acquire waits", func() bool { return p.Stats().Total().Waiting == 1 })
	held.Release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	spans := spansNamed(exp, "poolguard.acquire")
	if len(spans) != 1 {
		t.Fatalf("%d acquire spans, want 1", len(spans))
	}
	s := spans[0]
	if s.Parent.SpanID() != req.SpanContext().SpanID() || s.SpanContext.TraceID() != req.SpanContext().TraceID() {
		t.Errorf("acquire span's parent %v, want the request's span %v", s.Parent.SpanID(), req.SpanContext().SpanID())
	}
	if v, _ := attr(s, "poolguard.partition"); v != poolguard.DefaultPartition {
		t.Errorf("poolguard.partition = %q, want %q", v, poolguard.DefaultPartition)
	}
	if v, ok := attr(s, "poolguard.acquire.wait_time"); !ok || v == "0" {
		t.Errorf("poolguard.acquire.wait_time = %q, want the wait", v)
	}
	if !s.EndTime.After(s.StartTime) {
		t.Errorf("span from %v to %v: it should cover the wait", s.StartTime, s.EndTime)
	}
	if s.SpanKind != trace.SpanKindInternal {
		t.Errorf("span kind %v, want internal", s.SpanKind)
	}
	if s.Status.Code != codes.Unset {
		t.Errorf("status %v, want unset", s.Status)
	}

	// An acquire that runs out of time while the connection is held.
	exp.Reset()
	held, err = p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(reqCtx, 100*time.Millisecond)
	_, err = p.Acquire(short) //leakcheck:ignore the acquire fails
	cancel()
	held.Release()
	if !errors.Is(err, poolguard.ErrAcquireTimeout) {
		t.Fatalf("acquire: %v, want ErrAcquireTimeout", err)
	}
	spans = spansNamed(exp, "poolguard.acquire")
	if len(spans) != 1 {
		t.Fatalf("%d acquire spans for the failure, want 1", len(spans))
	}
	s = spans[0]
	if s.Status.Code != codes.Error || s.Status.Description == "" {
		t.Errorf("status %+v, want an error", s.Status)
	}
	reason, _ := attr(s, "poolguard.reject.reason")
	if reason != "timeout" && reason != "deadline" {
		t.Errorf("poolguard.reject.reason = %q, want timeout or deadline", reason)
	}
	if et, _ := attr(s, "error.type"); et != reason {
		t.Errorf("error.type = %q, want %q", et, reason)
	}
	if len(s.Events) == 0 || s.Events[0].Name != "exception" {
		t.Errorf("events %v, want the error recorded", s.Events)
	}
	req.End()
}

// TestLeakOnAcquiringSpan proves a leak of a lease acquired under a span
// still recording, which gets the leak as an event, and suspects a lease
// whose span has ended, which gets a new span linked to it; both are
// logged with the span's IDs.
func TestLeakOnAcquiringSpan(t *testing.T) {
	tp, exp := newTracerProvider(t)
	var log syncBuffer
	tr := otel.NewTracer(otel.WithTracerProvider(tp), otel.WithLogger(slog.New(slog.NewJSONHandler(&log, nil))))
	events := make(chan poolguard.LeakEvent, 16)
	p := pooltest.New(t, pooltest.ExpectLeaks(), pooltest.Configure(func(cfg *poolguard.Config) {
		cfg.SuspectAfter = 50 * time.Millisecond
		cfg.ConnConfig.Tracer = tr
		cfg.OnLeak = tr.OnLeak(func(ev poolguard.LeakEvent) { events <- ev })
	}))
	ctx := ctxTimeout(t, 30*time.Second)
	await := func(kind poolguard.LeakKind, poll func()) poolguard.LeakEvent {
		t.Helper()
		for {
			select {
			case ev := <-events:
				if ev.Kind == kind {
					return ev
				}
			case <-time.After(5 * time.Millisecond):
				poll()
			case <-ctx.Done():
				t.Fatalf("no %s leak event", kind)
			}
		}
	}

	// A proven leak while the request is still in progress.
	reqCtx, req := tp.Tracer("test").Start(ctx, "request")
	leak(reqCtx, t, p.Partition(poolguard.DefaultPartition))
	ev := await(poolguard.LeakUnreachable, gc)
	req.End()
	spans := spansNamed(exp, "request")
	if len(spans) != 1 {
		t.Fatalf("%d request spans, want 1", len(spans))
	}
	var found bool
	for _, e := range spans[0].Events {
		if e.Name != "poolguard.leak" {
			continue
		}
		found = true
		got := map[string]string{}
		for _, kv := range e.Attributes {
			got[string(kv.Key)] = kv.Value.String()
		}
		if got["poolguard.leak.kind"] != "unreachable" || got["poolguard.leak.call_site"] != ev.CallSite || !strings.Contains(ev.CallSite, "helpers_test.go") {
			t.Errorf("leak event %v, want kind unreachable at %s (helpers_test.go)", got, ev.CallSite)
		}
	}
	if !found {
		t.Errorf("request span's events %v, want poolguard.leak", spans[0].Events)
	}
	if !strings.Contains(log.String(), req.SpanContext().TraceID().String()) || !strings.Contains(log.String(), req.SpanContext().SpanID().String()) {
		t.Errorf("log %q, want the request's trace_id and span_id", log.String())
	}

	// A suspect whose request has ended: a new span, linked to it.
	req2Ctx, req2 := tp.Tracer("test").Start(ctx, "request2")
	c, err := p.Acquire(req2Ctx)
	if err != nil {
		t.Fatal(err)
	}
	req2.End()
	await(poolguard.LeakSuspected, func() {})
	spans = spansNamed(exp, "poolguard.leak")
	if len(spans) != 1 {
		t.Fatalf("%d poolguard.leak spans, want 1", len(spans))
	}
	s := spans[0]
	if len(s.Links) != 1 || s.Links[0].SpanContext.SpanID() != req2.SpanContext().SpanID() {
		t.Errorf("links %v, want one to request2's span", s.Links)
	}
	if s.Parent.IsValid() {
		t.Errorf("leak span has parent %v, want a root linked to the request", s.Parent)
	}
	if k, _ := attr(s, "poolguard.leak.kind"); k != "suspected" {
		t.Errorf("poolguard.leak.kind = %q, want suspected", k)
	}
	if !strings.Contains(log.String(), req2.SpanContext().SpanID().String()) {
		t.Errorf("log %q, want request2's span_id", log.String())
	}

	// Released after all: reported after the release, still on its span.
	c.Release()
	await(poolguard.LeakSuspectReturned, func() {})
	spans = spansNamed(exp, "poolguard.leak")
	if len(spans) != 2 {
		t.Fatalf("%d poolguard.leak spans, want 2", len(spans))
	}
	s = spans[1]
	if k, _ := attr(s, "poolguard.leak.kind"); k != "suspect_returned" || len(s.Links) != 1 || s.Links[0].SpanContext.SpanID() != req2.SpanContext().SpanID() {
		t.Errorf("second leak span: kind %q, links %v; want suspect_returned linked to request2", k, s.Links)
	}
	if s.Status.Code == codes.Error {
		t.Error("a suspect returned is not an error")
	}
}

// TestLeakWithoutSpan shows that a lease acquired with no span in its
// context is not remembered and its leak events pass through.
func TestLeakWithoutSpan(t *testing.T) {
	tp, exp := newTracerProvider(t)
	tr := otel.NewTracer(otel.WithTracerProvider(tp))
	events := make(chan poolguard.LeakEvent, 16)
	p := pooltest.New(t, pooltest.Configure(func(cfg *poolguard.Config) {
		cfg.SuspectAfter = 50 * time.Millisecond
		cfg.ConnConfig.Tracer = tr
		cfg.OnLeak = tr.OnLeak(func(ev poolguard.LeakEvent) { events <- ev })
	}))
	ctx := ctxTimeout(t, 30*time.Second)
	// Opened for the acquire, the connection makes an acquire span, to
	// which the leak would be attached; an idle one makes none.
	if _, err := p.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	exp.Reset()
	c, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	select {
	case ev := <-events:
		if ev.Kind != poolguard.LeakSuspected {
			t.Fatalf("event %v, want a suspect", ev.Kind)
		}
	case <-ctx.Done():
		t.Fatal("the held lease was never suspected")
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Errorf("%d spans, want none", n)
	}
}

// fullTracer counts every call of the tracer interfaces it implements.
type fullTracer struct {
	countingTracer
	acquireStarts, acquireEnds, releases, connectStarts, connectEnds atomic.Int64
}

func (f *fullTracer) TraceAcquireStart(ctx context.Context, _ *poolguard.Pool, _ poolguard.TraceAcquireStartData) context.Context {
	f.acquireStarts.Add(1)
	return ctx
}

func (f *fullTracer) TraceAcquireEnd(context.Context, *poolguard.Pool, poolguard.TraceAcquireEndData) {
	f.acquireEnds.Add(1)
}

func (f *fullTracer) TraceRelease(*poolguard.Pool, poolguard.TraceReleaseData) { f.releases.Add(1) }

func (f *fullTracer) TraceConnectStart(ctx context.Context, _ pgx.TraceConnectStartData) context.Context {
	f.connectStarts.Add(1)
	return ctx
}

func (f *fullTracer) TraceConnectEnd(context.Context, pgx.TraceConnectEndData) { f.connectEnds.Add(1) }

// TestWrapsPoolTracer shows that a wrapped tracer which is also a
// poolguard AcquireTracer, ReleaseTracer and pgx ConnectTracer still gets
// each of those calls.
func TestWrapsPoolTracer(t *testing.T) {
	inner := &fullTracer{}
	tr := otel.NewTracer(otel.WithQueryTracer(inner))
	p := pooltest.New(t, pooltest.Configure(func(cfg *poolguard.Config) { cfg.ConnConfig.Tracer = tr }))
	if _, err := p.Exec(ctxTimeout(t, 30*time.Second), "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		n    *atomic.Int64
	}{
		{"TraceAcquireStart", &inner.acquireStarts}, {"TraceAcquireEnd", &inner.acquireEnds},
		{"TraceRelease", &inner.releases}, {"TraceConnectStart", &inner.connectStarts},
		{"TraceConnectEnd", &inner.connectEnds}, {"TraceQueryStart", &inner.starts}, {"TraceQueryEnd", &inner.ends},
	} {
		if got := c.n.Load(); got != 1 {
			t.Errorf("%s called %d times, want once", c.name, got)
		}
	}
}
