package pgtemp_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/goleak"

	"github.com/poolguard/poolguard/pgtemp"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func queryInt(t *testing.T, conn *pgx.Conn, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestStartAndQuery(t *testing.T) {
	t.Parallel()
	s := pgtemp.New(t, pgtemp.Options{})
	if s.External() {
		t.Fatal("External() = true for a started server")
	}
	conn := connect(t, s.DSN())
	if got := queryInt(t, conn, "SELECT 1 + $1::int", 41); got != 42 {
		t.Errorf("SELECT 1 + 41 = %d", got)
	}
	var enc, fsync string
	if err := conn.QueryRow(t.Context(), "SELECT current_setting('server_encoding'), current_setting('fsync')").Scan(&enc, &fsync); err != nil {
		t.Fatal(err)
	}
	if enc != "UTF8" || fsync != "off" {
		t.Errorf("server_encoding = %s, fsync = %s; want UTF8, off", enc, fsync)
	}
	if _, err := os.Stat(s.SocketDir()); err != nil {
		t.Errorf("socket directory: %v", err)
	}
	if s.Host() != "127.0.0.1" || s.Port() == 0 {
		t.Errorf("Host, Port = %q, %d", s.Host(), s.Port())
	}
}

func TestSocket(t *testing.T) {
	t.Parallel()
	s := pgtemp.New(t, pgtemp.Options{})
	conn := connect(t, "host="+s.SocketDir()+" port="+strconv.Itoa(s.Port())+" user=postgres dbname=postgres")
	if got := queryInt(t, conn, "SELECT 7"); got != 7 {
		t.Errorf("got %d", got)
	}
}

// Over TCP, which every local user can reach, the server asks for its
// password; the URLs it hands out carry it, and nothing else shows it.
func TestPassword(t *testing.T) {
	t.Parallel()
	var log strings.Builder
	var logMu sync.Mutex
	s, err := pgtemp.Start(t.Context(), pgtemp.Options{Logf: func(format string, args ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		fmt.Fprintf(&log, format+"\n", args...)
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	u, err := url.Parse(s.DSN())
	if err != nil {
		t.Fatal(err)
	}
	password, ok := u.User.Password()
	if !ok || len(password) < 32 {
		t.Fatalf("DSN has no password of at least 32 characters: %v", s)
	}

	for name, user := range map[string]*url.Userinfo{
		"no password":    url.User("postgres"),
		"wrong password": url.UserPassword("postgres", password[1:]+"0"),
		"empty password": url.UserPassword("postgres", ""),
	} {
		bad := *u
		bad.User = user
		conn, err := pgx.Connect(t.Context(), bad.String())
		if err == nil {
			conn.Close(context.Background())
			t.Errorf("%s: connected over TCP", name)
			continue
		}
		var pgErr *pgconn.PgError
		if name != "no password" && (!errors.As(err, &pgErr) || pgErr.Code != "28P01") {
			t.Errorf("%s: %v, want invalid_password (28P01)", name, err)
		}
	}

	conn := connect(t, s.DSN())
	if n := queryInt(t, conn, "SELECT count(*) FROM pg_hba_file_rules WHERE type <> 'local' AND auth_method <> 'scram-sha-256'"); n != 0 {
		t.Errorf("%d pg_hba.conf rules for TCP do not ask for a SCRAM password", n)
	}
	dsn, err := s.CreateDatabase(t.Context(), "withpassword")
	if err != nil {
		t.Fatal(err)
	}
	queryInt(t, connect(t, dsn), "SELECT 1")

	info, err := os.Stat(s.SocketDir())
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o700 {
		t.Errorf("socket directory mode %v, want 0700", perm)
	}

	_, err = s.CreateDatabase(t.Context(), "withpassword") // exists: an error
	for what, text := range map[string]string{
		"String":       s.String(),
		"%v":           fmt.Sprintf("%v", s),
		"%+v":          fmt.Sprintf("%+v", s),
		"%#v":          fmt.Sprintf("%#v", s),
		"an error":     fmt.Sprint(err),
		"the log":      log.String(),
		"the log file": readFile(t, filepath.Join(s.SocketDir(), "postgres.log")),
	} {
		if strings.Contains(text, password) {
			t.Errorf("%s shows the password: %s", what, text)
		}
	}
	if !strings.Contains(s.String(), "postgres:xxxxx@127.0.0.1:") {
		t.Errorf("String() = %q, want the URL with the password redacted", s)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSettings(t *testing.T) {
	t.Parallel()
	s := pgtemp.New(t, pgtemp.Options{Settings: map[string]string{
		"max_connections": "200",
		"cluster_name":    `it's a \ test`,
	}})
	conn := connect(t, s.DSN())
	var maxConns, name string
	if err := conn.QueryRow(t.Context(), "SELECT current_setting('max_connections'), current_setting('cluster_name')").Scan(&maxConns, &name); err != nil {
		t.Fatal(err)
	}
	if maxConns != "200" || name != `it's a \ test` {
		t.Errorf("max_connections, cluster_name = %q, %q; want 200, it's a \\ test", maxConns, name)
	}
}

func TestSettingsRejected(t *testing.T) {
	t.Parallel()
	for _, settings := range []map[string]string{
		{"port": "5432"},
		{"bad name": "1"},
		{"work_mem": "1MB\nfsync = on"},
	} {
		if _, err := pgtemp.Start(t.Context(), pgtemp.Options{Settings: settings}); err == nil {
			t.Errorf("Start with %q succeeded", settings)
		}
	}
}

func TestParallel(t *testing.T) {
	t.Parallel()
	var wg sync.WaitGroup
	servers := make([]*pgtemp.Server, 2)
	errs := make([]error, 2)
	for i := range servers {
		wg.Go(func() {
			servers[i], errs[i] = pgtemp.Start(t.Context(), pgtemp.Options{})
		})
	}
	wg.Wait()
	for i, s := range servers {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		t.Cleanup(func() { s.Close() })
	}
	if servers[0].Port() == servers[1].Port() {
		t.Fatalf("both servers on port %d", servers[0].Port())
	}
	for _, s := range servers {
		conn := connect(t, s.DSN())
		queryInt(t, conn, "SELECT 1")
	}
}

func TestRestart(t *testing.T) {
	t.Parallel()
	s := pgtemp.New(t, pgtemp.Options{})
	dsn, err := s.CreateDatabase(t.Context(), "kept")
	if err != nil {
		t.Fatal(err)
	}
	old := connect(t, dsn)
	if err := s.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := old.Ping(t.Context()); err == nil {
		t.Error("connection from before Restart still works")
	}
	conn := connect(t, dsn) // the database survives
	queryInt(t, conn, "SELECT 1")
}

func TestStopStart(t *testing.T) {
	t.Parallel()
	s := pgtemp.New(t, pgtemp.Options{})
	if err := s.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := pgx.Connect(t.Context(), s.DSN()); err == nil {
		t.Fatal("connected to a stopped server")
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	queryInt(t, connect(t, s.DSN()), "SELECT 1")
}

func TestTerminate(t *testing.T) {
	t.Parallel()
	s := pgtemp.New(t, pgtemp.Options{})
	victim := connect(t, s.DSN())
	pid := victim.PgConn().PID()
	if err := s.Terminate(t.Context(), pid); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, connect(t, s.DSN()), "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", int64(pid)); n != 0 {
		t.Errorf("backend %d still in pg_stat_activity", pid)
	}
	if err := victim.Ping(t.Context()); err == nil {
		t.Error("terminated connection still works")
	}
	if err := s.Terminate(t.Context(), 1); err == nil {
		t.Error("Terminate(1) succeeded")
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	s, err := pgtemp.Start(t.Context(), pgtemp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pid := postmasterPID(t, s)

	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if _, err := os.Stat(s.SocketDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("server directory still there: %v", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("postmaster %d still running: %v", pid, err)
	}
	if err := s.Start(t.Context()); err == nil {
		t.Error("Start after Close succeeded")
	}
}

// postmasterPID returns the process ID of s's postmaster: the first line
// of postmaster.pid.
func postmasterPID(t *testing.T, s *pgtemp.Server) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.SocketDir(), "data", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestNoBinaries(t *testing.T) {
	t.Setenv("PATH", "")
	t.Setenv(pgtemp.EnvPGBin, t.TempDir())
	_, err := pgtemp.Start(t.Context(), pgtemp.Options{})
	if !errors.Is(err, pgtemp.ErrNoBinaries) {
		t.Fatalf("err = %v, want ErrNoBinaries", err)
	}
	for _, want := range []string{"apt-get install -y postgresql", pgtemp.EnvDatabaseURL, pgtemp.EnvPGBin} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestExternal(t *testing.T) {
	real := pgtemp.New(t, pgtemp.Options{})
	t.Setenv(pgtemp.EnvDatabaseURL, real.DSN())
	s := pgtemp.New(t, pgtemp.Options{})
	if !s.External() {
		t.Fatal("External() = false")
	}
	if !strings.Contains(s.String(), "postgres:xxxxx@") {
		t.Errorf("String() = %q, want the URL with the password redacted", s)
	}
	if s.DSN() != real.DSN() || s.Port() != real.Port() {
		t.Errorf("DSN differs from the one in %s: %v, want %v", pgtemp.EnvDatabaseURL, s, real)
	}
	dsn, err := s.CreateDatabase(t.Context(), "ext")
	if err != nil {
		t.Fatal(err)
	}
	queryInt(t, connect(t, dsn), "SELECT 1")
	for name, f := range map[string]func(context.Context) error{"Restart": s.Restart, "Stop": s.Stop, "Start": s.Start} {
		if err := f(t.Context()); !errors.Is(err, pgtemp.ErrExternal) {
			t.Errorf("%s: err = %v, want ErrExternal", name, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	queryInt(t, connect(t, real.DSN()), "SELECT 1") // Close left it running

	// The password may also be a query parameter.
	u, err := url.Parse(real.DSN())
	if err != nil {
		t.Fatal(err)
	}
	password, _ := u.User.Password()
	q := u.Query()
	q.Set("password", password)
	u.User, u.RawQuery = url.User("postgres"), q.Encode()
	t.Setenv(pgtemp.EnvDatabaseURL, u.String())
	s = pgtemp.New(t, pgtemp.Options{})
	if str := s.String(); strings.Contains(str, password) || !strings.Contains(str, "password=xxxxx") {
		t.Errorf("String() = %q, want the password parameter redacted", str)
	}
}

func TestStartFailureShowsLog(t *testing.T) {
	t.Parallel()
	_, err := pgtemp.Start(t.Context(), pgtemp.Options{Settings: map[string]string{"max_connections": "lots"}})
	if err == nil {
		t.Fatal("Start with max_connections = lots succeeded")
	}
	if !strings.Contains(err.Error(), `invalid value for parameter "max_connections"`) {
		t.Errorf("error does not quote the server log: %v", err)
	}
}

// BenchmarkStartClose measures a server's whole life; the first iteration
// may include building the template cluster.
func BenchmarkStartClose(b *testing.B) {
	for b.Loop() {
		s, err := pgtemp.Start(b.Context(), pgtemp.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
