// Command poolguard is the on-call engineer's tool for poolguard pools: the
// runbook (docs/runbook.md) as commands, and the outage's replay.
//
// Usage:
//
//	poolguard status URL                       the pool at a glance
//	poolguard leases URL [--all]               who holds the connections, by call site
//	poolguard activity --dsn DSN [--app NAME] [--min-age 5m] [--admin URL]
//	                                           what the server sees, joined with the leases
//	poolguard revoke URL --pid PID | --call-site FILE:LINE
//	                                           take leaked connections back
//	poolguard pause URL PARTITION              stop a partition's new acquires
//	poolguard resume URL PARTITION             let it acquire again
//	poolguard terminate --dsn DSN --app NAME --min-idle D [--yes]
//	                                           end long-idle backends on the server
//	poolguard top URL [--once]                 a live view of partitions and holders
//	poolguard size --dsn DSN --service NAME:REPLICAS[:WEIGHT|:=MAXCONNS]...
//	                                           each replica's share of the server
//	poolguard replay [flags]                   replay the outage on three pools
//	poolguard version                          the module version
//
// URL is where a service mounts its admin handler (package admin), such as
// http://127.0.0.1:8080/debug/pool/. The actions (revoke, pause, resume)
// take the admin token from the environment variable POOLGUARD_ADMIN_TOKEN
// or from a file (--token-file), never from a flag's value, which ps
// shows. activity and terminate connect to PostgreSQL themselves, with
// application_name poolguard/cli; --dsn defaults to $DATABASE_URL.
//
// Every command takes --json for scripts, and -h for its flags. Flags may
// follow the arguments.
//
// Exit status:
//
//	0  done; status found the pool healthy, activity flagged nothing
//	1  the command found trouble: status, a partition exhausted (all it may
//	   hold in use, or callers waiting) or holding suspected leaks; activity,
//	   a backend idle past --min-age (under a lease, with --admin); replay,
//	   poolguard below --min-success
//	2  a bad command, flag or argument; nothing was started
//	3  the command could not do its job: the admin endpoint or the server
//	   unreachable, a refused token, an unknown partition, no such lease
package main
