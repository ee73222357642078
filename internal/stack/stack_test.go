package stack

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// frames formats pcs as runtime.CallersFrames does, function and line.
func frames(pcs []uintptr) []string {
	var out []string
	fr := runtime.CallersFrames(pcs)
	for more := len(pcs) > 0; more; {
		var f runtime.Frame
		f, more = fr.Next()
		out = append(out, fmt.Sprintf("%s:%d", f.Function, f.Line))
	}
	return out
}

// both records the stack with Callers and with runtime.Callers, from the
// same line.
//
//go:noinline
func both(depth int) (ours, theirs []string) {
	a, b := make([]uintptr, depth), make([]uintptr, depth)
	n, m := Callers(1, a), runtime.Callers(1, b)
	return frames(a[:n]), frames(b[:m])
}

func inlined(depth int) ([]string, []string) { return both(depth) } // small enough to be inlined

//go:noinline
func nested(n, depth int) ([]string, []string) {
	if n == 0 {
		return inlined(depth)
	}
	return nested(n-1, depth)
}

// TestCallersAsRuntime checks that the formatted stacks agree with
// runtime.Callers', inlined frames included, at every depth that holds the
// whole stack.
func TestCallersAsRuntime(t *testing.T) {
	for _, n := range []int{0, 1, 5, 20} {
		ours, theirs := nested(n, 64)
		// Both name the same line of both as the first frame; their
		// second frames differ by the column within that line only.
		if len(ours) == 0 || ours[0] != theirs[0] {
			t.Fatalf("nesting %d: first frame %v, want %v", n, ours, theirs)
		}
		// runtime.Callers leaves out the wrappers that go statements
		// make; frame pointers do not.
		ours = slices.DeleteFunc(ours, func(f string) bool { return strings.Contains(f, ".gowrap") })
		if !slices.Equal(ours[1:], theirs[1:]) {
			t.Fatalf("nesting %d:\n ours   %v\n theirs %v", n, ours, theirs)
		}
	}
}

// TestCallersSkipAndDepth checks skip and a buffer shorter than the stack.
func TestCallersSkipAndDepth(t *testing.T) {
	var pcs [3]uintptr
	n := Callers(2, pcs[:])
	if n != 3 {
		t.Fatalf("Callers filled %d of 3", n)
	}
	got := frames(pcs[:1])
	if want := "testing.tRunner"; len(got) == 0 || !strings.HasPrefix(got[0], want) {
		t.Fatalf("skipping this test's frame, the first is %v, want %s", got, want)
	}
	if Callers(1000, pcs[:]) != 0 {
		t.Fatal("skipping more frames than there are recorded some")
	}
}

func BenchmarkCallers(b *testing.B) {
	for _, depth := range []int{1, 8, 32} {
		pcs := make([]uintptr, depth)
		b.Run(fmt.Sprintf("stack/depth=%d", depth), func(b *testing.B) {
			for b.Loop() {
				Callers(1, pcs)
			}
		})
		b.Run(fmt.Sprintf("runtime/depth=%d", depth), func(b *testing.B) {
			for b.Loop() {
				runtime.Callers(1, pcs)
			}
		})
	}
}
