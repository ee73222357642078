package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/poolguard/poolguard/admin"
)

// envDSN is where --dsn defaults from.
const envDSN = "DATABASE_URL"

// cliAppName is the application_name of the commands' own connection.
const cliAppName = "poolguard/cli"

const dsnUsage = `  --dsn DSN          the PostgreSQL server, as a URL or key=value string
                     (default $DATABASE_URL); leave the password out of it,
                     since ps shows the command line: PGPASSWORD and
                     ~/.pgpass work
`

var activityCmd = &command{
	name:    "activity",
	summary: "what the server sees: every backend by application, idle ones flagged, joined with the leases",
	usage: `usage: poolguard activity --dsn DSN [--app NAME] [--min-age 5m] [--admin URL] [flags]

Lists the client backends of the DSN's database from pg_stat_activity,
longest in their state first: application_name, state, time in that
state, transaction age, query age, wait event and current query (its
literals redacted). A leaked connection is idle, or idle in transaction,
and stays so: such backends idle for longer than --min-age are flagged
with "!".

With --admin URL, the admin handler of the service owning the connections,
each backend is joined with its lease by PID: the partition, the call site
that acquired it and how long it has been held. Then only leased backends
are flagged, since the pool's own idle connections are idle too.

--app NAME keeps the backends whose application_name is NAME or starts
with NAME/ (poolguard names a partition's connections APP/PARTITION).

Exit status: 0 nothing flagged; 1 a backend flagged; 2 bad usage; 3 the
server or the admin endpoint could not be read.

Flags:
` + dsnUsage + `  --app NAME         only this application's backends
  --min-age D        flag idle backends idle for longer than D (default 5m)
  --admin URL        join the backends with the leases of this admin handler
  --json             print the backends as JSON
` + clientUsage + `                     (and on the server, connecting and querying)
`,
	setup: setupActivity,
}

// dbFlags are the flags of the commands that connect to the server.
type dbFlags struct {
	dsn     string
	timeout time.Duration
}

// connConfig validates the DSN without connecting.
func (f *dbFlags) connConfig(e *env) (*pgx.ConnConfig, error) {
	dsn := f.dsn
	if dsn == "" {
		dsn = e.getenv(envDSN)
	}
	if dsn == "" {
		return nil, fmt.Errorf("missing --dsn: name the server, such as --dsn postgres://app@db:5432/app (or set %s)", envDSN)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("bad --dsn: %w", scrub(err, dsn))
	}
	cfg.RuntimeParams["application_name"] = cliAppName
	// One connection, a few statements: no statement cache.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	if f.timeout > 0 {
		cfg.ConnectTimeout = f.timeout
	}
	return cfg, nil
}

// connect opens the command's own connection.
func connect(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to PostgreSQL at %s:%d (database %q): %w; check --dsn, and that the server accepts connections from here",
			cfg.Host, cfg.Port, cfg.Database, scrub(err, cfg.Password))
	}
	return conn, nil
}

// scrub hides secret, or the password of the DSN secret is, in err's
// text. pgx leaves passwords out of its errors already; this makes sure
// of it.
func scrub(err error, secret string) error {
	if err == nil {
		return nil
	}
	var secrets []string
	if pw := dsnPassword(secret); pw != "" {
		secrets = append(secrets, pw, url.QueryEscape(pw), url.PathEscape(pw))
	} else if secret != "" && !strings.ContainsAny(secret, "=/:@ ") {
		secrets = append(secrets, secret) // a bare password
	}
	if len(secrets) == 0 {
		return err
	}
	return scrubbed{err, secrets}
}

type scrubbed struct {
	err     error
	secrets []string
}

func (e scrubbed) Error() string {
	s := e.err.Error()
	for _, x := range e.secrets {
		if x != "" {
			s = strings.ReplaceAll(s, x, "xxxxx")
		}
	}
	return s
}

func (e scrubbed) Unwrap() error { return e.err }

var kvPassword = regexp.MustCompile(`(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// dsnPassword returns the password a DSN carries, if any.
func dsnPassword(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			return pw
		}
	}
	if u, err := url.Parse(dsn); err == nil {
		if pw := u.Query().Get("password"); pw != "" {
			return pw
		}
	}
	if m := kvPassword.FindStringSubmatch(dsn); m != nil {
		return strings.Trim(m[1], "'")
	}
	// A URL that does not parse (a bad port, say) may still carry one.
	if m := urlPassword.FindStringSubmatch(dsn); m != nil {
		return m[1]
	}
	return ""
}

var urlPassword = regexp.MustCompile(`^[a-z]+://[^:/@]*:([^@]+)@`)

// backend is one row of pg_stat_activity.
type backend struct {
	PID           uint32  `json:"pid"`
	Application   string  `json:"application"`
	User          string  `json:"user"`
	State         string  `json:"state"`
	StateSeconds  float64 `json:"stateSeconds"`
	XactSeconds   float64 `json:"xactSeconds,omitempty"`
	QuerySeconds  float64 `json:"querySeconds,omitempty"`
	WaitEventType string  `json:"waitEventType,omitempty"`
	WaitEvent     string  `json:"waitEvent,omitempty"`
	Query         string  `json:"query"`
	// Lease is the admin handler's lease on the backend, with --admin.
	Lease   *backendLease `json:"lease,omitempty"`
	Flagged bool          `json:"flagged"`
}

type backendLease struct {
	Partition  string  `json:"partition"`
	CallSite   string  `json:"callSite"`
	Function   string  `json:"function"`
	AgeSeconds float64 `json:"ageSeconds"`
	Suspected  bool    `json:"suspected"`
}

// idle reports whether the backend waits for its client: how a leaked
// connection looks, whether or not a transaction is open.
func (b *backend) idle() bool {
	return b.State == "idle" || strings.HasPrefix(b.State, "idle in transaction")
}

// backendsSQL lists the client backends of the current database but the
// caller's own, of the application $1 (all if empty): application_name
// $1, or $1/PARTITION. $2 and $3, when true and above zero, keep only the
// idle ones idle for at least $3 seconds: the terminate condition, kept
// in one statement so that listing and terminating select alike.
const backendsSQL = `SELECT pid, coalesce(application_name, ''), coalesce(usename::text, ''), coalesce(state, ''),
	coalesce(extract(epoch FROM clock_timestamp() - state_change)::float8, 0),
	coalesce(extract(epoch FROM clock_timestamp() - xact_start)::float8, 0),
	coalesce(extract(epoch FROM clock_timestamp() - query_start)::float8, 0),
	coalesce(wait_event_type, ''), coalesce(wait_event, ''), coalesce(query, '')%s
FROM pg_stat_activity
WHERE backend_type = 'client backend'
	AND datname = current_database()
	AND pid <> pg_backend_pid()
	AND ($1 = '' OR application_name = $1 OR starts_with(application_name, $1 || '/'))
	AND (NOT $2 OR (state IN ('idle', 'idle in transaction', 'idle in transaction (aborted)')
		AND clock_timestamp() - state_change >= make_interval(secs => $3)))
ORDER BY state_change NULLS LAST, pid`

// queryBackends runs backendsSQL; with terminate, it ends each backend it
// selects, and reports which it could end.
func queryBackends(ctx context.Context, conn *pgx.Conn, app string, idleFor time.Duration, terminate bool) ([]backend, []bool, error) {
	extra := ""
	if terminate {
		extra = ", pg_terminate_backend(pid)"
	}
	rows, err := conn.Query(ctx, fmt.Sprintf(backendsSQL, extra), app, idleFor > 0, idleFor.Seconds())
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var (
		out   []backend
		ended []bool
	)
	for rows.Next() {
		var (
			b   backend
			pid int32
			ok  bool
		)
		dest := []any{&pid, &b.Application, &b.User, &b.State, &b.StateSeconds, &b.XactSeconds, &b.QuerySeconds,
			&b.WaitEventType, &b.WaitEvent, &b.Query}
		if terminate {
			dest = append(dest, &ok)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, nil, err
		}
		b.PID = uint32(pid)
		b.Query = admin.RedactSQL(b.Query, 0)
		out = append(out, b)
		ended = append(ended, ok)
	}
	return out, ended, rows.Err()
}

func setupActivity(args []string, e *env) (func(context.Context) error, error) {
	fs := newFlagSet("activity")
	var (
		df dbFlags
		cf clientFlags
	)
	fs.StringVar(&df.dsn, "dsn", "", "")
	cf.register(fs)
	app := fs.String("app", "", "")
	minAge := fs.Duration("min-age", 5*time.Minute, "")
	adminURL := fs.String("admin", "", "")
	asJSON := fs.Bool("json", false, "")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, fmt.Errorf("activity takes flags only, got the arguments %q", pos)
	}
	if err := positive("min-age", *minAge); err != nil {
		return nil, err
	}
	df.timeout = cf.timeout
	cfg, err := df.connConfig(e)
	if err != nil {
		return nil, err
	}
	var c *client
	if set(fs, "admin") {
		if c, err = newClient(*adminURL, cf, e); err != nil {
			return nil, fmt.Errorf("--admin: %w", err)
		}
	} else if err := positive("timeout", cf.timeout); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		return runActivity(ctx, e, cfg, c, *app, *minAge, *asJSON)
	}, nil
}

// set reports whether the flag name was given.
func set(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// activityReport is activity's output as JSON.
type activityReport struct {
	Database      string    `json:"database"`
	Application   string    `json:"application,omitempty"`
	MinAgeSeconds float64   `json:"minAgeSeconds"`
	Joined        bool      `json:"joinedWithLeases"`
	Note          string    `json:"note,omitempty"` // why the backends are not joined with the leases
	Backends      []backend `json:"backends"`
	Flagged       int       `json:"flagged"`
}

func runActivity(ctx context.Context, e *env, cfg *pgx.ConnConfig, c *client, app string, minAge time.Duration, asJSON bool) error {
	var (
		leases map[uint32]admin.Lease
		note   string
	)
	if c != nil {
		// The snapshot first: a wrong URL or token fails before the
		// server is bothered.
		snap, err := c.snapshot(ctx)
		if err != nil {
			return err
		}
		if snap.Activity.Pooler {
			// Its leases' PIDs are the pooler's: a join would be wrong.
			note = "not joined with the service's leases: " + snap.Activity.Error
			c = nil
		} else {
			leases = make(map[uint32]admin.Lease, len(snap.Leases))
			for _, l := range snap.Leases {
				leases[l.PID] = l
			}
		}
	}
	// A server that accepts but does not answer must not hang the
	// command: --timeout bounds the connection and the query alike.
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	conn, err := connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	bs, _, err := queryBackends(ctx, conn, app, 0, false)
	if err != nil {
		return fmt.Errorf("reading pg_stat_activity: %w", scrub(err, cfg.Password))
	}
	r := activityReport{Database: cfg.Database, Application: app, MinAgeSeconds: minAge.Seconds(), Joined: c != nil, Note: note, Backends: bs}
	if r.Backends == nil {
		r.Backends = []backend{}
	}
	for i := range r.Backends {
		b := &r.Backends[i]
		if l, ok := leases[b.PID]; ok {
			b.Lease = &backendLease{Partition: l.Partition, CallSite: l.CallSite, Function: l.Function, AgeSeconds: l.AgeSeconds, Suspected: l.Suspected}
		}
		b.Flagged = b.idle() && b.StateSeconds >= minAge.Seconds() && (c == nil || b.Lease != nil)
		if b.Flagged {
			r.Flagged++
		}
	}
	if asJSON {
		if err := writeJSON(e.stdout, r); err != nil {
			return err
		}
	} else {
		writeActivity(e.stdout, &r, c, minAge)
	}
	if r.Flagged > 0 {
		return errTrouble
	}
	return nil
}

func writeActivity(w io.Writer, r *activityReport, c *client, minAge time.Duration) {
	who := "all applications"
	if r.Application != "" {
		who = fmt.Sprintf("application %s", r.Application)
	}
	fmt.Fprintf(w, "%d %s of %s in database %q\n\n", len(r.Backends), plural(len(r.Backends), "backend", "backends"), who, r.Database)
	if r.Note != "" {
		fmt.Fprintf(w, "note: %s\n\n", r.Note)
	}
	if len(r.Backends) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := " \tPID\tAPPLICATION\tSTATE\tIN STATE\tXACT\tQUERY AGE\tWAIT"
	if r.Joined {
		head += "\tLEASE"
	}
	fmt.Fprintln(tw, head+"\tQUERY")
	for _, b := range r.Backends {
		mark := " "
		if b.Flagged {
			mark = "!"
		}
		line := fmt.Sprintf("%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s", mark, b.PID, dash(b.Application), dash(b.State),
			age(b.StateSeconds), age(b.XactSeconds), age(b.QuerySeconds), dash(strings.Trim(b.WaitEventType+":"+b.WaitEvent, ":")))
		if r.Joined {
			lease := "not leased"
			if b.Lease != nil {
				lease = fmt.Sprintf("%s at %s, held %s", b.Lease.Partition, b.Lease.CallSite, age(b.Lease.AgeSeconds))
			}
			line += "\t" + lease
		}
		fmt.Fprintln(tw, line+"\t"+query(b.Query))
	}
	tw.Flush()
	fmt.Fprintln(w)
	if r.Flagged == 0 {
		if r.Joined {
			fmt.Fprintf(w, "no leased connection idle for longer than %s\n", short(minAge))
		} else {
			fmt.Fprintf(w, "no connection idle for longer than %s\n", short(minAge))
		}
		return
	}
	if !r.Joined {
		fmt.Fprintf(w, "! %d %s idle for longer than %s. A leaked connection looks like this, and so does a pool's idle one:\n"+
			"  add --admin URL to join them with the service's leases; if the service cannot be reached, end them with\n"+
			"  poolguard terminate --dsn DSN --app APP --min-idle %s\n", r.Flagged, plural(r.Flagged, "connection", "connections"), short(minAge), short(minAge))
		return
	}
	type key struct{ part, site string }
	var (
		order []key
		count = map[key]int{}
		since = map[key]float64{}
	)
	for _, b := range r.Backends {
		if !b.Flagged {
			continue
		}
		k := key{b.Lease.Partition, b.Lease.CallSite}
		if count[k] == 0 {
			order = append(order, k)
		}
		count[k]++
		since[k] = max(since[k], b.StateSeconds)
	}
	for _, k := range order {
		fmt.Fprintf(w, "! %d %s idle for up to %s, leased at %s (partition %s): poolguard revoke %s --call-site %s\n",
			count[k], plural(count[k], "connection", "connections"), age(since[k]), k.site, k.part, c.base, k.site)
	}
}

var terminateCmd = &command{
	name:    "terminate",
	summary: "end an application's long-idle backends on the server, when the service cannot be reached",
	usage: `usage: poolguard terminate --dsn DSN --app NAME --min-idle D [--yes] [flags]

Ends, with pg_terminate_backend, the backends of the DSN's database whose
application_name is NAME or starts with NAME/, and that have been idle (or
idle in transaction) for at least D. Never the command's own backend, nor
another database's, nor a backend running a query.

Without --yes it changes nothing: it lists what it would terminate. With
--yes it terminates the backends matching at that moment (the condition is
checked again in the same statement) and lists what it did.

Prefer "poolguard revoke" while the service answers: a pool keeps counting
a lease whose backend was terminated as held until its holder uses it, and
revoking gives the slot back at once. Terminating is for a service that
cannot be reached, and for pools that cannot revoke.

Needs the right to signal those backends: the same role, a superuser, or a
role granted pg_signal_backend.

Flags:
` + dsnUsage + `  --app NAME         the application whose backends to end (required)
  --min-idle D       only backends idle for at least D (required)
  --yes              terminate them; without it, only list them
  --json             print the backends and the outcome as JSON
  --timeout D        give up on the server after D (default 10s)
`,
	setup: setupTerminate,
}

func setupTerminate(args []string, e *env) (func(context.Context) error, error) {
	fs := newFlagSet("terminate")
	var df dbFlags
	fs.StringVar(&df.dsn, "dsn", "", "")
	fs.DurationVar(&df.timeout, "timeout", 10*time.Second, "")
	app := fs.String("app", "", "")
	minIdle := fs.Duration("min-idle", 0, "")
	yes := fs.Bool("yes", false, "")
	asJSON := fs.Bool("json", false, "")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, fmt.Errorf("terminate takes flags only, got the arguments %q", pos)
	}
	switch {
	case *app == "":
		return nil, errors.New("missing --app: name the application whose backends to end, as poolguard activity lists it")
	case *app == cliAppName:
		return nil, fmt.Errorf("--app %s names this command's own connections", cliAppName)
	case !set(fs, "min-idle"):
		return nil, errors.New("missing --min-idle: only backends idle for at least this long are ended, such as --min-idle 30m")
	}
	if err := positive("min-idle", *minIdle); err != nil {
		return nil, err
	}
	if err := positive("timeout", df.timeout); err != nil {
		return nil, err
	}
	cfg, err := df.connConfig(e)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error { return runTerminate(ctx, e, cfg, *app, *minIdle, *yes, *asJSON) }, nil
}

// terminateReport is terminate's output as JSON.
type terminateReport struct {
	Database        string    `json:"database"`
	Application     string    `json:"application"`
	MinIdleSeconds  float64   `json:"minIdleSeconds"`
	DryRun          bool      `json:"dryRun"`
	Backends        []backend `json:"backends"`
	Terminated      []uint32  `json:"terminated"`
	NotTerminated   []uint32  `json:"notTerminated"`
	TerminatedCount int       `json:"terminatedCount"`
}

func runTerminate(ctx context.Context, e *env, cfg *pgx.ConnConfig, app string, minIdle time.Duration, yes, asJSON bool) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	conn, err := connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	bs, ended, err := queryBackends(ctx, conn, app, minIdle, yes)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42501" {
			return fmt.Errorf("terminating: %w: connect as the role the service uses, a superuser, or a role granted pg_signal_backend", scrub(err, cfg.Password))
		}
		return fmt.Errorf("reading pg_stat_activity: %w", scrub(err, cfg.Password))
	}
	r := terminateReport{Database: cfg.Database, Application: app, MinIdleSeconds: minIdle.Seconds(), DryRun: !yes,
		Backends: bs, Terminated: []uint32{}, NotTerminated: []uint32{}}
	if r.Backends == nil {
		r.Backends = []backend{}
	}
	if yes {
		for i, b := range bs {
			if ended[i] {
				r.Terminated = append(r.Terminated, b.PID)
			} else {
				r.NotTerminated = append(r.NotTerminated, b.PID)
			}
		}
		r.TerminatedCount = len(r.Terminated)
	}
	if asJSON {
		return writeJSON(e.stdout, r)
	}
	w := e.stdout
	if len(bs) == 0 {
		fmt.Fprintf(w, "no backend of %s in database %q idle for %s or longer: nothing to terminate\n", app, cfg.Database, short(minIdle))
		return nil
	}
	verb := "would terminate"
	if yes {
		verb = "terminating"
	}
	fmt.Fprintf(w, "%s %d %s of %s in database %q idle for %s or longer:\n\n", verb, len(bs), plural(len(bs), "backend", "backends"), app, cfg.Database, short(minIdle))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PID\tAPPLICATION\tSTATE\tIN STATE\tXACT\tQUERY")
	for _, b := range bs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", b.PID, b.Application, b.State, age(b.StateSeconds), age(b.XactSeconds), query(b.Query))
	}
	tw.Flush()
	fmt.Fprintln(w)
	if !yes {
		fmt.Fprintln(w, "dry run: nothing was terminated; add --yes to terminate them")
		return nil
	}
	fmt.Fprintf(w, "terminated %d %s (PIDs %s)\n", len(r.Terminated), plural(len(r.Terminated), "backend", "backends"), pids(r.Terminated))
	if len(r.NotTerminated) > 0 {
		fmt.Fprintf(w, "could not terminate %s: gone already, or not this role's to signal\n", pids(r.NotTerminated))
	}
	fmt.Fprintln(w, "the service's pool may count those leases as held until their holders use them: when it answers, poolguard revoke gives slots back at once")
	return nil
}
