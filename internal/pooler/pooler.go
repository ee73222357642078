// Package pooler tells whether a connection reaches PostgreSQL through a
// connection pooler such as PgBouncer.
//
// A pooler gives each client a process ID of its own making (it routes
// cancel requests with it), so the PIDs a pool holds are then not the
// server's backends, and joining them with pg_stat_activity would find
// nothing or the wrong backend.
package pooler

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Between reports whether a pooler stands between conn and the server:
// whether the server's pg_backend_pid() differs from the process ID conn
// was given when it connected.
func Between(ctx context.Context, conn *pgx.Conn) (bool, error) {
	var server uint32
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&server); err != nil {
		return false, err
	}
	return server != conn.PgConn().PID(), nil
}
