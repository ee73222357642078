// Package otel exports a poolguard pool to OpenTelemetry: its metrics,
// under the semantic conventions' db.client.connection.* names and
// poolguard's own poolguard.* names, and spans for acquires that waited or
// failed, with leak events attached to the span that was active when the
// leaked lease was acquired.
//
// Register creates the instruments with a MeterProvider; one callback reads
// one Pool.Stats snapshot per collection for all of them. NewTracer returns
// the pool's ConnConfig.Tracer, which makes the acquire spans, records the
// connection histograms and remembers each lease's span context for the
// OnLeak hook it returns.
//
// The package is a module of its own, so that a service that does not use
// OpenTelemetry does not have it in its module graph.
package otel
