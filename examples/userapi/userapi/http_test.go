package userapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/poolguard/poolguard/admin"
	"github.com/poolguard/poolguard/examples/userapi/userapi"
	"github.com/poolguard/poolguard/internal/users"
)

// do sends a request to srv and decodes the JSON reply into out.
func do(t *testing.T, srv *httptest.Server, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, data)
		}
	}
	return resp.StatusCode
}

func TestHandlers(t *testing.T) {
	pool, _ := newPool(t, 3, 0, 4)
	srv := httptest.NewServer(userapi.Handler(pool, userapi.HandlerOptions{}))
	defer srv.Close()

	var page []users.User
	if code := do(t, srv, "GET", "/users?limit=2", "", &page); code != 200 || len(page) != 2 || page[0].ID != 1 {
		t.Fatalf("GET /users?limit=2: %d %+v", code, page)
	}
	if code := do(t, srv, "GET", "/users?after=2", "", &page); code != 200 || len(page) != 1 || page[0].ID != 3 {
		t.Fatalf("GET /users?after=2: %d %+v", code, page)
	}
	if code := do(t, srv, "GET", "/users?after=99", "", &page); code != 200 || page == nil || len(page) != 0 {
		t.Fatalf("GET /users?after=99: %d %+v, want an empty list", code, page)
	}

	var u users.User
	if code := do(t, srv, "POST", "/users", `{"email":"ada@example.com","name":"Ada"}`, &u); code != 201 || u.ID != 4 || u.Name != "Ada" {
		t.Fatalf("POST /users: %d %+v", code, u)
	}
	if code := do(t, srv, "PUT", "/users/4", `{"email":"ada@example.org","name":"Ada L."}`, &u); code != 200 || u.Email != "ada@example.org" {
		t.Fatalf("PUT /users/4: %d %+v", code, u)
	}
	if code := do(t, srv, "GET", "/users/4", "", &u); code != 200 || u.Name != "Ada L." {
		t.Fatalf("GET /users/4: %d %+v", code, u)
	}

	for _, tc := range []struct {
		method, path, body string
		code               int
		msg                string
	}{
		{"GET", "/users/99", "", 404, "not found"},
		{"GET", "/users/x", "", 400, "positive integer"},
		{"GET", "/users?limit=0", "", 400, "between 1 and 500"},
		{"GET", "/users?after=a", "", 400, "after must be an integer"},
		{"POST", "/users", `{"email":"corrupt","name":"X"}`, 400, "has no @"},
		{"POST", "/users", `{"email":"x@example.com","name":" "}`, 400, "name is empty"},
		{"POST", "/users", `{"email":`, 400, "JSON object"},
		{"POST", "/users", `{"mail":"x@example.com"}`, 400, "unknown field"},
		{"PUT", "/users/99", `{"email":"x@example.com","name":"X"}`, 404, "not found"},
	} {
		var e struct{ Error string }
		if code := do(t, srv, tc.method, tc.path, tc.body, &e); code != tc.code || !strings.Contains(e.Error, tc.msg) {
			t.Errorf("%s %s %s: %d %q, want %d and an error containing %q", tc.method, tc.path, tc.body, code, e.Error, tc.code, tc.msg)
		}
	}
}

func TestHealthzDegraded(t *testing.T) {
	pool, _ := newPool(t, 1, 0, 4)
	srv := httptest.NewServer(userapi.Handler(pool, userapi.HandlerOptions{}))
	defer srv.Close()

	var h struct{ Status, Reason string }
	if code := do(t, srv, "GET", "/healthz", "", &h); code != 200 || h.Status != "ok" {
		t.Fatalf("idle pool: /healthz %d %+v", code, h)
	}
	api := pool.Partition(users.PartitionAPI)
	for range api.Stats().Max {
		c, err := api.Acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Release()
	}
	if code := do(t, srv, "GET", "/healthz", "", &h); code != 503 || h.Status != "degraded" || !strings.Contains(h.Reason, "in use") {
		t.Fatalf("saturated pool: /healthz %d %+v, want 503 degraded", code, h)
	}
	// With every connection held, the API answers 503 at its deadline
	// instead of hanging.
	short := httptest.NewServer(userapi.Handler(pool, userapi.HandlerOptions{RequestTimeout: 50 * time.Millisecond}))
	defer short.Close()
	var e struct{ Error string }
	if code := do(t, short, "GET", "/users/1", "", &e); code != 503 || !strings.Contains(e.Error, "retry later") {
		t.Fatalf("saturated pool: GET /users/1 %d %+v, want 503", code, e)
	}
}

// The admin handler is mounted under /debug/pool/, as poolguard's
// commands expect, and shows the service's leases.
func TestAdminMount(t *testing.T) {
	pool, _ := newPool(t, 1, 0, 4)
	h, err := admin.New(pool, admin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(userapi.Handler(pool, userapi.HandlerOptions{Admin: h}))
	defer srv.Close()
	c, err := pool.Partition(users.PartitionSync).Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()

	var snap admin.Snapshot
	if code := do(t, srv, "GET", "/debug/pool/snapshot", "", &snap); code != 200 {
		t.Fatalf("/debug/pool/snapshot: %d", code)
	}
	if snap.MaxConns != 4 || len(snap.Partitions) != 2 || snap.Partitions[1].InUse != 1 || len(snap.Leases) != 1 ||
		!strings.HasPrefix(snap.Leases[0].CallSite, "userapi/http_test.go:") {
		t.Fatalf("/debug/pool/snapshot = %+v", snap)
	}
}

func TestMetricsHook(t *testing.T) {
	pool, _ := newPool(t, 1, 0, 4)
	for _, tc := range []struct {
		metrics http.Handler
		code    int
	}{
		{nil, 404},
		{http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "# metrics\n") }), 200},
	} {
		srv := httptest.NewServer(userapi.Handler(pool, userapi.HandlerOptions{Metrics: tc.metrics}))
		resp, err := srv.Client().Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		srv.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("/metrics with collector %v: %d, want %d", tc.metrics != nil, resp.StatusCode, tc.code)
		}
	}
}
