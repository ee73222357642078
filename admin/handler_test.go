package admin_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/admin"
	"github.com/poolguard/poolguard/pgtemp"
	"github.com/poolguard/poolguard/pooltest"
)

func snapshot(t *testing.T, base string) admin.Snapshot {
	t.Helper()
	status, body := do(t, http.MethodGet, base+"/snapshot", "")
	if status != http.StatusOK {
		t.Fatalf("GET /snapshot: %d %s", status, body)
	}
	var s admin.Snapshot
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("GET /snapshot: %v\n%s", err, body)
	}
	return s
}

func findLease(t *testing.T, s admin.Snapshot, pid uint32) admin.Lease {
	t.Helper()
	for _, l := range s.Leases {
		if l.PID == pid {
			return l
		}
	}
	t.Fatalf("no lease with PID %d in the snapshot: %+v", pid, s.Leases)
	return admin.Lease{}
}

func TestSnapshotShowsLeakedLeases(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	pool := newPool(t, "")
	sync := pool.Partition("sync")
	leaked := []*poolguard.Conn{syncUserData(ctx, t, sync), syncUserData(ctx, t, sync)}
	other, err := pool.Partition("api").Acquire(ctx) // a different call site
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release()
	base := newHandler(t, pool, admin.Options{Token: token})

	s := snapshot(t, base)
	if !s.Activity.OK {
		t.Errorf("pg_stat_activity could not be read: %s", s.Activity.Error)
	}
	if s.MaxConns != 6 || len(s.Partitions) != 2 || !s.Actions {
		t.Errorf("snapshot: MaxConns %d, %d partitions, actions %v; want 6, 2, true", s.MaxConns, len(s.Partitions), s.Actions)
	}
	ps := s.Partitions[1]
	if ps.Name != "sync" || ps.InUse != 2 || ps.Max != 3 || ps.Paused {
		t.Errorf("sync partition: %+v", ps)
	}
	for _, c := range leaked {
		l := findLease(t, s, c.PID())
		if l.Partition != "sync" || l.Function != "admin_test.syncUserData" || !strings.HasPrefix(l.CallSite, "admin/main_test.go:") {
			t.Errorf("lease %d: partition %q, function %q, call site %q; want sync, admin_test.syncUserData, admin/main_test.go:N", l.PID, l.Partition, l.Function, l.CallSite)
		}
		if l.State != "idle" || l.BackendState != "idle" {
			t.Errorf("lease %d: state %q, backend state %q; want idle, idle", l.PID, l.State, l.BackendState)
		}
		if !strings.HasPrefix(l.Query, "SELECT ?") || !strings.HasSuffix(l.Query, "::text AS email") {
			t.Errorf("lease %d: query %q, want the statement with its literal redacted", l.PID, l.Query)
		}
		if len(l.Stack) == 0 || l.Stack[0].Function != "github.com/poolguard/poolguard/admin_test.syncUserData" || l.QueryStart == nil {
			t.Errorf("lease %d: stack %+v, query start %v", l.PID, l.Stack, l.QueryStart)
		}
	}
	for i := 1; i < len(s.Leases); i++ {
		if s.Leases[i].AgeSeconds > s.Leases[i-1].AgeSeconds {
			t.Errorf("leases not oldest first: %+v", s.Leases)
		}
	}
	if len(s.CallSites) != 2 {
		t.Fatalf("call sites: %+v, want two", s.CallSites)
	}
	if c := s.CallSites[0]; c.Partition != "sync" || c.Function != "admin_test.syncUserData" || c.Count != 2 || c.OldestSeconds < s.CallSites[1].OldestSeconds {
		t.Errorf("first call site: %+v, want sync's two leases from syncUserData, the oldest", c)
	}
	if c := s.CallSites[1]; c.Partition != "api" || c.Count != 1 || c.Function != "admin_test.TestSnapshotShowsLeakedLeases" {
		t.Errorf("second call site: %+v, want the api lease of the test", c)
	}
}

func TestSnapshotOfIdlePool(t *testing.T) {
	base := newHandler(t, newPool(t, ""), admin.Options{})
	s := snapshot(t, base)
	if len(s.Leases) != 0 || len(s.CallSites) != 0 || !s.Activity.OK || s.Actions {
		t.Errorf("idle pool without a token: %+v", s)
	}
	// Empty lists, not null, so that scripts need no special case.
	if _, body := do(t, http.MethodGet, base+"/snapshot", ""); !strings.Contains(body, `"leases": []`) || !strings.Contains(body, `"callSites": []`) {
		t.Errorf("idle pool's snapshot:\n%s", body)
	}
}

// The page is needed most when the pool is exhausted: the snapshot reads
// pg_stat_activity without a connection from the pool.
func TestSnapshotOfExhaustedPool(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	pool := newPool(t, "")
	for _, name := range []string{"api", "api", "api", "sync", "sync", "sync"} {
		c, err := pool.Partition(name).Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Release()
	}
	if _, err := pool.Partition("api").Acquire(ctxTimeout(t, 50*time.Millisecond)); !errors.Is(err, poolguard.ErrAcquireTimeout) {
		t.Fatalf("acquire from the full pool: %v, want ErrAcquireTimeout", err)
	}
	s := snapshot(t, newHandler(t, pool, admin.Options{}))
	if len(s.Leases) != 6 || !s.Activity.OK {
		t.Errorf("exhausted pool: %d leases, activity %+v; want 6, ok", len(s.Leases), s.Activity)
	}
	for _, l := range s.Leases {
		if l.BackendState != "idle" {
			t.Errorf("lease %d: backend state %q, want idle", l.PID, l.BackendState)
		}
	}
}

// When pg_stat_activity cannot be read, the snapshot still lists the
// leases and says why their queries are missing.
func TestSnapshotWithoutActivity(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	db := fmt.Sprintf("noactivity_%d", time.Now().UnixNano()) // unique with -count
	dsn, err := pooltest.Server(t).CreateDatabase(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	pool := newPool(t, dsn)
	c := syncUserData(ctx, t, pool.Partition("sync"))
	base := newHandler(t, pool, admin.Options{})
	// New connections to the database are refused from now on; the pool's
	// are already open.
	if err := pooltest.Server(t).Exec(ctx, "ALTER DATABASE "+db+" WITH ALLOW_CONNECTIONS false"); err != nil {
		t.Fatal(err)
	}
	s := snapshot(t, base)
	if s.Activity.OK || !strings.Contains(s.Activity.Error, "pg_stat_activity") {
		t.Errorf("activity: %+v, want an error naming pg_stat_activity", s.Activity)
	}
	if l := findLease(t, s, c.PID()); l.Query != "" || l.Function != "admin_test.syncUserData" {
		t.Errorf("lease without activity: %+v", l)
	}
	if status, body := do(t, http.MethodGet, base+"/", ""); status != http.StatusOK {
		t.Errorf("page: %d %s", status, body)
	}
}

func TestPage(t *testing.T) {
	pool := newPool(t, "")
	base := newHandler(t, pool, admin.Options{Title: "userapi <prod>", Refresh: 500 * time.Millisecond})
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(csp, "default-src 'none'") {
		t.Fatalf("GET /: %d, %q, CSP %q", resp.StatusCode, resp.Header.Get("Content-Type"), csp)
	}
	_, body := do(t, http.MethodGet, base+"/", "")
	for _, want := range []string{"userapi &lt;prod&gt;", `data-refresh="500"`, `fetch("snapshot"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, external := range []string{"<script src", `<link rel="stylesheet"`, `href="http`, "@import", "url("} {
		if strings.Contains(body, external) {
			t.Errorf("page loads an external resource: %q", external)
		}
	}
	if status, _ := do(t, http.MethodGet, base+"/nothing", ""); status != http.StatusNotFound {
		t.Errorf("GET /nothing: %d, want 404", status)
	}
	if status, _ := do(t, http.MethodPost, base+"/snapshot", token); status != http.StatusMethodNotAllowed {
		t.Errorf("POST /snapshot: %d, want 405", status)
	}
}

func TestActionAuthorization(t *testing.T) {
	pool := newPool(t, "")
	withToken := newHandler(t, pool, admin.Options{Token: token})
	withoutToken := newHandler(t, pool, admin.Options{})
	for _, tc := range []struct {
		name, method, url, token string
		header                   []string
		status                   int
		says                     string
	}{
		{"GET", http.MethodGet, withToken + "/pause?partition=sync", token, nil, http.StatusMethodNotAllowed, "POST"},
		{"no token", http.MethodPost, withToken + "/pause?partition=sync", "", nil, http.StatusUnauthorized, "Authorization: Bearer"},
		{"basic auth", http.MethodPost, withToken + "/pause?partition=sync", "", []string{"Authorization", "Basic " + token}, http.StatusUnauthorized, "Bearer"},
		{"wrong token", http.MethodPost, withToken + "/pause?partition=sync", token + "x", nil, http.StatusForbidden, "wrong"},
		{"short token", http.MethodPost, withToken + "/revoke?pid=1", "t", nil, http.StatusForbidden, "wrong"},
		{"token in a cookie", http.MethodPost, withToken + "/pause?partition=sync", "", []string{"Cookie", "token=" + token}, http.StatusUnauthorized, "Bearer"},
		{"cross-site", http.MethodPost, withToken + "/pause?partition=sync", token, []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden, ""},
		{"actions disabled", http.MethodPost, withoutToken + "/pause?partition=sync", token, nil, http.StatusForbidden, "configure admin.Options.Token"},
		{"actions disabled, GET", http.MethodGet, withoutToken + "/revoke?pid=1", "", nil, http.StatusMethodNotAllowed, "POST"},
		{"no partition", http.MethodPost, withToken + "/pause", token, nil, http.StatusBadRequest, "?partition=NAME"},
		{"unknown partition", http.MethodPost, withToken + "/resume?partition=nope", token, nil, http.StatusNotFound, `\"api\", \"sync\"`},
		{"bad pid", http.MethodPost, withToken + "/revoke?pid=x1", token, nil, http.StatusBadRequest, "not a backend process ID"},
		{"unknown pid", http.MethodPost, withToken + "/revoke?pid=1", token, nil, http.StatusNotFound, "no lease on backend PID 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := do(t, tc.method, tc.url, tc.token, tc.header...)
			if status != tc.status || !strings.Contains(body, tc.says) {
				t.Errorf("%s %s: %d %s; want %d saying %q", tc.method, tc.url, status, body, tc.status, tc.says)
			}
		})
	}
	if pool.Partition("sync").Paused() {
		t.Error("a refused request paused the partition")
	}
}

func TestPauseAndResume(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	pool := newPool(t, "")
	base := newHandler(t, pool, admin.Options{Token: token})
	if status, body := do(t, http.MethodPost, base+"/pause?partition=sync", token); status != http.StatusOK || !strings.Contains(body, `partition \"sync\" paused`) {
		t.Fatalf("pause: %d %s", status, body)
	}
	if _, err := pool.Partition("sync").Acquire(ctx); !errors.Is(err, poolguard.ErrPaused) {
		t.Fatalf("acquire on the paused partition: %v, want ErrPaused", err)
	}
	if err := pool.Partition("api").With(ctx, func(*poolguard.Conn) error { return nil }); err != nil {
		t.Errorf("the other partition: %v", err)
	}
	if s := snapshot(t, base); !s.Partitions[1].Paused || s.Partitions[1].Rejected["paused"] != 1 {
		t.Errorf("snapshot after pause: %+v", s.Partitions[1])
	}
	if status, body := do(t, http.MethodPost, base+"/resume?partition=sync", token); status != http.StatusOK {
		t.Fatalf("resume: %d %s", status, body)
	}
	if err := pool.Partition("sync").With(ctx, func(*poolguard.Conn) error { return nil }); err != nil {
		t.Errorf("acquire after resume: %v", err)
	}
}

func TestRevoke(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	pool := newPool(t, "")
	c := syncUserData(ctx, t, pool.Partition("sync"))
	base := newHandler(t, pool, admin.Options{Token: token})
	pid := strconv.FormatUint(uint64(c.PID()), 10)
	if status, body := do(t, http.MethodPost, base+"/revoke?pid="+pid, token); status != http.StatusOK || !strings.Contains(body, "PID "+pid+" revoked") {
		t.Fatalf("revoke: %d %s", status, body)
	}
	if _, err := c.Exec(ctx, "SELECT 1"); !errors.Is(err, poolguard.ErrLeaseRevoked) {
		t.Errorf("the holder's next call: %v, want ErrLeaseRevoked", err)
	}
	if status, _ := do(t, http.MethodPost, base+"/revoke?pid="+pid, token); status != http.StatusNotFound {
		t.Errorf("revoking again: %d, want 404", status)
	}
	if s := snapshot(t, base); len(s.Leases) != 0 || s.Partitions[1].Reclaimed["revoked"] != 1 {
		t.Errorf("snapshot after revoke: leases %+v, reclaimed %v", s.Leases, s.Partitions[1].Reclaimed)
	}
}

// Revoking by call site takes back every lease acquired there, and only
// those.
func TestRevokeCallSite(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	pool := newPool(t, "")
	leaked := []*poolguard.Conn{syncUserData(ctx, t, pool.Partition("sync")), syncUserData(ctx, t, pool.Partition("sync"))}
	other, err := pool.Partition("api").Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release()
	base := newHandler(t, pool, admin.Options{Token: token})
	site := snapshot(t, base).Leases[0].CallSite
	for _, tc := range []struct {
		query  string
		status int
		want   string
	}{
		{"callSite=", http.StatusBadRequest, "name the call site"},
		{"callSite=" + url.QueryEscape(site) + "&pid=1", http.StatusBadRequest, "not both"},
		{"callSite=nowhere.go:1", http.StatusNotFound, "no lease acquired at"},
		{"callSite=" + url.QueryEscape(site) + "&partition=api", http.StatusNotFound, "no lease acquired at"},
	} {
		if status, body := do(t, http.MethodPost, base+"/revoke?"+tc.query, token); status != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("revoke?%s: %d %s, want %d mentioning %q", tc.query, status, body, tc.status, tc.want)
		}
	}
	status, body := do(t, http.MethodPost, base+"/revoke?partition=sync&callSite="+url.QueryEscape(site), token)
	if status != http.StatusOK || !strings.Contains(body, "2 leases acquired at "+site+" revoked") {
		t.Fatalf("revoke by call site: %d %s", status, body)
	}
	for _, c := range leaked {
		if _, err := c.Exec(ctx, "SELECT 1"); !errors.Is(err, poolguard.ErrLeaseRevoked) {
			t.Errorf("a leaked lease's holder: %v, want ErrLeaseRevoked", err)
		}
	}
	if _, err := other.Exec(ctx, "SELECT 1"); err != nil {
		t.Errorf("the lease at another call site: %v", err)
	}
}

// A lease revoked in the middle of a query: the query is cancelled and the
// holder's call fails at once.
func TestRevokeActive(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	pool := newPool(t, "")
	c, err := pool.Partition("sync").Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	base := newHandler(t, pool, admin.Options{Token: token})
	done := make(chan error, 1)
	go func() {
		_, err := c.Exec(ctx, "SELECT pg_sleep($1)", 25)
		done <- err
	}()
	var l admin.Lease
	for l.BackendState != "active" {
		if ctx.Err() != nil {
			t.Fatalf("the query never showed as active: %+v", l)
		}
		time.Sleep(20 * time.Millisecond)
		l = findLease(t, snapshot(t, base), c.PID())
	}
	if l.State != "active" || l.Query != "SELECT pg_sleep($1)" || l.QuerySeconds < 0 {
		t.Errorf("running lease: state %q, query %q", l.State, l.Query)
	}
	pid := strconv.FormatUint(uint64(c.PID()), 10)
	if status, body := do(t, http.MethodPost, base+"/revoke?pid="+pid, token); status != http.StatusOK {
		t.Fatalf("revoke: %d %s", status, body)
	}
	if err := <-done; !errors.Is(err, poolguard.ErrLeaseRevoked) {
		t.Errorf("the query in flight: %v, want ErrLeaseRevoked", err)
	}
}

func TestNilPool(t *testing.T) {
	if _, err := admin.New(nil, admin.Options{}); !errors.Is(err, admin.ErrNoPool) || !strings.Contains(err.Error(), "nil *poolguard.Pool") {
		t.Errorf("New(nil): %v, want ErrNoPool", err)
	}
	web := httptest.NewServer(admin.NewHandler(nil, admin.Options{}))
	defer web.Close()
	if status, body := do(t, http.MethodGet, web.URL+"/", ""); status != http.StatusInternalServerError || !strings.Contains(body, "nil *poolguard.Pool") {
		t.Errorf("handler of a nil pool: %d %s", status, body)
	}
}

func TestShortTokens(t *testing.T) {
	pool := newPool(t, "")
	const short = "sh0rt-Tok3n-15b" // 15 bytes
	for _, tc := range []struct {
		opts admin.Options
		name string
	}{
		{admin.Options{Token: short}, "Token"},
		{admin.Options{ReadToken: short}, "ReadToken"},
		{admin.Options{Token: token, ReadToken: "x"}, "ReadToken"},
	} {
		_, err := admin.New(pool, tc.opts)
		if !errors.Is(err, admin.ErrShortToken) {
			t.Errorf("New with a short %s: %v, want ErrShortToken", tc.name, err)
			continue
		}
		for _, want := range []string{"admin.Options." + tc.name, "16", "crypto/rand.Text"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("the error %q does not say %q", err, want)
			}
		}
		if strings.Contains(err.Error(), short) {
			t.Errorf("the error shows the token: %v", err)
		}
	}
	if _, err := admin.New(pool, admin.Options{Token: short + "x", ReadToken: short + "y"}); err != nil {
		t.Errorf("New with 16-byte tokens: %v", err)
	}
	// The deprecated constructor fails closed.
	web := httptest.NewServer(admin.NewHandler(pool, admin.Options{Token: short}))
	defer web.Close()
	if status, body := do(t, http.MethodGet, web.URL+"/snapshot", ""); status != http.StatusInternalServerError || !strings.Contains(body, "admin.Options.Token") || strings.Contains(body, short) {
		t.Errorf("NewHandler with a short token: %d %s", status, body)
	}
}

func TestReadToken(t *testing.T) {
	const readToken = "read-7f3e9a1c4b2d"
	pool := newPool(t, "")
	withRead := newHandler(t, pool, admin.Options{Token: token, ReadToken: readToken})
	readOnly := newHandler(t, pool, admin.Options{ReadToken: readToken})
	for _, tc := range []struct {
		name, method, url, token string
		status                   int
		says                     string
	}{
		{"no token", http.MethodGet, withRead + "/snapshot", "", http.StatusUnauthorized, "Authorization: Bearer"},
		{"wrong token", http.MethodGet, withRead + "/snapshot", readToken + "x", http.StatusForbidden, "wrong"},
		{"read token", http.MethodGet, withRead + "/snapshot", readToken, http.StatusOK, `"readAuth": true`},
		{"admin token", http.MethodGet, withRead + "/snapshot", token, http.StatusOK, `"actions": true`},
		{"read token, read only", http.MethodGet, readOnly + "/snapshot", readToken, http.StatusOK, `"actions": false`},
		{"admin token, read only", http.MethodGet, readOnly + "/snapshot", token, http.StatusForbidden, "wrong"},
		{"page without a token", http.MethodGet, withRead + "/", "", http.StatusOK, "<html"},
		{"read token cannot act", http.MethodPost, withRead + "/pause?partition=sync", readToken, http.StatusForbidden, "admin token is wrong"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := do(t, tc.method, tc.url, tc.token)
			if status != tc.status || !strings.Contains(body, tc.says) {
				t.Errorf("%s %s: %d %s; want %d saying %q", tc.method, tc.url, status, body, tc.status, tc.says)
			}
			if strings.Contains(body, readToken) {
				t.Errorf("the answer shows the read token: %s", body)
			}
		})
	}
	if pool.Partition("sync").Paused() {
		t.Error("the read token paused a partition")
	}
	req, _ := http.NewRequest(http.MethodGet, withRead+"/snapshot", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
		t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", got)
	}
}

// Reads may need no token, so a page whose name was rebound to 127.0.0.1 must
// not be able to read the snapshot: only loopback and listed hosts are served.
func TestHostCheck(t *testing.T) {
	pool := newPool(t, "")
	tests := []struct {
		host  string
		hosts []string
		want  int
	}{
		{"127.0.0.1:6061", nil, http.StatusOK},
		{"[::1]:6061", nil, http.StatusOK},
		{"localhost:6061", nil, http.StatusOK},
		{"LOCALHOST", nil, http.StatusOK},
		{"rebound.example:6061", nil, http.StatusMisdirectedRequest},
		{"10.0.0.7:6061", nil, http.StatusMisdirectedRequest},
		{"pool.internal:443", []string{"pool.internal"}, http.StatusOK},
		{"other.internal", []string{"pool.internal"}, http.StatusMisdirectedRequest},
		{"anything.example", []string{"*"}, http.StatusOK},
	}
	for _, tt := range tests {
		h, err := admin.New(pool, admin.Options{Hosts: tt.hosts})
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest(http.MethodGet, "/snapshot", nil)
		r.Host = tt.host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tt.want {
			t.Errorf("Host %q with Hosts %q: status %d, want %d (%s)", tt.host, tt.hosts, w.Code, tt.want, w.Body)
		}
	}
}

// Behind PgBouncer the PIDs the pool holds are PgBouncer's: the snapshot
// says so rather than join its leases with the wrong backends.
func TestSnapshotBehindPooler(t *testing.T) {
	srv := pooltest.Server(t)
	if srv.External() {
		t.Skip("a bouncer needs a server pgtemp started")
	}
	for _, mode := range []string{"transaction", "session"} {
		t.Run(mode, func(t *testing.T) {
			ctx := ctxTimeout(t, 30*time.Second)
			b := pgtemp.NewBouncer(t, srv, pgtemp.BouncerOptions{Mode: mode})
			pool := newPool(t, b.DSN())
			c := syncUserData(ctx, t, pool.Partition("sync"))
			s := snapshot(t, newHandler(t, pool, admin.Options{}))
			if s.Activity.OK || !s.Activity.Pooler || !strings.Contains(s.Activity.Error, "pooler") {
				t.Errorf("activity behind PgBouncer: %+v, want the pooler named", s.Activity)
			}
			if l := findLease(t, s, c.PID()); l.Query != "" || l.BackendState != "" {
				t.Errorf("lease behind PgBouncer joined with a backend: %+v", l)
			}
		})
	}
}
