package pgtemp_test

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"testing"

	"github.com/poolguard/poolguard/internal/wait"
	"github.com/poolguard/poolguard/pgtemp"
)

// A server started from a goroutine locked to its thread outlives that
// thread, which ends when the goroutine returns: the server is the
// process's, not the thread's.
func TestStartFromExitingThread(t *testing.T) {
	t.Parallel()
	type started struct {
		s   *pgtemp.Server
		tid int
		err error
	}
	errMainThread := errors.New("on the main thread")
	var r started
	for r.s == nil {
		ch := make(chan started, 1)
		go func() {
			runtime.LockOSThread()
			if syscall.Gettid() == os.Getpid() {
				// The runtime never ends the main thread, so try again
				// on another.
				runtime.UnlockOSThread()
				ch <- started{err: errMainThread}
				return
			}
			// Never unlocked: the thread exits with the goroutine.
			s, err := pgtemp.Start(t.Context(), pgtemp.Options{})
			ch <- started{s, syscall.Gettid(), err}
		}()
		if r = <-ch; r.err != nil && r.err != errMainThread {
			t.Fatal(r.err)
		}
	}
	t.Cleanup(func() { r.s.Close() })
	task := fmt.Sprintf("/proc/self/task/%d", r.tid)
	wait.Until(t, "the goroutine's thread has exited", func() bool {
		_, err := os.Stat(task)
		return errors.Is(err, os.ErrNotExist)
	})
	// The thread is gone, so a parent-death signal tied to it has been
	// sent: a server that took it is shutting down or gone.
	pid := postmasterPID(t, r.s)
	for range 3 {
		queryInt(t, connect(t, r.s.DSN()), "SELECT 1")
	}
	if !alive(pid) {
		t.Errorf("postmaster %d has exited", pid)
	}
}

// alive reports whether the process pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, in parentheses.
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == ')' {
			return i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
		}
	}
	return false
}
