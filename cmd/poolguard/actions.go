package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
)

var revokeCmd = &command{
	name:    "revoke",
	summary: "take leaked connections back through the service: by PID or by call site",
	usage: `usage: poolguard revoke URL --pid PID
       poolguard revoke URL --call-site FILE:LINE [--partition NAME]

Revokes leases through the admin handler at URL: the lease on one backend
(--pid, as listed by "poolguard leases"), or every lease acquired at one
call site (--call-site, as listed by "poolguard leases"). The pool closes
the connection and gives the slot back at once; the holder's next call
fails with ErrLeaseRevoked. Killing the backend (poolguard terminate) does
not give the slot back while the lease is held; this does.

Needs the admin token, from the environment variable POOLGUARD_ADMIN_TOKEN
or --token-file.

Flags:
  --pid PID              the backend process ID of the lease to revoke
  --call-site FILE:LINE  revoke every lease acquired there
  --partition NAME       with --call-site: only the leases of this partition
  --json                 print the result as JSON
` + clientUsage,
	setup: setupRevoke,
}

var pauseCmd = &command{
	name:    "pause",
	summary: "stop a partition's new acquires, through the service",
	usage: `usage: poolguard pause URL PARTITION [flags]

Pauses the partition through the admin handler at URL: its new acquires,
and callers waiting, fail at once with ErrPaused; leases already held are
not touched; other partitions go on and may use the capacity it frees.
The postmortem's "scale the sync job to zero", without a deploy. Undo
with "poolguard resume URL PARTITION".

Needs the admin token, from the environment variable POOLGUARD_ADMIN_TOKEN
or --token-file.

Flags:
  --json             print the result as JSON
` + clientUsage,
	setup: func(args []string, e *env) (func(context.Context) error, error) { return setupPause(args, e, "pause") },
}

var resumeCmd = &command{
	name:    "resume",
	summary: "let a paused partition acquire again",
	usage: `usage: poolguard resume URL PARTITION [flags]

Resumes a partition paused with "poolguard pause", through the admin
handler at URL.

Needs the admin token, from the environment variable POOLGUARD_ADMIN_TOKEN
or --token-file.

Flags:
  --json             print the result as JSON
` + clientUsage,
	setup: func(args []string, e *env) (func(context.Context) error, error) { return setupPause(args, e, "resume") },
}

// actionResult is an action's outcome as --json prints it.
type actionResult struct {
	Action  string `json:"action"`
	OK      bool   `json:"ok"`
	Message string `json:"message"`
}

func setupRevoke(args []string, e *env) (func(context.Context) error, error) {
	fs := newFlagSet("revoke")
	var cf clientFlags
	cf.register(fs)
	asJSON := fs.Bool("json", false, "")
	pid := fs.String("pid", "", "")
	site := fs.String("call-site", "", "")
	partition := fs.String("partition", "", "")
	c, err := parseClientArgs(fs, args, &cf, e, "revoke URL --pid PID")
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	switch {
	case *pid != "" && *site != "":
		return nil, errors.New("give --pid or --call-site, not both")
	case *pid != "":
		n, err := strconv.ParseUint(*pid, 10, 32)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("--pid %q is not a backend process ID: use one listed by poolguard leases", *pid)
		}
		if *partition != "" {
			return nil, errors.New("--partition goes with --call-site; a PID names one lease already")
		}
		q.Set("pid", strconv.FormatUint(n, 10))
	case *site != "":
		if !validCallSite(*site) {
			return nil, fmt.Errorf("--call-site %q is not FILE:LINE: use one listed by poolguard leases, such as users/job.go:32", *site)
		}
		q.Set("callSite", *site)
		if *partition != "" {
			q.Set("partition", *partition)
		}
	default:
		return nil, errors.New("say what to revoke: --pid PID or --call-site FILE:LINE, as listed by poolguard leases")
	}
	return func(ctx context.Context) error { return doAction(ctx, c, e, "revoke", q, *asJSON) }, nil
}

// validCallSite reports whether s looks like FILE:LINE.
func validCallSite(s string) bool {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return false
	}
	n, err := strconv.Atoi(s[i+1:])
	return err == nil && n > 0
}

func setupPause(args []string, e *env, action string) (func(context.Context) error, error) {
	fs := newFlagSet(action)
	var cf clientFlags
	cf.register(fs)
	asJSON := fs.Bool("json", false, "")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) != 2 {
		return nil, fmt.Errorf("want two arguments, the admin URL and the partition: poolguard %s URL PARTITION, got %d", action, len(pos))
	}
	if pos[1] == "" {
		return nil, errors.New("the partition name is empty")
	}
	c, err := newClient(pos[0], cf, e)
	if err != nil {
		return nil, err
	}
	q := url.Values{"partition": {pos[1]}}
	return func(ctx context.Context) error { return doAction(ctx, c, e, action, q, *asJSON) }, nil
}

func doAction(ctx context.Context, c *client, e *env, action string, q url.Values, asJSON bool) error {
	msg, err := c.act(ctx, action, q)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(e.stdout, actionResult{Action: action, OK: true, Message: msg})
	}
	fmt.Fprintln(e.stdout, msg)
	return nil
}

var versionCmd = &command{
	name:    "version",
	summary: "print poolguard's version",
	usage: `usage: poolguard version [--json]

Prints the version of the poolguard module this binary was built from
("devel" for a build from a checkout) and the Go version.
`,
	setup: setupVersion,
}

func setupVersion(args []string, e *env) (func(context.Context) error, error) {
	fs := newFlagSet("version")
	asJSON := fs.Bool("json", false, "")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, fmt.Errorf("version takes no arguments, got %q", pos)
	}
	return func(context.Context) error {
		v, goVersion := version()
		if *asJSON {
			return writeJSON(e.stdout, map[string]string{"version": v, "go": goVersion})
		}
		fmt.Fprintf(e.stdout, "poolguard %s %s\n", v, goVersion)
		return nil
	}, nil
}

// version returns the module's version, "devel" when the binary was not
// built from a released module (go build in a checkout, go run, tests).
func version() (string, string) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel", "unknown"
	}
	v := info.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	return v, info.GoVersion
}
