//go:build unix && !linux

package pgtemp

import "syscall"

// sysProcAttr runs a child as cred (nil: as this process). Without Linux's
// parent-death signal, a server outlives a test process that crashes.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred}
}

// procStat would read a process's start time and zombie state; without
// /proc it reports that they are unknown.
func procStat(pid int) (start uint64, zombie, ok bool) { return 0, false, false }
