package poolguard

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// AcquireTracer traces acquires. A Config.ConnConfig.Tracer that
// implements it is called around every acquire, as pgxpool calls its own
// AcquireTracer; pgx's QueryTracer, BatchTracer, CopyFromTracer and
// ConnectTracer on the same tracer keep working as with pgx, so a tracing
// library that supports pgxpool can support poolguard with the same shape.
type AcquireTracer interface {
	// TraceAcquireStart is called at the start of an acquire; the context
	// it returns is the one passed to TraceAcquireEnd.
	TraceAcquireStart(ctx context.Context, pool *Pool, data TraceAcquireStartData) context.Context
	// TraceAcquireEnd is called when the acquire got a connection or failed.
	TraceAcquireEnd(ctx context.Context, pool *Pool, data TraceAcquireEndData)
}

// TraceAcquireStartData describes an acquire that starts.
type TraceAcquireStartData struct {
	Partition string
}

// TraceAcquireEndData describes the outcome of an acquire.
type TraceAcquireEndData struct {
	Partition string
	// Conn is the connection handed out, nil on failure. It may be used
	// only during the call.
	Conn *pgx.Conn
	// Err is the acquire's error: an *AcquireError when it was refused.
	Err error
	// Waited is how long the acquire waited for a connection, opening one
	// included; zero when an idle connection was at hand.
	Waited time.Duration
}

// ReleaseTracer traces releases. A Config.ConnConfig.Tracer that
// implements it is called when a holder releases a connection, as
// pgxpool calls its own ReleaseTracer. Leases taken back (proven leaks,
// revocations) are reported as LeakEvents instead.
type ReleaseTracer interface {
	TraceRelease(pool *Pool, data TraceReleaseData)
}

// TraceReleaseData describes a release.
type TraceReleaseData struct {
	Partition string
	// Conn is the connection released. It may be used only during the call.
	Conn *pgx.Conn
	// Held is how long the lease was held.
	Held time.Duration
}
