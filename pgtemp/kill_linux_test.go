package pgtemp_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/poolguard/poolguard/internal/wait"
	"github.com/poolguard/poolguard/pgtemp"
)

// envKilledOwner makes TestKilledOwner the owner process that is killed.
const envKilledOwner = "PGTEMP_TEST_KILLED_OWNER"

// A process killed with SIGKILL closes nothing: its server dies with it,
// and the next Start removes the directory it left at once. Not parallel:
// another test's Start would remove the directory too soon.
func TestKilledOwner(t *testing.T) {
	if os.Getenv(envKilledOwner) != "" {
		s, err := pgtemp.Start(context.Background(), pgtemp.Options{})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("owner: %s %d\n", s.SocketDir(), postmasterPID(t, s))
		<-t.Context().Done() // until killed
		return
	}

	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestKilledOwner$", "-test.count=1")
	cmd.Env = append(os.Environ(), envKilledOwner+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // should this test be killed
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var dir string
	var pid int
	for sc := bufio.NewScanner(stdout); sc.Scan(); {
		if _, err := fmt.Sscanf(sc.Text(), "owner: %s %d", &dir, &pid); err == nil {
			break
		}
	}
	if dir == "" {
		cmd.Wait()
		t.Fatalf("the owner process reported no server:\n%s", stderr.String())
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	wait.Until(t, "the killed owner's postmaster has exited", func() bool { return !alive(pid) })
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the killed owner's directory: %v, want it left behind", err)
	}
	pgtemp.New(t, pgtemp.Options{})
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the killed owner's directory %s is still there after Start: %v", dir, err)
	}
}
