package pgtemp

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// A process is a running postmaster.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd.Wait has returned
}

// startProcess starts postgres for s and waits until it accepts
// connections. The network settings go on the command line, where they
// override anything in postgresql.conf, including ALTER SYSTEM.
func startProcess(ctx context.Context, s *Server) (*process, error) {
	logFile, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pgtemp: open server log: %w", err)
	}
	offset, _ := logFile.Seek(0, io.SeekEnd)
	cmd := exec.Command(s.postgres,
		"-D", s.dataDir(),
		"-p", strconv.Itoa(s.port),
		"-c", "listen_addresses="+s.host,
		"-c", "unix_socket_directories="+s.sockDir)
	cmd.Dir = s.dir // the caller's directory may be closed to the postgres user
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sysProcAttr(s.cred)
	childDone, err := startChild(cmd)
	logFile.Close() // the child holds its own copy
	if err != nil {
		return nil, fmt.Errorf("pgtemp: start postgres: %w", err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		childDone()
		close(p.exited)
	}()

	// Readiness is asked over the Unix socket, which is this server's
	// alone; another server may have taken the TCP port.
	if err := p.waitReady(ctx, s.socketDSN()); err != nil {
		p.stop(context.Background())
		tail := logTail(s.logPath(), offset)
		if strings.Contains(tail, "could not bind") || strings.Contains(tail, "could not create any TCP/IP sockets") {
			err = fmt.Errorf("%w (%d): %w", errPortInUse, s.port, err)
		}
		return nil, fmt.Errorf("%w\nserver log:\n%s", err, tail)
	}
	return p, nil
}

func (p *process) waitReady(ctx context.Context, dsn string) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	delay := 2 * time.Millisecond
	for {
		attemptCtx, cancelAttempt := context.WithTimeout(ctx, time.Second)
		conn, err := pgconn.Connect(attemptCtx, dsn)
		cancelAttempt()
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("pgtemp: postgres exited during start-up (%v)", p.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("pgtemp: postgres did not accept connections in time: %w (last attempt: %v)", ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 10*time.Millisecond)
	}
}

// stop asks for a fast shutdown, which ends client connections cleanly,
// then escalates to an immediate shutdown and finally to SIGKILL. When ctx
// is done it escalates without waiting, but it always waits for the
// process to exit after SIGKILL.
func (p *process) stop(ctx context.Context) error {
	steps := []struct {
		sig  syscall.Signal
		wait time.Duration
	}{
		{syscall.SIGINT, stopTimeout},
		{syscall.SIGQUIT, killTimeout},
		{syscall.SIGKILL, killTimeout},
	}
	for _, step := range steps {
		p.cmd.Process.Signal(step.sig) // fails only if it has already exited
		done := ctx.Done()
		if step.sig == syscall.SIGKILL {
			done = nil
		}
		timer := time.NewTimer(step.wait)
		select {
		case <-p.exited:
			timer.Stop()
			return nil
		case <-timer.C:
		case <-done:
			timer.Stop()
		}
	}
	return fmt.Errorf("pgtemp: postgres (pid %d) still running after SIGKILL", p.cmd.Process.Pid)
}

// logTail returns the end of the server log written since offset.
func logTail(path string, offset int64) string {
	const tailSize = 4 << 10
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read server log: %v)", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(cannot read server log: %v)", err)
	}
	offset = max(offset, info.Size()-tailSize)
	b := make([]byte, max(info.Size()-offset, 0))
	n, _ := f.ReadAt(b, offset)
	return string(b[:n])
}
