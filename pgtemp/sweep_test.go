package pgtemp

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSweepStale(t *testing.T) {
	old := time.Now().Add(-time.Hour)
	mkdir := func(locked bool) string {
		dir, err := os.MkdirTemp("", "pgtemp-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		lock, err := lockDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		os.Chtimes(filepath.Join(dir, lockName), old, old)
		if locked {
			t.Cleanup(func() { lock.Close() })
		} else {
			lock.Close() // as the kernel does when the owner dies
		}
		return dir
	}
	dead, alive := mkdir(false), mkdir(true)
	sweepStale(t.Logf)
	if _, err := os.Stat(dead); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("directory of a dead owner not removed: %v", err)
	}
	if _, err := os.Stat(alive); err != nil {
		t.Errorf("directory of a live owner removed: %v", err)
	}
}
