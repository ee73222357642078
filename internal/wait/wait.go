// Package wait polls for a condition in tests against a real server, where
// outcomes are asserted and durations never are.
package wait

import (
	"testing"
	"time"
)

// Bound is how long Until waits: generous, since CI machines may be loaded.
const Bound = 30 * time.Second

// Until polls cond every few milliseconds until it holds, and fails the
// test if it still does not after Bound. what says what was awaited.
func Until(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(Bound); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	tb.Fatalf("timed out waiting until %s", what)
}
