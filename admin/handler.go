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

// MinTokenLength is the shortest token [New] accepts, in bytes.
const MinTokenLength = 16

var (
	// ErrShortToken is returned by [New] for a token shorter than
	// [MinTokenLength].
	ErrShortToken = errors.New("admin: token too short")
	// ErrNoPool is returned by [New] when it is given a nil pool.
	ErrNoPool = errors.New("admin: no pool to show")
)

// Options configures the handler.
type Options struct {
	// Token enables the actions (pause, resume, revoke): a request must
	// carry it as "Authorization: Bearer <token>". It also authorizes
	// reads. Empty disables the actions. It must be at least
	// MinTokenLength bytes: use a long random string, such as one from
	// crypto/rand.Text.
	Token string
	// ReadToken, if not empty, is needed to read the snapshot, carried as
	// Token is (Token is accepted as well); empty serves the snapshot to
	// anyone who can reach the handler. The page itself holds no data and
	// is served either way; it sends the token typed into it. It must be
	// at least MinTokenLength bytes.
	ReadToken string
	// Title names the pool on the page. Empty means "poolguard".
	Title string
	// Refresh is how often the page polls the snapshot. Zero means two
	// seconds. A snapshot is served to every request for half this long,
	// so that many pages polling cost one query.
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

// A Handler is the admin handler of a pool, made by [New].
type Handler struct {
	h http.Handler
}

// ServeHTTP serves the page, the snapshot and the actions.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.h.ServeHTTP(w, r) }

// New returns the admin handler for pool. It serves, relative to where it
// is mounted:
//
//	GET  /                       the live page
//	GET  /snapshot               the state as JSON (see Snapshot)
//	POST /pause?partition=NAME   pause a partition (Partition.Pause)
//	POST /resume?partition=NAME  resume it
//	POST /revoke?pid=PID         revoke the lease on a backend (Pool.Revoke)
//	POST /revoke?callSite=FILE:LINE[&partition=NAME]
//	                             revoke every lease acquired at a call site
//
// Without Options.ReadToken, reads need no token: serve the handler on a
// loopback address or behind your own authentication. The actions need
// Options.Token in an Authorization header, which a cross-site form cannot
// send, and cross-origin browser requests are refused besides.
//
// New returns an error wrapping [ErrNoPool] for a nil pool, and one
// wrapping [ErrShortToken] for a token shorter than [MinTokenLength].
func New(pool *poolguard.Pool, opts Options) (*Handler, error) {
	if pool == nil {
		return nil, fmt.Errorf("%w: admin.New was given a nil *poolguard.Pool", ErrNoPool)
	}
	for _, t := range []struct{ name, value string }{{"Token", opts.Token}, {"ReadToken", opts.ReadToken}} {
		if t.value != "" && len(t.value) < MinTokenLength {
			// The token itself is never quoted.
			return nil, fmt.Errorf("%w: admin.Options.%s is %d bytes, fewer than %d: use a long random string, such as one from crypto/rand.Text (26 characters), or leave it empty",
				ErrShortToken, t.name, len(t.value), MinTokenLength)
		}
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
	h := &handler{
		pool: pool, opts: opts,
		tokenHash: hashToken(opts.Token), readHash: hashToken(opts.ReadToken),
		activity: newActivityReader(pool.Config().ConnConfig, opts.ActivityTimeout),
	}
	h.snapshots = &snapshots{take: h.snapshot, ttl: opts.Refresh / 2}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.page)
	mux.HandleFunc("GET /snapshot", h.serveSnapshot)
	cop := http.NewCrossOriginProtection()
	mux.Handle("/pause", cop.Handler(h.action(h.pause)))
	mux.Handle("/resume", cop.Handler(h.action(h.resume)))
	mux.Handle("/revoke", cop.Handler(h.action(h.revoke)))
	return &Handler{checkHost(opts.Hosts, securityHeaders(mux))}, nil
}

// NewHandler is [New] for callers that cannot handle its error: when New
// would fail, the handler it returns answers every request with status
// 500 and New's error.
//
// Deprecated: use New, which reports bad options when the handler is
// made rather than on its first request.
func NewHandler(pool *poolguard.Pool, opts Options) http.Handler {
	h, err := New(pool, opts)
	if err != nil {
		msg := "poolguard " + err.Error()
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, msg, http.StatusInternalServerError)
		})
	}
	return h
}

// hashToken returns the SHA-256 of token, or nil if it is empty.
// Comparing hashes keeps the comparison constant-time whatever the
// lengths.
func hashToken(token string) []byte {
	if token == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// checkHost refuses requests for a Host that is neither loopback nor
// listed: the defence against DNS rebinding, since reads may need no
// token.
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
	readHash  []byte // SHA-256 of the read token; nil when reads are open
	activity  *activityReader
	snapshots *snapshots
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
	if err := h.authorizeRead(r); err != nil {
		refused(w, err)
		return
	}
	snap, err := h.snapshots.get(r.Context())
	if err != nil { // the client went away, or a server timeout ended the request
		writeJSON(w, http.StatusServiceUnavailable, result{Error: "no snapshot: " + err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, snap)
}

// refused answers a request that err refused.
func refused(w http.ResponseWriter, err *actionError) {
	if err.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="poolguard admin"`)
	}
	writeJSON(w, err.status, result{Error: err.msg})
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
			refused(w, err)
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
		h.snapshots.forget()
		h.opts.Logger.Info("poolguard admin: "+msg, "remote", r.RemoteAddr)
		writeJSON(w, http.StatusOK, result{OK: true, Message: msg})
	}
}

// authorize checks the request's bearer token against Options.Token.
func (h *handler) authorize(r *http.Request) *actionError {
	if h.tokenHash == nil {
		return &actionError{http.StatusForbidden, "actions are disabled: configure admin.Options.Token to enable pause, resume and revoke"}
	}
	sum, ok := bearer(r)
	if !ok {
		return &actionError{http.StatusUnauthorized, `this action needs the admin token in the header "Authorization: Bearer <token>"`}
	}
	if subtle.ConstantTimeCompare(sum, h.tokenHash) != 1 {
		return &actionError{http.StatusForbidden, "the admin token is wrong"}
	}
	return nil
}

// authorizeRead checks the request's bearer token against
// Options.ReadToken and Options.Token, if a read token is configured.
func (h *handler) authorizeRead(r *http.Request) *actionError {
	if h.readHash == nil {
		return nil
	}
	sum, ok := bearer(r)
	if !ok {
		return &actionError{http.StatusUnauthorized, `reading needs the read token (or the admin token) in the header "Authorization: Bearer <token>"`}
	}
	// Both comparisons are made, so the time taken does not tell which
	// token matched.
	read := subtle.ConstantTimeCompare(sum, h.readHash)
	admin := 0
	if h.tokenHash != nil {
		admin = subtle.ConstantTimeCompare(sum, h.tokenHash)
	}
	if read|admin != 1 {
		return &actionError{http.StatusForbidden, "the token is wrong"}
	}
	return nil
}

// bearer returns the SHA-256 of the request's bearer token, if it has one.
func bearer(r *http.Request) ([]byte, bool) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return nil, false
	}
	sum := sha256.Sum256([]byte(token))
	return sum[:], true
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
	q := r.URL.Query()
	if q.Has("callSite") {
		if q.Has("pid") {
			return "", refuse(http.StatusBadRequest, "give either ?pid=PID or ?callSite=FILE:LINE, not both")
		}
		return h.revokeCallSite(q.Get("callSite"), q.Get("partition"))
	}
	arg := q.Get("pid")
	pid, err := strconv.ParseUint(arg, 10, 32)
	if err != nil {
		return "", refuse(http.StatusBadRequest, "pid %q is not a backend process ID: use ?pid=12345, as listed in the leases", arg)
	}
	if !h.pool.Revoke(uint32(pid)) {
		return "", refuse(http.StatusNotFound, "no lease on backend PID %d: it may have been released already", pid)
	}
	return fmt.Sprintf("lease on backend PID %d revoked", pid), nil
}

// revokeCallSite revokes every lease acquired at site (in partition, if
// not empty): a leak repeats at one call site, and the operator who found
// it wants all of its leases back, not one PID at a time from a list that
// changes as they type.
func (h *handler) revokeCallSite(site, partition string) (string, error) {
	if site == "" {
		return "", refuse(http.StatusBadRequest, "name the call site: ?callSite=FILE:LINE, as listed in the leases")
	}
	var pids []string
	for _, l := range h.pool.Leases() {
		if l.CallSite != site || (partition != "" && l.Partition != partition) {
			continue
		}
		// A lease released since Leases was read is not revoked, and not
		// counted.
		if h.pool.Revoke(l.PID) {
			pids = append(pids, strconv.FormatUint(uint64(l.PID), 10))
		}
	}
	if len(pids) == 0 {
		return "", refuse(http.StatusNotFound, "no lease acquired at %q: it may have been released already, or the call site is spelled differently from the leases'", site)
	}
	return fmt.Sprintf("%d %s acquired at %s revoked (backend PIDs %s)", len(pids), plural(len(pids), "lease", "leases"), site, strings.Join(pids, ", ")), nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
