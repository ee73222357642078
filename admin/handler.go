package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/poolguard/poolguard"
)

// Options configures the handler.
type Options struct {
	// Token enables the actions (pause, resume, revoke): a request must
	// carry it as "Authorization: Bearer <token>". Empty disables them;
	// the page and the snapshot are served either way. Use a long random
	// string.
	Token string
	// Title names the pool on the page. Empty means "poolguard".
	Title string
	// Refresh is how often the page polls the snapshot. Zero means two
	// seconds.
	Refresh time.Duration
	// MaxQueryLength cuts the queries shown to this many characters. Zero
	// means 300; -1 shows them whole (as far as the server keeps them:
	// track_activity_query_size).
	MaxQueryLength int
	// ActivityTimeout bounds connecting to the server and reading
	// pg_stat_activity for a snapshot. Zero means two seconds.
	ActivityTimeout time.Duration
	// Logger records every action taken or refused, with the requester's
	// address (never the token). Nil means slog.Default().
	Logger *slog.Logger
	// Hosts lists the host names (without port) the handler answers to,
	// besides loopback addresses and "localhost", which it always accepts.
	// Requests for any other Host are refused with 421, so a web page
	// whose name was rebound to 127.0.0.1 cannot read the snapshot. Behind
	// a proxy, list the names it forwards; "*" accepts any.
	Hosts []string
}

// NewHandler returns the admin handler for pool. It serves, relative to
// where it is mounted:
//
//	GET  /                       the live page
//	GET  /snapshot               the state as JSON (see Snapshot)
//	POST /pause?partition=NAME   pause a partition (Partition.Pause)
//	POST /resume?partition=NAME  resume it
//	POST /revoke?pid=PID         revoke the lease on a backend (Pool.Revoke)
//
// Reads need no token: serve the handler on a loopback address or behind
// your own authentication. The actions need Options.Token in an
// Authorization header, which a cross-site form cannot send, and
// cross-origin browser requests are refused besides.
func NewHandler(pool *poolguard.Pool, opts Options) http.Handler {
	if pool == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "poolguard admin: no pool to show: admin.NewHandler was given a nil *poolguard.Pool", http.StatusInternalServerError)
		})
	}
	if opts.Title == "" {
		opts.Title = "poolguard"
	}
	if opts.Refresh <= 0 {
		opts.Refresh = 2 * time.Second
	}
	if opts.MaxQueryLength == 0 {
		opts.MaxQueryLength = 300
	}
	if opts.ActivityTimeout <= 0 {
		opts.ActivityTimeout = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &handler{pool: pool, opts: opts, activity: newActivityReader(pool.Config().ConnConfig, opts.ActivityTimeout)}
	if opts.Token != "" {
		sum := sha256.Sum256([]byte(opts.Token))
		h.tokenHash = sum[:]
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.page)
	mux.HandleFunc("GET /snapshot", h.serveSnapshot)
	cop := http.NewCrossOriginProtection()
	mux.Handle("/pause", cop.Handler(h.action(h.pause)))
	mux.Handle("/resume", cop.Handler(h.action(h.resume)))
	mux.Handle("/revoke", cop.Handler(h.action(h.revoke)))
	return checkHost(opts.Hosts, securityHeaders(mux))
}

// checkHost refuses requests for a Host that is neither loopback nor
// listed: the defence against DNS rebinding, since reads need no token.
func checkHost(hosts []string, next http.Handler) http.Handler {
	allowed := map[string]bool{"localhost": true}
	for _, h := range hosts {
		if h == "*" {
			return next
		}
		allowed[strings.ToLower(h)] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.ToLower(strings.Trim(host, "[]"))
		if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || allowed[host] {
			next.ServeHTTP(w, r)
			return
		}
		http.Error(w, fmt.Sprintf("poolguard admin: host %q is not served: add it to admin.Options.Hosts", host), http.StatusMisdirectedRequest)
	})
}

type handler struct {
	pool      *poolguard.Pool
	opts      Options
	tokenHash []byte // SHA-256 of the token; nil when actions are disabled
	activity  *activityReader
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

func (h *handler) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.snapshot(r.Context()))
}

// result is the answer to an action.
type result struct {
	OK      bool   `json:"ok"`
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

// actionError is a refused action: its status and what to do about it.
type actionError struct {
	status int
	msg    string
}

func (e *actionError) Error() string { return e.msg }

func refuse(status int, format string, args ...any) error {
	return &actionError{status, fmt.Sprintf(format, args...)}
}

// action wraps an action with the method and token checks, the answer and
// the audit log.
func (h *handler) action(do func(*http.Request) (string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeJSON(w, http.StatusMethodNotAllowed, result{Error: "actions must be POST requests"})
			return
		}
		if err := h.authorize(r); err != nil {
			h.opts.Logger.Warn("poolguard admin: action refused", "action", r.URL.Path, "remote", r.RemoteAddr, "reason", err.msg)
			if err.status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="poolguard admin"`)
			}
			writeJSON(w, err.status, result{Error: err.msg})
			return
		}
		msg, err := do(r)
		if err != nil {
			status := http.StatusInternalServerError
			var ae *actionError
			if errors.As(err, &ae) {
				status = ae.status
			}
			writeJSON(w, status, result{Error: err.Error()})
			return
		}
		h.opts.Logger.Info("poolguard admin: "+msg, "remote", r.RemoteAddr)
		writeJSON(w, http.StatusOK, result{OK: true, Message: msg})
	}
}

// authorize checks the request's bearer token against Options.Token.
func (h *handler) authorize(r *http.Request) *actionError {
	if h.tokenHash == nil {
		return &actionError{http.StatusForbidden, "actions are disabled: configure admin.Options.Token to enable pause, resume and revoke"}
	}
	auth := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || token == "" {
		return &actionError{http.StatusUnauthorized, `this action needs the admin token in the header "Authorization: Bearer <token>"`}
	}
	// Comparing hashes keeps the comparison constant-time whatever the
	// lengths.
	sum := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(sum[:], h.tokenHash) != 1 {
		return &actionError{http.StatusForbidden, "the admin token is wrong"}
	}
	return nil
}

func (h *handler) pause(r *http.Request) (string, error)  { return h.setPaused(r, true) }
func (h *handler) resume(r *http.Request) (string, error) { return h.setPaused(r, false) }

func (h *handler) setPaused(r *http.Request, paused bool) (string, error) {
	name := r.URL.Query().Get("partition")
	if name == "" {
		return "", refuse(http.StatusBadRequest, "name the partition: ?partition=NAME")
	}
	pt := h.pool.Partition(name)
	var err error
	verb := "paused"
	if paused {
		err = pt.Pause()
	} else {
		err = pt.Resume()
		verb = "resumed"
	}
	if errors.Is(err, poolguard.ErrNoPartition) {
		return "", refuse(http.StatusNotFound, "%v", err)
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("partition %q %s", name, verb), nil
}

func (h *handler) revoke(r *http.Request) (string, error) {
	arg := r.URL.Query().Get("pid")
	pid, err := strconv.ParseUint(arg, 10, 32)
	if err != nil {
		return "", refuse(http.StatusBadRequest, "pid %q is not a backend process ID: use ?pid=12345, as listed in the leases", arg)
	}
	if !h.pool.Revoke(uint32(pid)) {
		return "", refuse(http.StatusNotFound, "no lease on backend PID %d: it may have been released already", pid)
	}
	return fmt.Sprintf("lease on backend PID %d revoked", pid), nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
