package pgtemp

import "syscall"

// sysProcAttr runs a child as cred (nil: as this process) and has the
// kernel send it SIGQUIT, PostgreSQL's immediate shutdown, if this process
// dies first. The kernel ties that signal to the thread that started the
// child, which is why children are started by startChild.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
}
