// Package admin serves a live admin page for a poolguard pool: who holds
// the connections, since when, and what they are running, with the
// actions that stop a runaway workload without a restart.
//
// In the outage that poolguard was built after, it took eight minutes of
// "connection timeout" logs to learn that a background job held all 100
// connections. The page shows it at once: every partition's in-use,
// guaranteed, maximum and waiting counts with a short history, every lease
// with its partition, age, call site, function, backend PID, state and
// current query, and the leases grouped by call site.
//
// # Serving it
//
// [NewHandler] returns an [http.Handler]; nothing is served unless you
// mount it. Reading the page needs no credentials, and it shows call
// sites, stacks and (redacted) SQL, so bind it to a loopback address, as in
// http.Server{Addr: "127.0.0.1:6061"}, or put it behind your own
// authentication. Mount it under a prefix with [http.StripPrefix]:
//
//	mux.Handle("/debug/pool/", http.StripPrefix("/debug/pool", admin.NewHandler(pool, opts)))
//
// It answers only requests addressed to a loopback address or "localhost"
// unless [Options.Hosts] lists other names, so that a web page whose name
// was rebound to 127.0.0.1 cannot read it from a browser on the same host.
//
// # Actions
//
// Pausing and resuming a partition ([poolguard.Partition.Pause]) and
// revoking one lease ([poolguard.Pool.Revoke]) are POST requests that must
// carry [Options.Token] as "Authorization: Bearer <token>"; the page sends
// the token typed into its token field, kept in the tab's session storage
// until the tab is closed. Without a configured token the
// actions are disabled. Because the token travels in a header and never in
// a cookie, a cross-site form cannot act on an operator's behalf; browser
// requests from another origin are refused as well.
//
// # Current queries
//
// The query each lease is running comes from pg_stat_activity, read over a
// separate short-lived connection made with the pool's connection
// settings, never through the pool, which may be exhausted. pgx sends
// arguments apart from the statement text, and literals in the text are
// replaced with ? besides (see [RedactSQL]). When the server cannot be
// queried, the page says so and shows everything else.
package admin
