// Package wait polls for a condition in tests, where outcomes are asserted
// and durations never are: the one polling helper of the project's tests.
package wait

import (
	"testing"
	"time"
)

// Bound is how long Until waits: generous, since CI machines may be loaded.
const Bound = 30 * time.Second

// Until polls cond until it holds, and fails the test if it still does not
// after Bound. what says what was awaited. It polls often at first, for
// outcomes in memory that take microseconds, then every few milliseconds,
// for a server's.
func Until(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	pause := 50 * time.Microsecond
	for deadline := time.Now().Add(Bound); time.Now().Before(deadline); time.Sleep(pause) {
		if cond() {
			return
		}
		pause = min(2*pause, 5*time.Millisecond)
	}
	tb.Fatalf("timed out waiting until %s", what)
}
