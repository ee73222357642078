package pgtemp

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// sysProcAttr runs a child as cred (nil: as this process) and has the
// kernel send it SIGQUIT, PostgreSQL's immediate shutdown, if this process
// dies first. The kernel ties that signal to the thread that started the
// child, which is why children are started by startChild.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
}

// procStat returns the start time of process pid, in clock ticks since
// boot, and whether it is a zombie, from /proc/PID/stat; ok is false if
// that cannot be read.
func procStat(pid int) (start uint64, zombie, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false, false
	}
	// The command name, field 2, is in parentheses and may hold anything;
	// the fields after the last ")" start with the state, field 3.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false, false
	}
	fields := bytes.Fields(b[i+1:])
	if len(fields) < 20 {
		return 0, false, false
	}
	start, err = strconv.ParseUint(string(fields[19]), 10, 64) // field 22
	if err != nil {
		return 0, false, false
	}
	return start, string(fields[0]) == "Z" || string(fields[0]) == "X", true
}
