package admin_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/admin"
	"github.com/poolguard/poolguard/pooltest"
)

func TestMain(m *testing.M) { pooltest.VerifyTestMain(m) }

// Secrets that must never appear in the handler's output.
const (
	argument = "arg-alice-7c21@example.com"
	token    = "tok-3b7e5c0d8a-91f2e6"
)

// serverPassword is the shared server's, which the pools' connection
// strings carry, and which no output may show.
func serverPassword(t *testing.T) string {
	u, err := url.Parse(pooltest.Server(t).DSN())
	if err != nil {
		t.Fatal(err)
	}
	password, _ := u.User.Password()
	return password
}

// newPool returns a pool with an "api" and a "sync" partition on the
// database dsn (the shared server's if empty), closed at the end of the
// test. opts adjust the configuration. It is not pooltest.New: the tests
// hold leases on purpose until the pool closes, for the page to show them,
// which pooltest's leak check would report.
func newPool(t *testing.T, dsn string, opts ...func(*poolguard.Config)) *poolguard.Pool {
	t.Helper()
	if dsn == "" {
		dsn = pooltest.Server(t).DSN()
	}
	cfg, err := poolguard.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 6
	cfg.Partitions = []poolguard.PartitionConfig{{Name: "api", Guaranteed: 3}, {Name: "sync", Max: 3}}
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.CloseTimeout = 100 * time.Millisecond
	for _, o := range opts {
		o(cfg)
	}
	pool, err := poolguard.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// newHandler returns the admin handler for pool, mounted under a prefix as
// a service would, on a test server, and the URL it is mounted at. Its log
// is checked for secrets at the end of the test.
func newHandler(t *testing.T, pool *poolguard.Pool, opts admin.Options) string {
	t.Helper()
	var log logBuffer
	opts.Logger = slog.New(slog.NewTextHandler(&log, nil))
	mux := http.NewServeMux()
	h, err := admin.New(pool, opts)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/debug/pool/", http.StripPrefix("/debug/pool", h))
	web := httptest.NewServer(mux)
	t.Cleanup(func() {
		web.Close()
		noSecrets(t, "the log", log.String())
	})
	return web.URL + "/debug/pool"
}

// syncUserData is the outage's bug: on a validation error it returns
// without releasing its connection. The connection is returned here only
// so that the test keeps it reachable (and releases it at the end).
func syncUserData(ctx context.Context, t *testing.T, part *poolguard.Partition) *poolguard.Conn {
	t.Helper()
	conn, err := part.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Release)
	// The simple protocol puts the argument into the statement text, so
	// pg_stat_activity shows it as a literal: the page must not.
	if _, err := conn.Exec(ctx, "SELECT $1::text AS email", pgx.QueryExecModeSimpleProtocol, argument); err != nil {
		t.Fatal(err)
	}
	return conn // "validation failed": no Release
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// do sends a request and returns the status and body. With a token, it is
// sent as a bearer token.
func do(t *testing.T, method, url, token string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	noSecrets(t, url, string(body))
	return resp.StatusCode, string(body)
}

// logBuffer collects a log.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// noSecrets fails the test if out shows a password, a query argument or
// the token.
func noSecrets(t *testing.T, what, out string) {
	t.Helper()
	for _, s := range []string{serverPassword(t), argument, token} {
		if s != "" && strings.Contains(out, s) {
			t.Errorf("%s shows the secret %q:\n%s", what, s, out)
		}
	}
}
