package pgtemp

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Environment variables read by [Start].
const (
	// EnvDatabaseURL names an existing server to use instead of starting one.
	EnvDatabaseURL = "POOLGUARD_DATABASE_URL"
	// EnvPGBin names the directory holding initdb and postgres.
	EnvPGBin = "POOLGUARD_PG_BIN"
)

var (
	// ErrNoBinaries is returned by [Start] when initdb and postgres cannot
	// be found.
	ErrNoBinaries = errors.New("pgtemp: PostgreSQL server binaries (initdb, postgres) not found")

	// ErrExternal is returned by the methods that control the server
	// process when the server was named by POOLGUARD_DATABASE_URL.
	ErrExternal = errors.New("pgtemp: server is not managed by pgtemp (it comes from " + EnvDatabaseURL + ")")

	errClosed    = errors.New("pgtemp: server is closed")
	errPortInUse = errors.New("pgtemp: port already in use")
)

// Bounds on every wait, so that a broken server fails a test instead of
// hanging it.
const (
	defaultStartTimeout = 60 * time.Second
	readyTimeout        = 30 * time.Second
	stopTimeout         = 10 * time.Second
	killTimeout         = 5 * time.Second
	startAttempts       = 3 // ports to try, in case another process takes ours
)

// Options configure a server started by [Start] or [New]. The zero value is
// ready to use.
type Options struct {
	// Settings are postgresql.conf parameters applied on top of pgtemp's
	// defaults, for example {"max_connections": "200"}. The network
	// parameters listen_addresses, port and unix_socket_directories are
	// chosen by pgtemp and may not be set. Settings are not applied to an
	// external server.
	Settings map[string]string

	// Logf, if not nil, receives progress messages. New defaults it to
	// t.Logf.
	Logf func(format string, args ...any)
}

// A Server is a PostgreSQL server started by [Start] or [New], or an
// external server named by POOLGUARD_DATABASE_URL. Its methods may be
// called from several goroutines at once.
type Server struct {
	base     url.URL // connection URL; its path is replaced per database
	external bool
	rawURL   string // the external URL exactly as given
	host     string
	port     int
	sockDir  string

	dir      string              // temporary root: holds data, the socket and the log
	lock     *os.File            // held while the directory is in use; see sweepStale
	postgres string              // path of the postgres binary
	cred     *syscall.Credential // user to run postgres as; nil: this process's

	mu     sync.Mutex // guards the fields below; held while starting or stopping
	proc   *process
	closed bool
}

// Start starts a new PostgreSQL server and returns once it accepts
// connections. ctx bounds the start only, not the life of the server; if it
// has no deadline, a minute is allowed. The caller must call
// [Server.Close].
//
// If POOLGUARD_DATABASE_URL is set, Start starts nothing: it checks that
// the server it names accepts connections and returns an external Server
// for it.
func Start(ctx context.Context, opts Options) (*Server, error) {
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if raw := os.Getenv(EnvDatabaseURL); raw != "" {
		return startExternal(ctx, raw, opts, logf)
	}
	conf, err := confLines(opts.Settings)
	if err != nil {
		return nil, err
	}
	bins, err := findBinaries()
	if err != nil {
		return nil, err
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultStartTimeout)
		defer cancel()
	}

	began := time.Now()
	sweepStale(logf)
	template, err := templateDir(ctx, bins, cred, logf)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtemp-")
	if err != nil {
		return nil, fmt.Errorf("pgtemp: create temporary directory: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := writeOwner(dir); err != nil {
		lock.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	s := &Server{
		host:     "127.0.0.1",
		sockDir:  dir,
		dir:      dir,
		postgres: filepath.Join(bins, "postgres"),
		cred:     cred,
		lock:     lock,
	}
	if err := s.prepare(template, conf); err != nil {
		s.remove()
		return nil, err
	}
	password := newPassword()
	for attempt := 1; ; attempt++ {
		if s.port, err = freePort(); err == nil {
			s.base = url.URL{
				Scheme:   "postgres",
				User:     url.UserPassword("postgres", password),
				Host:     net.JoinHostPort(s.host, strconv.Itoa(s.port)),
				RawQuery: "sslmode=disable",
			}
			err = s.Start(ctx)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, errPortInUse) || attempt == startAttempts {
			s.remove()
			return nil, err
		}
	}
	if err := s.setPassword(ctx); err != nil {
		s.Close()
		return nil, err
	}
	logf("pgtemp: PostgreSQL listening on %s and in %s, ready in %v", s.base.Host, s.sockDir, time.Since(began).Round(time.Millisecond))
	return s, nil
}

// Main is the body of a TestMain that shares one server among all the tests
// of a package: it starts a server with opts, hands it to use, runs the
// tests, closes the server and, if the tests passed, runs each check (such
// as a goroutine-leak check), failing the run when one returns an error. It
// returns the exit code for os.Exit:
//
//	func TestMain(m *testing.M) {
//		os.Exit(pgtemp.Main(m, pgtemp.Options{}, func(s *pgtemp.Server) { server = s }))
//	}
func Main(m *testing.M, opts Options, use func(*Server), checks ...func() error) int {
	ctx, cancel := context.WithTimeout(context.Background(), defaultStartTimeout)
	srv, err := Start(ctx, opts)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	use(srv)
	code := m.Run()
	srv.Close()
	if code != 0 {
		return code
	}
	for _, check := range checks {
		if err := check(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return 0
}

// New starts a server like [Start] and arranges for it to be closed when
// t and its subtests finish. It calls t.Fatal if the server cannot start.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	s, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() && !s.external {
			t.Logf("pgtemp: end of the server log:\n%s", logTail(s.logPath(), 0))
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func startExternal(ctx context.Context, raw string, opts Options, logf func(string, ...any)) (*Server, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// The URL is not quoted: it may hold a password.
		return nil, fmt.Errorf("pgtemp: %s must be a postgres:// URL", EnvDatabaseURL)
	}
	cfg, err := pgconn.ParseConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("pgtemp: parse %s: %w", EnvDatabaseURL, err)
	}
	s := &Server{base: *u, external: true, rawURL: raw, host: cfg.Host, port: int(cfg.Port)}
	if strings.HasPrefix(cfg.Host, "/") {
		s.sockDir = cfg.Host
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgtemp: cannot connect to the server named by %s (unset it to start a temporary server instead): %w", EnvDatabaseURL, err)
	}
	conn.Close(ctx)
	if len(opts.Settings) > 0 {
		logf("pgtemp: %s is set, so Options.Settings are not applied", EnvDatabaseURL)
	}
	logf("pgtemp: using the existing server from %s at %s", EnvDatabaseURL, net.JoinHostPort(s.host, strconv.Itoa(s.port)))
	return s, nil
}

// confQuoter escapes a value for a quoted string in postgresql.conf.
var confQuoter = strings.NewReplacer(`\`, `\\`, `'`, `''`)

// confLines turns settings into postgresql.conf lines, after pgtemp's
// defaults so that the caller's values win.
func confLines(settings map[string]string) (string, error) {
	var b strings.Builder
	b.WriteString("\n# Added by pgtemp: durability is not needed for a throw-away server.\n")
	b.WriteString("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
	for _, name := range slices.Sorted(maps.Keys(settings)) {
		value := settings[name]
		switch {
		case name == "" || strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.") != "":
			return "", fmt.Errorf("pgtemp: invalid setting name %q", name)
		case strings.EqualFold(name, "listen_addresses"), strings.EqualFold(name, "port"), strings.EqualFold(name, "unix_socket_directories"):
			return "", fmt.Errorf("pgtemp: setting %s is chosen by pgtemp and cannot be overridden", name)
		case strings.ContainsAny(value, "\n\r\x00"):
			return "", fmt.Errorf("pgtemp: value of setting %s must be a single line", name)
		}
		fmt.Fprintf(&b, "%s = '%s'\n", name, confQuoter.Replace(value))
	}
	return b.String(), nil
}

// prepare fills the server's directory with a copy of the template
// cluster, configured for this server.
func (s *Server) prepare(template, conf string) error {
	if err := chown(s.dir, s.cred); err != nil {
		return err
	}
	uid := os.Geteuid()
	if s.cred != nil {
		uid = int(s.cred.Uid)
	}
	if err := checkPrivate(s.sockDir, uid); err != nil {
		return err
	}
	if err := copyTree(template, s.dataDir(), s.cred); err != nil {
		return fmt.Errorf("pgtemp: copy template cluster: %w", err)
	}
	// The template's pg_hba.conf (initdb -A trust) is replaced: see hbaConf.
	if err := os.WriteFile(filepath.Join(s.dataDir(), "pg_hba.conf"), []byte(hbaConf), 0o600); err != nil {
		return fmt.Errorf("pgtemp: configure authentication: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(s.dataDir(), "postgresql.conf"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("pgtemp: configure server: %w", err)
	}
	_, err = f.WriteString(conf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pgtemp: configure server: %w", err)
	}
	return nil
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }
func (s *Server) logPath() string { return filepath.Join(s.dir, "postgres.log") }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtemp: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// DSN returns a postgres:// URL for the database "postgres" as the
// superuser "postgres" over TCP, with the server's password, or the URL
// from POOLGUARD_DATABASE_URL as given. The URL is a credential: do not log
// it (log the Server, whose String method leaves the password out).
func (s *Server) DSN() string {
	if s.external {
		return s.rawURL
	}
	return s.ConnString("postgres")
}

// ConnString returns a URL like [Server.DSN] for the named database.
func (s *Server) ConnString(database string) string {
	u := s.base
	u.Path, u.RawPath = "/"+database, ""
	return u.String()
}

// String returns the server's URL with its password replaced by "xxxxx",
// fit for logs and error messages.
func (s *Server) String() string {
	u := s.base
	u.Path = "/postgres"
	if s.external {
		p, err := url.Parse(s.rawURL)
		if err != nil { // Start has parsed it, so this does not happen
			return "pgtemp server from " + EnvDatabaseURL
		}
		u = *p
		if q := u.Query(); q.Has("password") { // libpq takes it here too
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
	}
	return u.Redacted()
}

// GoString is String, so that %#v does not show the password either.
func (s *Server) GoString() string { return s.String() }

// socketDSN returns a URL for the database "postgres" over the Unix
// socket, which needs no password: see hbaConf.
func (s *Server) socketDSN() string {
	u := url.URL{
		Scheme: "postgres",
		User:   url.User("postgres"),
		Path:   "/postgres",
		RawQuery: url.Values{
			"host":    {s.sockDir},
			"port":    {strconv.Itoa(s.port)},
			"sslmode": {"disable"},
		}.Encode(),
	}
	return u.String()
}

// Host returns the host the server listens on: 127.0.0.1, or for an
// external server the host from its URL.
func (s *Server) Host() string { return s.host }

// Port returns the TCP port the server listens on.
func (s *Server) Port() int { return s.port }

// SocketDir returns the directory holding the server's Unix socket, or ""
// for an external server reached over TCP.
func (s *Server) SocketDir() string { return s.sockDir }

// External reports whether the server was named by POOLGUARD_DATABASE_URL
// rather than started by pgtemp.
func (s *Server) External() bool { return s.external }

// Exec runs sql, with optional arguments, on a new connection to the
// database "postgres". It suits administrative statements such as
// CREATE ROLE or ALTER SYSTEM.
func (s *Server) Exec(ctx context.Context, sql string, args ...any) error {
	return s.withConn(ctx, func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, sql, args...)
		return err
	})
}

func (s *Server) withConn(ctx context.Context, f func(*pgx.Conn) error) error {
	connectCtx, cancel := context.WithTimeout(ctx, readyTimeout)
	conn, err := pgx.Connect(connectCtx, s.DSN())
	cancel()
	if err != nil {
		return fmt.Errorf("pgtemp: connect: %w", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(ctx)
	}()
	return f(conn)
}

// CreateDatabase creates an empty database, which must not exist yet, and
// returns a URL for it, so that each test can have a database of its own.
// The database lives as long as the server.
func (s *Server) CreateDatabase(ctx context.Context, name string) (dsn string, err error) {
	if err := s.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("pgtemp: create database %q: %w", name, err)
	}
	return s.ConnString(name), nil
}

// Terminate ends the backend process pid with pg_terminate_backend, as an
// administrator or a failing server would, and waits until it is gone. The
// client of that backend sees its connection broken. pid is typically
// from [pgconn.PgConn.PID].
func (s *Server) Terminate(ctx context.Context, pid uint32) error {
	return s.withConn(ctx, func(conn *pgx.Conn) error {
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT pg_terminate_backend($1)", int64(pid)).Scan(&ok); err != nil {
			return fmt.Errorf("pgtemp: terminate backend %d: %w", pid, err)
		}
		if !ok {
			return fmt.Errorf("pgtemp: terminate backend %d: not a backend process of this server", pid)
		}
		ctx, cancel := context.WithTimeout(ctx, stopTimeout)
		defer cancel()
		for {
			var alive bool
			err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)", int64(pid)).Scan(&alive)
			if err != nil {
				return fmt.Errorf("pgtemp: wait for backend %d to exit: %w", pid, err)
			}
			if !alive {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("pgtemp: backend %d still running after pg_terminate_backend: %w", pid, ctx.Err())
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
}

// Stop shuts the server down and keeps its data, so that [Server.Start]
// can bring it back. It asks for a fast shutdown, which breaks every client
// connection; if the server has not exited within 10 seconds, or ctx is
// done first, it escalates to an immediate shutdown and then to SIGKILL.
// Stopping a stopped server does nothing.
func (s *Server) Stop(ctx context.Context) error {
	if s.external {
		return fmt.Errorf("%w: cannot stop it", ErrExternal)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked(ctx)
}

// Start starts a stopped server again on the same port with the same data,
// and returns once it accepts connections. Starting a running server does
// nothing; a server whose process has died is started again.
func (s *Server) Start(ctx context.Context) error {
	if s.external {
		return fmt.Errorf("%w: cannot start it", ErrExternal)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	if s.proc != nil {
		select {
		case <-s.proc.exited: // it crashed or was killed: start it again
		default:
			return nil
		}
	}
	p, err := startProcess(ctx, s)
	if err != nil {
		return err
	}
	s.proc = p
	return nil
}

// Restart stops the server and starts it again on the same port with the
// same data, as an operator restarting PostgreSQL would: existing client
// connections are broken, new ones succeed once Restart returns.
func (s *Server) Restart(ctx context.Context) error {
	if s.external {
		return fmt.Errorf("%w: cannot restart it", ErrExternal)
	}
	if err := s.Stop(ctx); err != nil {
		return err
	}
	return s.Start(ctx)
}

// Close stops the server as [Server.Stop] does, which takes 20 seconds at
// the very most, and removes its directory. It is safe to call more than
// once and from several goroutines; only the first call does anything. For
// an external server it does nothing.
func (s *Server) Close() error {
	if s.external {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return errors.Join(s.stopLocked(context.Background()), s.remove())
}

// remove removes the server's directory, then gives up the lock that
// kept other processes from removing it.
func (s *Server) remove() error {
	err := os.RemoveAll(s.dir)
	s.lock.Close()
	if err != nil {
		return fmt.Errorf("pgtemp: remove server directory: %w", err)
	}
	return nil
}

func (s *Server) stopLocked(ctx context.Context) error {
	if s.proc == nil {
		return nil
	}
	err := s.proc.stop(ctx)
	s.proc = nil
	return err
}
