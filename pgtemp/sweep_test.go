package pgtemp

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func TestSweepStale(t *testing.T) {
	old := time.Now().Add(-time.Hour)
	// mkdir makes a server directory, its lock held if locked, with an
	// owner file if o is not nil, aged an hour if aged.
	mkdir := func(locked, aged bool, o *owner) string {
		t.Helper()
		dir, err := os.MkdirTemp("", "pgtemp-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		lock, err := lockDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if aged {
			os.Chtimes(filepath.Join(dir, lockName), old, old)
		}
		if o != nil {
			if err := os.WriteFile(filepath.Join(dir, ownerName), fmt.Appendf(nil, "%d %d\n", o.pid, o.start), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if locked {
			t.Cleanup(func() { lock.Close() })
		} else {
			lock.Close() // as the kernel does when the owner dies
		}
		return dir
	}
	// A process that has exited.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("cannot run true:", err)
	}
	dead := &owner{pid: cmd.Process.Pid}
	me := self()
	reused := &owner{pid: me.pid, start: me.start + 1} // this PID, a later start

	removed := map[string]string{
		"old directory of a dead owner":                   mkdir(false, true, nil),
		"new directory of a dead owner":                   mkdir(false, false, dead),
		"directory of an owner whose PID has been reused": mkdir(false, false, reused),
	}
	if me.start == 0 {
		delete(removed, "directory of an owner whose PID has been reused") // no start times here
	}
	kept := map[string]string{
		"directory of a live owner":                            mkdir(true, true, nil),
		"new directory, perhaps not locked yet":                mkdir(false, false, nil),
		"directory of this live process":                       mkdir(true, false, &me),
		"dead owner by PID, lock held (another PID namespace)": mkdir(true, false, dead),
	}
	sweepStale(t.Logf)
	for what, dir := range removed {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s not removed: %v", what, err)
		}
	}
	for what, dir := range kept {
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("%s removed: %v", what, err)
		}
	}
}
