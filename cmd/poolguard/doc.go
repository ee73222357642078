// Command poolguard is poolguard's command-line tool.
//
// Usage:
//
//	poolguard replay [flags]
//
// The replay subcommand replays the connection-leak outage in compressed
// time on a throw-away PostgreSQL (or on POOLGUARD_DATABASE_URL), with the
// same workload on pgxpool, database/sql and poolguard side by side. It
// prints progress and a summary table, writes an HTML report with charts,
// and exits with status 1 if poolguard kept less than -min-success percent
// of the API requests successful, so it doubles as an end-to-end check.
// Run "poolguard replay -h" for its flags.
package main
