package pgtemp

import (
	"os/exec"
	"runtime"
	"sync"
)

// The kernel sends a child its parent-death signal (see sysProcAttr) when
// the thread that forked it exits, not when the process does. A Go program
// may run Start on a goroutine locked to its thread (runtime.LockOSThread)
// that then returns without unlocking, which ends the thread, and with it
// the server. So every child is forked from one goroutine that locks its
// thread and lives as long as any child it started is running; only then
// does it return, taking the thread with it, so that an idle program keeps
// no goroutine of pgtemp's.
var spawner struct {
	mu       sync.Mutex
	running  int               // children started and not yet waited for
	requests chan spawnRequest // nil when the goroutine is not running
}

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

// spawnLoop starts the children it is asked to on its own thread, until
// requests is closed.
func spawnLoop(requests <-chan spawnRequest) {
	runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
	for r := range requests {
		r.done <- r.cmd.Start()
	}
}

// startChild starts cmd from the spawner's thread. Unless it fails, the
// caller must call the returned function once cmd.Wait has returned.
func startChild(cmd *exec.Cmd) (exited func(), err error) {
	spawner.mu.Lock()
	if spawner.requests == nil {
		spawner.requests = make(chan spawnRequest)
		go spawnLoop(spawner.requests)
	}
	spawner.running++
	requests := spawner.requests
	spawner.mu.Unlock()

	done := make(chan error, 1)
	requests <- spawnRequest{cmd, done}
	if err := <-done; err != nil {
		childExited()
		return nil, err
	}
	return sync.OnceFunc(childExited), nil
}

func childExited() {
	spawner.mu.Lock()
	defer spawner.mu.Unlock()
	if spawner.running--; spawner.running == 0 {
		close(spawner.requests)
		spawner.requests = nil
	}
}
