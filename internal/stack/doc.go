// Package stack records the caller's stack cheaply, for the lease records
// that name the line that acquired a connection.
//
// runtime.Callers unwinds with the functions' metadata, which costs time
// for every frame; on amd64 and arm64, Go keeps a frame pointer in every
// frame, and following those pointers costs a couple of nanoseconds a
// frame, as the runtime's execution tracer does. The program counters are
// those of physical frames: runtime.CallersFrames expands the frames that
// were inlined into them, so the formatted stack is the same as
// runtime.Callers'. Elsewhere, Callers is runtime.Callers.
package stack
