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
// [New] returns a [Handler]; nothing is served unless you mount it. The
// page shows call sites, stacks and (redacted) SQL. Unless
// [Options.ReadToken] is set, reading it needs no credentials, so bind it to
// a loopback address, as in http.Server{Addr: "127.0.0.1:6061"}, or put it
// behind your own authentication. Mount it under a prefix with
// [http.StripPrefix]:
//
//	h, err := admin.New(pool, opts)
//	if err != nil {
//		return err
//	}
//	mux.Handle("/debug/pool/", http.StripPrefix("/debug/pool", h))
//
// It answers only requests addressed to a loopback address or "localhost"
// unless [Options.Hosts] lists other names, so that a web page whose name
// was rebound to 127.0.0.1 cannot read it from a browser on the same host.
//
// # Tokens
//
// Pausing and resuming a partition ([poolguard.Partition.Pause]) and
// revoking one lease ([poolguard.Pool.Revoke]), or every lease acquired at
// one call site, are POST requests that must carry [Options.Token] as "Authorization: Bearer <token>". Without a
// configured token the actions are disabled. With [Options.ReadToken], the
// snapshot is served only to requests carrying it or the action token. New
// refuses tokens shorter than [MinTokenLength] bytes, and tokens are
// compared in constant time. The page sends the token typed into its token
// field, kept in the tab's session storage until the tab is closed.
// Because the token travels in a header and never in a cookie, a
// cross-site form cannot act on an operator's behalf; browser requests
// from another origin are refused as well.
//
// # Current queries
//
// The query each lease is running comes from pg_stat_activity, read over a
// separate short-lived connection made with the pool's connection
// settings, never through the pool, which may be exhausted. Requests that
// arrive together share one snapshot, which is reused for half of
// [Options.Refresh], so there is at most one such connection at a time
// however many requests arrive, and a request whose client goes away stops
// waiting without cutting short the snapshot others wait for. pgx sends
// arguments apart from the statement text, and literals in the text are
// replaced with ? besides (see [RedactSQL]). When the server cannot be
// queried, the page says so and shows everything else.
package admin
