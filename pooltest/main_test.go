package pooltest_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/poolguard/poolguard/pooltest"
)

func TestMain(m *testing.M) {
	pooltest.VerifyTestMain(m)
}

// fakeT is a testing.TB that records failures instead of failing, so that
// tests can check what pooltest reports. It delegates the rest to the real
// test. Call finish to run its cleanups.
type fakeT struct {
	testing.TB

	mu       sync.Mutex
	errors   []string
	logs     []string
	failed   bool
	cleanups []func()
}

func newFakeT(t testing.TB) *fakeT {
	ft := &fakeT{TB: t}
	t.Cleanup(ft.finish)
	return ft
}

// fatal is the panic of fakeT.Fatal, recovered by run.
type fatal struct{}

func (ft *fakeT) Error(args ...any) { ft.record(fmt.Sprint(args...)) }
func (ft *fakeT) Errorf(format string, args ...any) {
	ft.record(fmt.Sprintf(format, args...))
}
func (ft *fakeT) Fatal(args ...any) {
	ft.record(fmt.Sprint(args...))
	panic(fatal{})
}
func (ft *fakeT) Fatalf(format string, args ...any) {
	ft.record(fmt.Sprintf(format, args...))
	panic(fatal{})
}
func (ft *fakeT) Log(args ...any) { ft.log(fmt.Sprint(args...)) }
func (ft *fakeT) Logf(format string, args ...any) {
	ft.log(fmt.Sprintf(format, args...))
}

func (ft *fakeT) log(s string) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.logs = append(ft.logs, s)
}

func (ft *fakeT) record(s string) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.errors = append(ft.errors, s)
	ft.failed = true
}

func (ft *fakeT) Failed() bool {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return ft.failed
}

func (ft *fakeT) Cleanup(fn func()) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.cleanups = append(ft.cleanups, fn)
}

// run runs fn as the body of the fake test, stopping at a Fatal.
func (ft *fakeT) run(fn func()) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(fatal); !ok {
				panic(r)
			}
		}
	}()
	fn()
}

// finish runs the cleanups, last registered first, as testing does. It
// may be called more than once.
func (ft *fakeT) finish() {
	for {
		ft.mu.Lock()
		n := len(ft.cleanups)
		if n == 0 {
			ft.mu.Unlock()
			return
		}
		fn := ft.cleanups[n-1]
		ft.cleanups = ft.cleanups[:n-1]
		ft.mu.Unlock()
		ft.run(fn)
	}
}

// report returns the recorded failures, one after the other.
func (ft *fakeT) report() string {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return strings.Join(ft.errors, "\n")
}

func (ft *fakeT) logText() string {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return strings.Join(ft.logs, "\n")
}

// mustContain fails t unless s contains each of subs.
func mustContain(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not contain %q:\n%s", what, sub, s)
		}
	}
}
