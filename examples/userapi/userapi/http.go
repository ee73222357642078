package userapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/internal/users"
)

// HandlerOptions configure Handler.
type HandlerOptions struct {
	// Metrics, if set, is served at /metrics: the hook for a Prometheus
	// collector of the pool (package prom). Without it /metrics is not
	// served.
	Metrics http.Handler
	// Admin, if set, is served under /debug/pool/: the hook for the pool's
	// admin handler (package admin), which poolguard's commands read and
	// act through. Without it /debug/pool/ is not served.
	Admin http.Handler
	// RequestTimeout bounds each API request's database work, waiting for
	// a connection included. Zero means 5 seconds.
	RequestTimeout time.Duration
	// Logger receives errors that are not the client's. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// Handler returns the service's HTTP API on pool:
//
//	GET  /users?after=ID&limit=N   list users in ID order (limit 1–500, default 50)
//	GET  /users/{id}               one user
//	POST /users                    create a user from {"email", "name"}
//	PUT  /users/{id}               replace a user's email and name
//	GET  /healthz                  200 {"status":"ok"}, or 503 {"status":"degraded","reason":...}
//	                               when the "api" partition is saturated
//	     /debug/pool/...           opts.Admin, when set, with the prefix stripped
//	GET  /metrics                  opts.Metrics, when set
func Handler(pool *poolguard.Pool, opts HandlerOptions) http.Handler {
	h := &handler{pool: pool, store: users.NewStore(pool), opts: opts}
	if h.opts.RequestTimeout == 0 {
		h.opts.RequestTimeout = 5 * time.Second
	}
	if h.opts.Logger == nil {
		h.opts.Logger = slog.Default()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users", h.list)
	mux.HandleFunc("GET /users/{id}", h.get)
	mux.HandleFunc("POST /users", h.create)
	mux.HandleFunc("PUT /users/{id}", h.update)
	mux.HandleFunc("GET /healthz", h.healthz)
	if opts.Admin != nil {
		mux.Handle("/debug/pool/", http.StripPrefix("/debug/pool", opts.Admin))
	}
	if opts.Metrics != nil {
		mux.Handle("GET /metrics", opts.Metrics)
	}
	return mux
}

type handler struct {
	pool  *poolguard.Pool
	store *users.Store
	opts  HandlerOptions
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	after, err := queryInt(r, "after", 0)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	limit, err := queryInt(r, "limit", 50)
	if err == nil && (limit < 1 || limit > 500) {
		err = fmt.Errorf("%w: limit must be between 1 and 500, got %d", errBadRequest, limit)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	page, err := h.store.List(ctx, after, int32(limit))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if page == nil {
		page = []users.User{} // an empty page is [], not null
	}
	writeJSON(w, http.StatusOK, page)
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.respond(w, r, http.StatusOK, func(ctx context.Context) (users.User, error) { return h.store.Get(ctx, id) })
}

func (h *handler) create(w http.ResponseWriter, r *http.Request) {
	in, err := decodeUser(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.respond(w, r, http.StatusCreated, func(ctx context.Context) (users.User, error) { return h.store.Create(ctx, in) })
}

func (h *handler) update(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	var in users.User
	if err == nil {
		in, err = decodeUser(r)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.respond(w, r, http.StatusOK, func(ctx context.Context) (users.User, error) { return h.store.Update(ctx, id, in) })
}

// respond runs fn with the request's bounded context and writes the user
// it returns with code, or its error.
func (h *handler) respond(w http.ResponseWriter, r *http.Request, code int, fn func(context.Context) (users.User, error)) {
	ctx, cancel := h.ctx(r)
	defer cancel()
	u, err := fn(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, code, u)
}

// healthz reports degraded when the API partition is saturated: callers
// are queueing, or every connection it may hold is in use. The database
// itself is not queried, so the check costs no connection.
func (h *handler) healthz(w http.ResponseWriter, r *http.Request) {
	st := h.pool.Partition(users.PartitionAPI).Stats()
	body := map[string]any{"status": "ok", "in_use": st.InUse, "max": st.Max, "waiting": st.Waiting}
	code := http.StatusOK
	switch {
	case st.Waiting > 0:
		body["status"], code = "degraded", http.StatusServiceUnavailable
		body["reason"] = fmt.Sprintf("%d requests waiting for a connection of partition %q", st.Waiting, st.Name)
	case st.InUse >= st.Max:
		body["status"], code = "degraded", http.StatusServiceUnavailable
		body["reason"] = fmt.Sprintf("all %d connections of partition %q in use", st.Max, st.Name)
	}
	writeJSON(w, code, body)
}

// ctx bounds a request's database work.
func (h *handler) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), h.opts.RequestTimeout)
}

var errBadRequest = errors.New("bad request")

// fail writes err as a JSON error with the status it calls for. The
// detail of a server-side error is logged, not sent.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := http.StatusInternalServerError, "internal error"
	switch {
	case errors.Is(err, errBadRequest), errors.Is(err, users.ErrValidation):
		code, msg = http.StatusBadRequest, err.Error()
	case errors.Is(err, users.ErrNotFound):
		code, msg = http.StatusNotFound, err.Error()
	case errors.As(err, new(*poolguard.AcquireError)):
		// No connection within the request's deadline: tell the client
		// to come back rather than hang.
		code, msg = http.StatusServiceUnavailable, "no database connection available, retry later"
		w.Header().Set("Retry-After", "1")
	}
	if code == http.StatusInternalServerError || code == http.StatusServiceUnavailable {
		h.opts.Logger.Error("userapi: request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	writeJSON(w, code, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v) //nolint:errcheck // the client went away
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, fmt.Errorf("%w: user id must be a positive integer, got %q", errBadRequest, r.PathValue("id"))
	}
	return id, nil
}

func queryInt(r *http.Request, name string, def int64) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s must be an integer, got %q", errBadRequest, name, s)
	}
	return n, nil
}

// decodeUser reads a JSON user from the request body (at most 64 KiB).
func decodeUser(r *http.Request) (users.User, error) {
	var u users.User
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&u); err != nil {
		return users.User{}, fmt.Errorf(`%w: body must be a JSON object {"email": ..., "name": ...}: %v`, errBadRequest, err)
	}
	return u, nil
}
