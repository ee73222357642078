package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Exit statuses, documented in doc.go and docs/runbook.md.
const (
	exitOK      = 0 // done; status and activity found nothing to flag
	exitTrouble = 1 // the command ran and found trouble, for scripts to gate on
	exitUsage   = 2 // a bad command, flag or argument; nothing was started
	exitFailed  = 3 // the command could not do its job: unreachable, refused, failed
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// A command is one subcommand: its name, a one-line summary, its usage,
// and the function that parses its arguments and returns what to run.
type command struct {
	name, summary, usage string
	// setup validates args and returns the work to do, or a usage error.
	// Nothing may start (no connection, no server) before it returns.
	setup func(args []string, env *env) (func(ctx context.Context) error, error)
}

// env is what a command runs with: its outputs, and the process's
// environment, which tests replace.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	// tty reports whether stdout is a terminal, for top's redrawing.
	tty bool
}

var commands []*command

func init() {
	commands = []*command{
		statusCmd, leasesCmd, activityCmd, revokeCmd, pauseCmd, resumeCmd,
		terminateCmd, topCmd, sizeCmd, replayCmd, versionCmd,
	}
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

func mainUsage() string {
	var b strings.Builder
	b.WriteString(`usage: poolguard COMMAND [flags] [arguments]

poolguard reads and acts on a running service's pool through its admin
handler (package admin, at URL, such as http://127.0.0.1:8080/debug/pool/),
and on the PostgreSQL server directly (--dsn).

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-10s %s\n", c.name, c.summary)
	}
	b.WriteString(`
Run "poolguard help COMMAND" or "poolguard COMMAND -h" for a command's flags.

Exit status: 0 done; 1 the command found trouble (status: a partition is
exhausted or has suspected leaks; activity: a connection is flagged;
replay: below --min-success); 2 a bad command, flag or argument; 3 the
command could not do its job (service or server unreachable, refused,
failed).
`)
	return b.String()
}

// run runs the command line args (without the program name) and returns
// the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runEnv(ctx, args, &env{stdout: stdout, stderr: stderr, getenv: os.Getenv, tty: isTerminal(stdout)})
}

func runEnv(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, mainUsage())
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		if name == "help" && len(args) > 1 {
			c := lookup(args[1])
			if c == nil {
				fmt.Fprintf(e.stderr, "poolguard help: unknown command %q (run \"poolguard help\" for the list)\n", args[1])
				return exitUsage
			}
			fmt.Fprint(e.stdout, c.usage)
			return exitOK
		}
		fmt.Fprint(e.stdout, mainUsage())
		return exitOK
	}
	c := lookup(name)
	if c == nil {
		fmt.Fprintf(e.stderr, "poolguard: unknown command %q (run \"poolguard help\" for the list)\n", name)
		return exitUsage
	}
	work, err := c.setup(args[1:], e)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(e.stdout, c.usage)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "poolguard %s: %v (run \"poolguard %s -h\" for usage)\n", c.name, err, c.name)
		return exitUsage
	}
	err = work(ctx)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errTrouble):
		return exitTrouble
	case errors.Is(err, errBelowThreshold):
		fmt.Fprintf(e.stderr, "poolguard %s: %v\n", c.name, err)
		return exitTrouble
	}
	fmt.Fprintf(e.stderr, "poolguard %s: %v\n", c.name, err)
	return exitFailed
}

// errTrouble is returned by a command that printed what it found and
// should exit with exitTrouble.
var errTrouble = errors.New("trouble found")

// newFlagSet returns a FlagSet that reports nothing itself: run prints one
// line for a bad flag, and the command's usage for -h.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("poolguard "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseArgs parses args with fs, allowing flags after the positional
// arguments (poolguard revoke URL --pid 42), and returns the positional
// arguments. "--" ends the flags.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// positive checks that a duration flag is above zero.
func positive(name string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("--%s must be above zero, got %s", name, d)
	}
	return nil
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
