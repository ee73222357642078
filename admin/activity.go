package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/poolguard/poolguard/internal/pooler"
)

// errBehindPooler is why the leases are not joined with pg_stat_activity
// when the pool connects through a pooler.
var errBehindPooler = errors.New("the pool connects through a connection pooler (PgBouncer or the like): " +
	"the process IDs it holds are the pooler's, not the server's backends, so its leases cannot be joined with pg_stat_activity; " +
	"use the pooler's SHOW CLIENTS and SHOW SERVERS")

// backend is one row of pg_stat_activity.
type backend struct {
	state, query string
	start        time.Time
	running      float64 // seconds since start, by the server's clock
}

// activityReader reads pg_stat_activity for the pool's backends through
// its own short-lived connection: the pool may be exhausted, which is when
// the page is needed most.
type activityReader struct {
	cfg     *pgx.ConnConfig
	timeout time.Duration
	// sem holds a token while a connection is open: one at a time, even
	// when a flight forgotten after an action overlaps the next.
	sem chan struct{}
}

func newActivityReader(cfg *pgx.ConnConfig, timeout time.Duration) *activityReader {
	cfg = cfg.Copy()
	cfg.RuntimeParams["application_name"] = "poolguard/admin"
	// A statement cache would be wasted on a connection used once.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	return &activityReader{cfg: cfg, timeout: timeout, sem: make(chan struct{}, 1)}
}

// get returns the activity of the backends with the given process IDs.
func (a *activityReader) get(ctx context.Context, pids []uint32) (map[uint32]backend, error) {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	var (
		act map[uint32]backend
		err error
	)
	select {
	case a.sem <- struct{}{}:
		act, err = a.query(ctx, pids)
		<-a.sem
	case <-ctx.Done():
		err = ctx.Err()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within %s: %w", a.timeout, err)
	}
	if errors.Is(err, errBehindPooler) {
		return nil, fmt.Errorf("current queries unavailable: %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("current queries unavailable: could not read pg_stat_activity: %w", scrubbed{err, a.cfg.Password})
	}
	return act, nil
}

func (a *activityReader) query(ctx context.Context, pids []uint32) (map[uint32]backend, error) {
	conn, err := pgx.ConnectConfig(ctx, a.cfg)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if behind, err := pooler.Between(ctx, conn); err != nil {
		return nil, err
	} else if behind {
		return nil, errBehindPooler
	}
	ids := make([]int64, len(pids))
	for i, p := range pids {
		ids[i] = int64(p)
	}
	rows, err := conn.Query(ctx, `SELECT pid, coalesce(state, ''), coalesce(query, ''), query_start,
		coalesce(extract(epoch FROM clock_timestamp() - query_start)::float8, 0)
		FROM pg_stat_activity WHERE pid = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[uint32]backend, len(pids))
	for rows.Next() {
		var (
			pid   int32
			b     backend
			start *time.Time
		)
		if err := rows.Scan(&pid, &b.state, &b.query, &start, &b.running); err != nil {
			return nil, err
		}
		if start != nil {
			b.start = *start
		}
		out[uint32(pid)] = b
	}
	return out, rows.Err()
}

// scrubbed is an error whose text never shows secret. pgx already leaves
// the password out of its errors; this makes sure of it.
type scrubbed struct {
	err    error
	secret string
}

func (e scrubbed) Error() string {
	if e.secret == "" {
		return e.err.Error()
	}
	return strings.ReplaceAll(e.err.Error(), e.secret, "xxxxx")
}

func (e scrubbed) Unwrap() error { return e.err }
