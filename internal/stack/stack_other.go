//go:build !amd64 && !arm64

package stack

import "runtime"

// Callers fills pcs with the return program counters of the calling
// goroutine's stack, as runtime.Callers does, and returns how many it
// wrote. skip is the number of frames to skip before recording, with 1
// the caller of Callers.
//
//go:noinline
func Callers(skip int, pcs []uintptr) int { return runtime.Callers(skip+1, pcs) }
