// Package replay replays the connection-leak outage in compressed time
// against a real PostgreSQL, with the same workload on three pools side by
// side: pgxpool, database/sql (pgx's stdlib driver) and poolguard.
//
// The workload is the postmortem's: API requests at a fixed rate, each a
// real query on the users table with a deadline, and a sync job that walks
// the users and, on a corrupt one, returns early without releasing its
// connection. The buggy code has the same shape for every pool; poolguard's
// is the user API example's own (users.SyncUserBuggy), so the leak
// reports name its file:line. Each pool has a database of its own on the
// same server, and the three run at the same time. With Options.Replicas,
// each kind runs as a fleet of replicas, each with its own pool and
// database, the job in the first only; with Options.Bouncer, the pools
// connect through PgBouncer.
//
// [Replay] returns a [Result] holding the samples over time and the summary;
// [Result.WriteSummary] prints the table and [Result.WriteHTML] writes a
// self-contained HTML report with inline SVG charts.
package replay
