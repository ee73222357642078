package soak

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// quitPostmaster sends SIGQUIT (an immediate shutdown) to the postmaster
// whose backend has process ID backend, and waits until it has exited and
// been reaped.
func quitPostmaster(ctx context.Context, backend int) error {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", backend))
	if err != nil {
		return fmt.Errorf("find the postmaster: %w", err)
	}
	// The fields after the command, which is in parentheses and may hold
	// anything, are: state, parent's PID.
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 2 {
		return fmt.Errorf("find the postmaster: unexpected /proc/%d/stat: %q", backend, s)
	}
	postmaster, err := strconv.Atoi(fields[1])
	if err != nil {
		return fmt.Errorf("find the postmaster: %w", err)
	}
	if err := syscall.Kill(postmaster, syscall.SIGQUIT); err != nil {
		return fmt.Errorf("signal the postmaster: %w", err)
	}
	for {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", postmaster)); errors.Is(err, os.ErrNotExist) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the postmaster did not exit after SIGQUIT: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}
