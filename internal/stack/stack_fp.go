//go:build amd64 || arm64

package stack

import "unsafe"

// getfp returns the frame pointer of its caller's frame.
func getfp() unsafe.Pointer

// Callers fills pcs with the return program counters of the calling
// goroutine's stack, as runtime.Callers does, and returns how many it
// wrote. skip is the number of frames to skip before recording, with 1
// the caller of Callers; it counts physical frames, into which frames may
// have been inlined.
//
//go:noinline
//go:nosplit
func Callers(skip int, pcs []uintptr) int {
	// Each frame holds the caller's frame pointer, and above it the return
	// address into the caller. The outermost frame's is nil. fp is a
	// pointer, not an integer, so a move of the stack would update it.
	fp := getfp() // Callers' own frame
	n := 0
	for fp != nil && n < len(pcs) {
		pc := *(*uintptr)(unsafe.Add(fp, unsafe.Sizeof(fp)))
		fp = *(*unsafe.Pointer)(fp)
		if skip > 1 {
			skip--
			continue
		}
		pcs[n] = pc
		n++
	}
	return n
}
