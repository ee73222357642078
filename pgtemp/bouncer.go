package pgtemp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

// ErrNoBouncer is returned by [StartBouncer] when the pgbouncer binary
// cannot be found.
var ErrNoBouncer = errors.New("pgtemp: pgbouncer not found (apt-get install pgbouncer)")

// BouncerOptions configure a PgBouncer started by [StartBouncer]. The zero
// value is transaction pooling.
type BouncerOptions struct {
	// Mode is PgBouncer's pool_mode: "transaction" (the default) or
	// "session".
	Mode string
	// Settings are pgbouncer.ini [pgbouncer] parameters applied on top of
	// pgtemp's, for example {"default_pool_size": "5"}.
	Settings map[string]string
}

// Bouncer is a PgBouncer in front of a [Server], on loopback, for tests of
// what a pooler between the application and PostgreSQL changes: backend
// process IDs, cancel requests, prepared statements, session state.
//
// Clients authenticate with SCRAM, with the server's own password; PgBouncer
// holds the role's SCRAM verifier, not the password, and logs into the
// server with the keys of the client's exchange.
type Bouncer struct {
	srv  *Server
	mode string
	dir  string
	base url.URL

	mu     sync.Mutex
	proc   *process
	closed bool
}

// StartBouncer starts a PgBouncer in front of s and returns once it
// accepts connections. The caller must call [Bouncer.Close]. s must be a
// server pgtemp started (not one from POOLGUARD_DATABASE_URL).
func StartBouncer(ctx context.Context, s *Server, opts BouncerOptions) (*Bouncer, error) {
	if s.external {
		return nil, fmt.Errorf("pgtemp: StartBouncer: %w", ErrExternal)
	}
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/pgbouncer"); err != nil {
			return nil, ErrNoBouncer
		}
	}
	mode := opts.Mode
	switch mode {
	case "":
		mode = "transaction"
	case "transaction", "session":
	default:
		return nil, fmt.Errorf("pgtemp: BouncerOptions.Mode is %q: use \"transaction\" or \"session\"", mode)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultStartTimeout)
		defer cancel()
	}
	// PgBouncer keeps the role's SCRAM verifier, read from the server.
	var verifier string
	err = s.withConn(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = current_user").Scan(&verifier)
	})
	if err != nil {
		return nil, fmt.Errorf("pgtemp: read the role's SCRAM verifier for pgbouncer: %w", err)
	}
	dir, err := os.MkdirTemp("", "pgtemp-bouncer-")
	if err != nil {
		return nil, fmt.Errorf("pgtemp: create pgbouncer's directory: %w", err)
	}
	b := &Bouncer{srv: s, mode: mode, dir: dir}
	port, err := freePort()
	if err == nil {
		err = b.writeConfig(port, verifier, opts.Settings)
	}
	if err == nil {
		err = chownTree(dir, s.cred)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	password, _ := s.base.User.Password()
	b.base = url.URL{
		Scheme: "postgres",
		User:   url.UserPassword(s.base.User.Username(), password),
		Host:   net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		// Transaction pooling hands each transaction to any server
		// connection, so statements prepared by name on one are not on the
		// next: pgx's default statement cache cannot work. exec sends each
		// query with the unnamed statement, in one round trip.
		RawQuery: "sslmode=disable&default_query_exec_mode=exec",
	}
	cmd := exec.Command(bin, filepath.Join(dir, "pgbouncer.ini"))
	cmd.Dir = dir
	cmd.SysProcAttr = sysProcAttr(s.cred)
	childDone, err := startChild(cmd)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtemp: start pgbouncer: %w", err)
	}
	b.proc = &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		childDone()
		close(b.proc.exited)
	}()
	ready := b.base // pgconn takes pgx's query mode for a server parameter
	ready.RawQuery, ready.Path = "sslmode=disable", "/postgres"
	if err := b.proc.waitReady(ctx, ready.String()); err != nil {
		b.Close()
		log, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
		return nil, fmt.Errorf("pgtemp: pgbouncer did not start: %w\npgbouncer log:\n%s", err, log)
	}
	return b, nil
}

// NewBouncer is StartBouncer for a test: it skips the test when pgbouncer
// is not installed, unless the environment variable CI is set, and closes
// the bouncer when the test ends.
func NewBouncer(t testing.TB, s *Server, opts BouncerOptions) *Bouncer {
	t.Helper()
	b, err := StartBouncer(t.Context(), s, opts)
	if errors.Is(err, ErrNoBouncer) && os.Getenv("CI") == "" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func (b *Bouncer) writeConfig(port int, verifier string, settings map[string]string) error {
	srvPort := b.srv.port
	conf := map[string]string{
		"listen_addr":     "127.0.0.1",
		"listen_port":     strconv.Itoa(port),
		"unix_socket_dir": "",
		"auth_type":       "scram-sha-256",
		"auth_file":       filepath.Join(b.dir, "userlist.txt"),
		"pool_mode":       b.mode,
		"max_client_conn": "1000",
		// Enough for every client of a test to have a server connection.
		"default_pool_size": "100",
		"logfile":           filepath.Join(b.dir, "pgbouncer.log"),
		"pidfile":           filepath.Join(b.dir, "pgbouncer.pid"),
		"admin_users":       b.srv.base.User.Username(),
	}
	for k, v := range settings {
		conf[k] = v
	}
	keys := make([]string, 0, len(conf))
	for k := range conf {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var ini strings.Builder
	fmt.Fprintf(&ini, "[databases]\n* = host=%s port=%d\n\n[pgbouncer]\n", b.srv.host, srvPort)
	for _, k := range keys {
		fmt.Fprintf(&ini, "%s = %s\n", k, conf[k])
	}
	users := fmt.Sprintf("%q %q\n", b.srv.base.User.Username(), verifier)
	if err := os.WriteFile(filepath.Join(b.dir, "userlist.txt"), []byte(users), 0o600); err != nil {
		return fmt.Errorf("pgtemp: write pgbouncer's auth file: %w", err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, "pgbouncer.ini"), []byte(ini.String()), 0o600); err != nil {
		return fmt.Errorf("pgtemp: write pgbouncer.ini: %w", err)
	}
	return nil
}

// chownTree gives dir and the files in it to cred, who runs pgbouncer.
func chownTree(dir string, cred *syscall.Credential) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if err := chown(dir, cred); err != nil {
		return err
	}
	for _, e := range entries {
		if err := chown(filepath.Join(dir, e.Name()), cred); err != nil {
			return err
		}
	}
	return nil
}

// DSN returns a postgres:// URL for the database "postgres" through the
// bouncer, with the server's password and pgx's exec query mode (see
// BouncerOptions). Like [Server.DSN], it is a credential.
func (b *Bouncer) DSN() string { return b.ConnString("postgres") }

// ConnString is DSN for another database.
func (b *Bouncer) ConnString(database string) string {
	u := b.base
	u.Path = "/" + database
	return u.String()
}

// Mode returns the bouncer's pool_mode.
func (b *Bouncer) Mode() string { return b.mode }

// String returns the bouncer's URL with the password left out.
func (b *Bouncer) String() string {
	u := b.base
	u.User = url.User(u.User.Username())
	return u.String()
}

// Close stops the bouncer and removes its directory. It is safe to call
// more than once.
func (b *Bouncer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout+2*killTimeout)
	defer cancel()
	var err error
	if b.proc != nil {
		err = b.proc.stop(ctx)
	}
	if rerr := os.RemoveAll(b.dir); err == nil {
		err = rerr
	}
	return err
}
