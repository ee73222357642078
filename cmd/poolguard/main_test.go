package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/admin"
	"github.com/poolguard/poolguard/internal/wait"
	"github.com/poolguard/poolguard/pgtemp"
	"github.com/poolguard/poolguard/pooltest"
)

func TestMain(m *testing.M) { pooltest.VerifyTestMain(m) }

// Secrets that no command may print.
const (
	token    = "tok-6d1f0c3b9e-a47215"
	argument = "arg-carol-51e0@example.com"
)

// result is what a command printed and its exit status.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return "exit " + strconv.Itoa(r.code) + "\nstdout:\n" + r.stdout + "\nstderr:\n" + r.stderr
}

// cli runs a command line with env as the only environment, and checks
// that it printed no secret.
func cli(t *testing.T, vars map[string]string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runEnv(t.Context(), args, &env{stdout: &out, stderr: &errOut, getenv: func(k string) string { return vars[k] }})
	r := result{code, out.String(), errOut.String()}
	secrets := []string{token, argument}
	if pw := dsnPassword(pooltest.Server(t).DSN()); pw != "" {
		secrets = append(secrets, pw)
	}
	for _, s := range secrets {
		if strings.Contains(r.stdout+r.stderr, s) {
			t.Errorf("poolguard %s shows the secret %q:\n%s", strings.Join(args, " "), s, r)
		}
	}
	return r
}

// withToken is an environment holding the admin token.
var withToken = map[string]string{envToken: token}

// service is a pool with an "api" and a "sync" partition, its admin
// handler served as a service would (under /debug/pool/), and its
// connections named app/api and app/sync on the server.
type service struct {
	pool *poolguard.Pool
	url  string // the admin handler's
	app  string
}

func newService(t *testing.T, opts admin.Options) *service {
	t.Helper()
	return newServiceVia(t, opts, "")
}

// newServiceVia is newService with the pool connecting to dsn, if not
// empty, rather than to the shared server.
func newServiceVia(t *testing.T, opts admin.Options, dsn string) *service {
	t.Helper()
	app := "svc" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	pool := pooltest.New(t, pooltest.Configure(func(c *poolguard.Config) {
		if dsn != "" {
			cc, err := pgx.ParseConfig(dsn)
			if err != nil {
				t.Fatal(err)
			}
			c.ConnConfig = cc
		}
		c.MaxConns = 4
		c.ConnConfig.RuntimeParams["application_name"] = app
		c.Partitions = []poolguard.PartitionConfig{
			{Name: "api", Guaranteed: 2},
			{Name: "sync", Max: 1, SuspectAfter: 50 * time.Millisecond},
		}
	}))
	opts.Logger = slog.New(slog.DiscardHandler)
	// A snapshot is served for half of Refresh: each command sees the
	// state the test made, not the last command's.
	opts.Refresh = time.Millisecond
	h, err := admin.New(pool, opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/debug/pool/", http.StripPrefix("/debug/pool", h))
	web := httptest.NewServer(mux)
	t.Cleanup(web.Close)
	return &service{pool: pool, url: web.URL + "/debug/pool/", app: app}
}

// syncUserData is the outage's bug: it acquires a connection of the sync
// partition, runs a query with an argument inline (the simple protocol),
// and returns without releasing it. The test releases it when it ends, so
// that the pool's leak check passes.
func syncUserData(t *testing.T, s *service) *poolguard.Conn {
	t.Helper()
	conn, err := s.pool.Partition("sync").Acquire(t.Context()) //leakcheck:ignore the deliberate leak, released by the cleanup
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Release)
	if _, err := conn.Exec(t.Context(), "SELECT $1::text AS email", pgx.QueryExecModeSimpleProtocol, argument); err != nil {
		t.Fatal(err)
	}
	return conn
}

// leakSite returns the call site of the pool's only lease.
func leakSite(t *testing.T, pool *poolguard.Pool) string {
	t.Helper()
	ls := pool.Leases()
	if len(ls) != 1 {
		t.Fatalf("%d leases, want 1", len(ls))
	}
	return ls[0].CallSite
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		r := cli(t, nil, args...)
		if r.code != exitOK || !strings.Contains(r.stdout, "usage: poolguard COMMAND") || r.stderr != "" {
			t.Errorf("poolguard %s:\n%s", args[0], r)
		}
	}
	for _, c := range commands {
		for _, args := range [][]string{{c.name, "-h"}, {c.name, "--help"}, {"help", c.name}} {
			r := cli(t, nil, args...)
			if r.code != exitOK || !strings.HasPrefix(r.stdout, "usage: poolguard "+c.name) || r.stderr != "" {
				t.Errorf("poolguard %s:\n%s", strings.Join(args, " "), r)
			}
		}
	}
}

// Bad commands, flags and arguments: one line on stderr, exit 2, and
// nothing started (replay would print that it starts a server).
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	const u = "http://127.0.0.1:1/debug/pool/"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "usage: poolguard COMMAND"},
		{[]string{"rewind"}, `unknown command "rewind"`},
		{[]string{"help", "rewind"}, `unknown command "rewind"`},
		{[]string{"replay", "-min-success", "101"}, "between 0 and 100"},
		{[]string{"replay", "--duration", "soon"}, `invalid value "soon"`},
		{[]string{"replay", "--pools", "pgbouncer"}, `unknown pool "pgbouncer"`},
		{[]string{"replay", "extra"}, "no arguments"},
		{[]string{"replay", "--replicas", "0"}, "--replicas must be between 1 and 20"},
		{[]string{"replay", "--bouncer", "statement"}, "--bouncer must be transaction or session"},
		{[]string{"status"}, "missing the admin URL"},
		{[]string{"status", u, u}, "want one argument"},
		{[]string{"status", "--bogus", u}, "flag provided but not defined: -bogus"},
		{[]string{"status", "ftp://host/"}, "scheme must be http or https"},
		{[]string{"status", "http://"}, "names no host"},
		{[]string{"status", "http://user:" + token + "@localhost/"}, "carries credentials"},
		{[]string{"status", u, "--timeout", "0s"}, "--timeout must be above zero"},
		{[]string{"leases", u, "--token-file", filepath.Join(dir, "missing")}, "--token-file"},
		{[]string{"leases", u, "--token-file", empty}, "is empty"},
		{[]string{"top", u, "--interval", "-1s"}, "--interval must be above zero"},
		{[]string{"top", u, "--holders", "0"}, "--holders must be at least 1"},
		{[]string{"revoke", u}, "--pid PID or --call-site"},
		{[]string{"revoke", u, "--pid", "x1"}, "not a backend process ID"},
		{[]string{"revoke", u, "--pid", "1", "--call-site", "a.go:1"}, "not both"},
		{[]string{"revoke", u, "--call-site", "job.go"}, "is not FILE:LINE"},
		{[]string{"revoke", u, "--pid", "1", "--partition", "sync"}, "--partition goes with --call-site"},
		{[]string{"pause", u}, "want two arguments"},
		{[]string{"resume", u, "sync", "api"}, "want two arguments"},
		{[]string{"activity"}, "missing --dsn"},
		{[]string{"activity", "--dsn", "postgres://u@h/db", "--min-age", "0s"}, "--min-age must be above zero"},
		{[]string{"activity", "--dsn", "postgres://u:" + token + "@h:port/db"}, "bad --dsn"},
		{[]string{"activity", "--dsn", "postgres://u@h/db", "--admin", "ftp://x"}, "--admin: bad admin URL"},
		{[]string{"activity", "--dsn", "postgres://u@h/db", "stray"}, "flags only"},
		{[]string{"terminate", "--dsn", "postgres://u@h/db", "--min-idle", "1m"}, "missing --app"},
		{[]string{"terminate", "--dsn", "postgres://u@h/db", "--app", "x"}, "missing --min-idle"},
		{[]string{"terminate", "--dsn", "postgres://u@h/db", "--app", "x", "--min-idle", "0s"}, "--min-idle must be above zero"},
		{[]string{"terminate", "--dsn", "postgres://u@h/db", "--app", cliAppName, "--min-idle", "1m"}, "own connections"},
		{[]string{"terminate", "--app", "x", "--min-idle", "1m"}, "missing --dsn"},
		{[]string{"version", "now"}, "no arguments"},
		{[]string{"size", "--max-connections", "100"}, "missing --service"},
		{[]string{"size", "--service", "api:3"}, "missing --dsn or --max-connections"},
		{[]string{"size", "--max-connections", "100", "--service", "api"}, "want NAME:REPLICAS"},
		{[]string{"size", "--max-connections", "100", "--service", "api:0"}, "at least 1"},
		{[]string{"size", "--max-connections", "100", "--service", "api:2", "--service", "api:3"}, "named twice"},
		{[]string{"size", "--max-connections", "100", "--service", "api:2:=x"}, "MAXCONNS"},
		{[]string{"size", "--max-connections", "100", "--service", "api:2", "--partition", "jobs/sync:10"}, `no --service "jobs"`},
		{[]string{"size", "--max-connections", "100", "--service", "api:2", "--partition", "api/a:60", "--partition", "api/b:60"}, "above 100%"},
		{[]string{"size", "--max-connections", "100", "--service", "api:2", "--surge", "2"}, "--surge"},
	} {
		r := cli(t, nil, tc.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
			t.Errorf("poolguard %q: want exit 2 and a message mentioning %q\n%s", tc.args, tc.want, r)
		}
		if tc.args != nil && strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("poolguard %q: want one line on stderr\n%s", tc.args, r)
		}
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if code := run(t.Context(), []string{"version"}, &out, new(bytes.Buffer)); code != exitOK || !strings.HasPrefix(out.String(), "poolguard devel") {
		t.Errorf("run(version) = %d, %q", code, out.String())
	}
	r := cli(t, nil, "version")
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "poolguard devel go") {
		t.Errorf("version:\n%s", r)
	}
	r = cli(t, nil, "version", "--json")
	var v struct{ Version, Go string }
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.Version != "devel" {
		t.Errorf("version --json: %v\n%s", err, r)
	}
}

// The leak shows in status (exit 1, the partition exhausted, the suspect
// and its call site), in leases (its call site, PID, state and redacted
// query) and in activity (idle, flagged, joined with its lease).
func TestLeakVisible(t *testing.T) {
	s := newService(t, admin.Options{})
	if r := cli(t, nil, "status", s.url); r.code != exitOK || !strings.Contains(r.stdout, "healthy") {
		t.Fatalf("status before the leak:\n%s", r)
	}
	conn := syncUserData(t, s)
	site := leakSite(t, s.pool)
	pid := strconv.FormatUint(uint64(conn.PID()), 10)
	wait.Until(t, "the leak is suspected", func() bool { return s.pool.Leases()[0].Suspected })

	r := cli(t, nil, "status", s.url)
	for _, want := range []string{`partition "sync" is exhausted: 1/1 in use`, `partition "sync" holds 1 suspected leak: 1 at ` + site, "EXHAUSTED,SUSPECTS"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status lacks %q", want)
		}
	}
	if r.code != exitTrouble {
		t.Errorf("status: want exit 1\n%s", r)
	}
	var st status
	r = cli(t, nil, "status", "--json", s.url)
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || r.code != exitTrouble || st.Healthy ||
		!st.Partitions[1].Exhausted || st.Partitions[1].Suspects != 1 {
		t.Errorf("status --json: %v %+v\n%s", err, st, r)
	}

	r = cli(t, nil, "leases", s.url)
	for _, want := range []string{"sync  " + site, "1 lease", "1 suspected", pid, "idle", "SELECT ? ::text AS email"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("leases lacks %q\n%s", want, r)
		}
	}
	r = cli(t, nil, "leases", "--all", s.url)
	if r.code != exitOK || !strings.Contains(r.stdout, site) || !strings.Contains(r.stdout, pid) {
		t.Errorf("leases --all:\n%s", r)
	}
	var ls struct{ Leases []admin.Lease }
	r = cli(t, nil, "leases", "--json", s.url)
	if err := json.Unmarshal([]byte(r.stdout), &ls); err != nil || len(ls.Leases) != 1 || ls.Leases[0].CallSite != site {
		t.Errorf("leases --json: %v\n%s", err, r)
	}

	dsn := pooltest.Server(t).DSN()
	wait.Until(t, "the leaked connection is idle for a while, by the server's clock", func() bool {
		return cli(t, nil, "activity", "--dsn", dsn, "--app", s.app, "--min-age", "10ms").code == exitTrouble
	})
	r = cli(t, nil, "activity", "--dsn", dsn, "--app", s.app, "--min-age", "10ms", "--admin", s.url)
	var flagged string
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(line, "!") && strings.Contains(line, pid) {
			flagged = line
		}
	}
	for _, want := range []string{s.app + "/sync", "idle", "sync at " + site, "SELECT ? ::text AS email"} {
		if !strings.Contains(flagged, want) {
			t.Errorf("activity's line for PID %s lacks %q\n%s", pid, want, r)
		}
	}
	if r.code != exitTrouble || !strings.Contains(r.stdout, "--call-site "+site) {
		t.Errorf("activity --admin: want exit 1 and the revoke command\n%s", r)
	}
	var rep activityReport
	r = cli(t, nil, "activity", "--json", "--dsn", dsn, "--app", s.app, "--min-age", "10ms", "--admin", s.url)
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("activity --json: %v\n%s", err, r)
	}
	found := false
	for _, b := range rep.Backends {
		if b.PID == conn.PID() {
			found = b.Flagged && b.Lease != nil && b.Lease.CallSite == site && b.Lease.Partition == "sync"
		} else if b.Flagged {
			t.Errorf("activity --admin flags PID %d, which holds no lease: %+v", b.PID, b)
		}
	}
	if !found {
		t.Errorf("activity --json: the leaked backend is not flagged with its lease\n%s", r)
	}
}

// Revoking by call site gives the slot back: the holder's next call fails,
// the partition is no longer exhausted, and status exits 0.
func TestRevoke(t *testing.T) {
	s := newService(t, admin.Options{Token: token})
	conn := syncUserData(t, s)
	site := leakSite(t, s.pool)

	r := cli(t, withToken, "revoke", s.url, "--call-site", site)
	if r.code != exitOK || !strings.Contains(r.stdout, "1 lease acquired at "+site+" revoked") {
		t.Fatalf("revoke --call-site:\n%s", r)
	}
	if _, err := conn.Exec(t.Context(), "SELECT 1"); !errors.Is(err, poolguard.ErrLeaseRevoked) {
		t.Errorf("the holder's next call: %v, want ErrLeaseRevoked", err)
	}
	if err := s.pool.Partition("sync").With(t.Context(), func(*poolguard.Conn) error { return nil }); err != nil {
		t.Errorf("acquiring on sync after the revoke: %v", err)
	}
	if r := cli(t, nil, "status", s.url); r.code != exitOK {
		t.Errorf("status after the revoke:\n%s", r)
	}
	if r := cli(t, withToken, "revoke", s.url, "--call-site", site); r.code != exitFailed || !strings.Contains(r.stderr, "no lease acquired at") {
		t.Errorf("revoking again:\n%s", r)
	}

	// By PID, with the token from a file and the flags before the URL.
	conn = syncUserData(t, s)
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pid := strconv.FormatUint(uint64(conn.PID()), 10)
	r = cli(t, nil, "revoke", "--json", "--pid", pid, "--token-file", file, s.url)
	var res actionResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || r.code != exitOK || !res.OK || !strings.Contains(res.Message, pid) {
		t.Fatalf("revoke --pid: %v\n%s", err, r)
	}
	if _, err := conn.Exec(t.Context(), "SELECT 1"); !errors.Is(err, poolguard.ErrLeaseRevoked) {
		t.Errorf("the holder's next call: %v, want ErrLeaseRevoked", err)
	}
}

func TestPauseResume(t *testing.T) {
	s := newService(t, admin.Options{Token: token})
	if r := cli(t, withToken, "pause", s.url, "sync"); r.code != exitOK || !strings.Contains(r.stdout, `partition "sync" paused`) {
		t.Fatalf("pause:\n%s", r)
	}
	if _, err := s.pool.Partition("sync").Acquire(t.Context()); !errors.Is(err, poolguard.ErrPaused) { //leakcheck:ignore the partition is paused: this acquire fails
		t.Errorf("acquire on the paused partition: %v, want ErrPaused", err)
	}
	if r := cli(t, nil, "status", s.url); !strings.Contains(r.stdout, "paused") {
		t.Errorf("status of a paused partition:\n%s", r)
	}
	if r := cli(t, withToken, "resume", s.url, "sync"); r.code != exitOK {
		t.Fatalf("resume:\n%s", r)
	}
	if err := s.pool.Partition("sync").With(t.Context(), func(*poolguard.Conn) error { return nil }); err != nil {
		t.Errorf("acquire after resume: %v", err)
	}
	r := cli(t, withToken, "pause", s.url, "sink")
	if r.code != exitFailed || !strings.Contains(r.stderr, `no partition named "sink"`) || !strings.Contains(r.stderr, `"sync"`) {
		t.Errorf("pause of an unknown partition: want exit 3 naming the partitions\n%s", r)
	}
}

// Every way of not reaching the handler says what to do, and exits 3.
func TestAdminErrors(t *testing.T) {
	s := newService(t, admin.Options{Token: token})
	readOnly := newService(t, admin.Options{})
	guarded := newService(t, admin.Options{Token: token, ReadToken: "read-" + token})
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("hello")) }))
	defer plain.Close()
	wrong := map[string]string{envToken: "wrong-" + token}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no token", nil, []string{"pause", s.url, "sync"}, "needs the admin token: set POOLGUARD_ADMIN_TOKEN"},
		{"wrong token", wrong, []string{"pause", s.url, "sync"}, "answered 403 (the admin token is wrong): check the token in POOLGUARD_ADMIN_TOKEN"},
		{"actions disabled", withToken, []string{"revoke", readOnly.url, "--pid", "1"}, "runs without an admin token"},
		{"read token missing", nil, []string{"status", guarded.url}, "answered 401"},
		{"read token wrong", wrong, []string{"leases", guarded.url}, "answered 403"},
		{"unreachable", nil, []string{"status", gone.URL + "/debug/pool/"}, "cannot reach the admin endpoint"},
		{"not the handler", nil, []string{"status", strings.TrimSuffix(s.url, "/debug/pool/") + "/elsewhere/"}, "no admin handler there"},
		{"not JSON", nil, []string{"top", "--once", plain.URL}, "did not answer with JSON"},
		{"unknown pid", withToken, []string{"revoke", s.url, "--pid", "1"}, "no lease on backend PID 1"},
		{"unreachable server", nil, []string{"activity", "--dsn", "postgres://u:" + token + "@127.0.0.1:1/db", "--timeout", "5s"}, "cannot connect to PostgreSQL"},
	} {
		r := cli(t, tc.env, tc.args...)
		if r.code != exitFailed || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: want exit 3 and a message mentioning %q\n%s", tc.name, tc.want, r)
		}
	}
	// A token about to travel unencrypted is warned about.
	r := cli(t, withToken, "status", "--timeout", "1ms", "http://192.0.2.1/debug/pool/")
	if !strings.Contains(r.stderr, "warning: the admin token goes to 192.0.2.1 unencrypted") {
		t.Errorf("status on a remote http URL with a token:\n%s", r)
	}
	// The read token reads.
	if r := cli(t, map[string]string{envToken: "read-" + token}, "status", guarded.url); r.code != exitOK {
		t.Errorf("status with the read token:\n%s", r)
	}
}

func TestTop(t *testing.T) {
	s := newService(t, admin.Options{})
	syncUserData(t, s)
	site := leakSite(t, s.pool)
	r := cli(t, nil, "top", "--once", s.url)
	if r.code != exitOK || !strings.Contains(r.stdout, "sync") || !strings.Contains(r.stdout, site) || strings.Contains(r.stdout, "\x1b") {
		t.Errorf("top --once:\n%s", r)
	}

	// On a terminal, each frame clears the screen first.
	var tty bytes.Buffer
	if code := runEnv(t.Context(), []string{"top", "--once", s.url}, &env{stdout: &tty, stderr: new(bytes.Buffer), getenv: func(string) string { return "" }, tty: true}); code != exitOK ||
		!strings.HasPrefix(tty.String(), "\x1b[H\x1b[2J") {
		t.Errorf("top --once on a terminal: exit %d\n%q", code, tty.String())
	}

	// Not on a terminal, frames follow one another until interrupted.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := &frameCounter{cancel: cancel, after: 3}
	code := runEnv(ctx, []string{"top", "--interval", "10ms", "--json", s.url}, &env{stdout: out, stderr: new(bytes.Buffer), getenv: func(string) string { return "" }})
	if code != exitOK {
		t.Errorf("top interrupted: exit %d, want 0", code)
	}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var f topFrame
		if err := json.Unmarshal([]byte(line), &f); err != nil || len(f.Holders) != 1 || f.Holders[0].CallSite != site {
			t.Errorf("top --json frame: %v %s", err, line)
		}
	}
}

// frameCounter collects top's output and cancels after a few frames.
type frameCounter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	n      int
	after  int
	cancel func()
}

func (f *frameCounter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n++; f.n == f.after {
		f.cancel()
	}
	return f.buf.Write(p)
}

func (f *frameCounter) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buf.String()
}

// terminate ends exactly the backends of the application idle for long
// enough: not an active one, not another application's, not another
// database's, and nothing at all in a dry run.
func TestTerminate(t *testing.T) {
	ctx := t.Context()
	srv := pooltest.Server(t)
	const app = "victim"
	open := func(dsn, name string) *pgx.Conn {
		t.Helper()
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		cfg.RuntimeParams["application_name"] = name
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	dsn := srv.DSN()
	idle := []*pgx.Conn{open(dsn, app+"/sync"), open(dsn, app)}
	inTx := open(dsn, app+"/sync")
	if _, err := inTx.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	idle = append(idle, inTx)
	lookalike := open(dsn, app+"-other") // a name that only starts like it
	otherDB, err := srv.CreateDatabase(ctx, "terminate_"+strconv.FormatInt(time.Now().UnixNano(), 36))
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := open(otherDB, app+"/sync")
	active := open(dsn, app+"/api")
	busy := make(chan error, 1)
	go func() {
		_, err := active.Exec(context.WithoutCancel(ctx), "SELECT pg_sleep(60)")
		busy <- err
	}()
	defer func() {
		// End the sleep, whatever the test did.
		srv.Terminate(context.Background(), active.PgConn().PID()) //nolint:errcheck // it may be gone
		<-busy
	}()

	want := map[uint32]bool{}
	for _, c := range idle {
		want[c.PgConn().PID()] = true
	}
	args := []string{"terminate", "--dsn", dsn, "--app", app, "--min-idle", "10ms", "--json"}
	var rep terminateReport
	wait.Until(t, "the idle backends are idle long enough and the active one is running", func() bool {
		r := cli(t, nil, args...)
		rep = terminateReport{}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("terminate --json: %v\n%s", err, r)
		}
		var act int
		row := lookalike.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active'", active.PgConn().PID())
		if err := row.Scan(&act); err != nil {
			t.Fatal(err)
		}
		return len(rep.Backends) == len(want) && act == 1
	})
	if !rep.DryRun || rep.TerminatedCount != 0 {
		t.Errorf("dry run: %+v", rep)
	}
	for _, b := range rep.Backends {
		if !want[b.PID] {
			t.Errorf("the dry run lists PID %d (%s, %s), which does not match", b.PID, b.Application, b.State)
		}
	}
	r := cli(t, nil, "terminate", "--dsn", dsn, "--app", app, "--min-idle", "10ms")
	if r.code != exitOK || !strings.Contains(r.stdout, "dry run: nothing was terminated") {
		t.Errorf("dry run:\n%s", r)
	}
	// Counted from another connection: a ping would make them busy, and
	// then idle for too short a time.
	alive := func(c *pgx.Conn) bool {
		var n int
		if err := srv.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
		if err := lookalike.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", c.PgConn().PID()).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	for _, c := range append(idle, elsewhere) {
		if !alive(c) {
			t.Errorf("after the dry run, PID %d is gone", c.PgConn().PID())
		}
	}

	r = cli(t, nil, "terminate", "--dsn", dsn, "--app", app, "--min-idle", "10ms", "--yes")
	if r.code != exitOK || !strings.Contains(r.stdout, "terminated 3 backends") {
		t.Fatalf("terminate --yes:\n%s", r)
	}
	for _, c := range idle {
		if err := c.Ping(ctx); err == nil {
			t.Errorf("PID %d matched and is still there", c.PgConn().PID())
		}
	}
	for _, c := range []*pgx.Conn{lookalike, elsewhere} {
		if err := c.Ping(ctx); err != nil {
			t.Errorf("PID %d did not match and was terminated: %v", c.PgConn().PID(), err)
		}
	}
	select {
	case err := <-busy:
		t.Errorf("the active backend's query ended: %v", err)
		busy <- err
	default:
	}
	if r := cli(t, nil, "terminate", "--dsn", dsn, "--app", app, "--min-idle", "10ms", "--yes"); r.code != exitOK || !strings.Contains(r.stdout, "nothing to terminate") {
		t.Errorf("terminate with nothing left:\n%s", r)
	}
}

func TestDSNPassword(t *testing.T) {
	for _, dsn := range []string{
		"postgres://u:" + url.QueryEscape(token) + "@h/db",
		"postgres://u@h/db?password=" + url.QueryEscape(token),
		"host=h user=u password=" + token,
		"host=h user=u password='" + token + "'",
		"postgres://u:" + token + "@h:port/db", // does not parse
	} {
		if got := dsnPassword(dsn); got != token {
			t.Errorf("dsnPassword(%q) = %q", dsn, got)
		}
	}
}

// Behind PgBouncer, activity lists the server's backends without joining
// them with the service's leases, whose PIDs are PgBouncer's, and says why.
func TestActivityBehindPooler(t *testing.T) {
	srv := pooltest.Server(t)
	if srv.External() {
		t.Skip("a bouncer needs a server pgtemp started")
	}
	b := pgtemp.NewBouncer(t, srv, pgtemp.BouncerOptions{Mode: "session"})
	s := newServiceVia(t, admin.Options{}, b.DSN())
	syncUserData(t, s)
	r := cli(t, nil, "activity", "--dsn", srv.DSN(), "--app", s.app, "--admin", s.url)
	if !strings.Contains(r.stdout, "not joined with the service's leases") || strings.Contains(r.stdout, "LEASE") {
		t.Errorf("activity behind PgBouncer:\n%s", r)
	}
}

// TestReplayPoolguard runs the command end to end on poolguard alone, the
// pool whose run the check is about, briefly.
func TestReplayPoolguard(t *testing.T) {
	report := filepath.Join(t.TempDir(), "report.html")
	r := cli(t, nil, "replay", "-duration", "4s", "-pool-size", "6", "-rate", "20", "-pools", "poolguard",
		"-min-success", "0", "-report", report)
	if r.code != exitOK {
		t.Fatalf("replay:\n%s", r)
	}
	for _, want := range []string{"API success", "users/job.go:", "report: " + report} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestReplayBouncer runs a fleet through PgBouncer.
func TestReplayBouncer(t *testing.T) {
	r := cli(t, nil, "replay", "--duration", "3s", "--pool-size", "4", "--rate", "10", "--pools", "poolguard",
		"--replicas", "2", "--bouncer", "transaction", "--min-success", "0", "--report", "")
	if strings.Contains(r.stderr, pgtemp.ErrNoBouncer.Error()) && os.Getenv("CI") == "" {
		t.Skip(pgtemp.ErrNoBouncer)
	}
	if r.code != exitOK {
		t.Fatalf("replay:\n%s", r)
	}
	for _, want := range []string{"through PgBouncer in transaction mode", "poolguard r2", "server backends at the end"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
}

// With --json, stdout is the outcome alone, and the progress goes to
// stderr.
func TestReplayJSON(t *testing.T) {
	r := cli(t, nil, "replay", "--json", "--duration", "3s", "--pool-size", "4", "--rate", "10", "--pools", "poolguard",
		"--replicas", "2", "--min-success", "0", "--report", "")
	var out replayJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.code != exitOK {
		t.Fatalf("replay --json: %v\n%s", err, r)
	}
	if len(out.Runs) != 2 || out.Runs[1].Kind != "poolguard" || out.Runs[1].Replica != 2 || out.Runs[1].API == 0 {
		t.Errorf("replay --json: %+v", out)
	}
	if !strings.Contains(r.stderr, "starting a throw-away PostgreSQL") {
		t.Errorf("replay --json: the progress is not on stderr\n%s", r)
	}
}
