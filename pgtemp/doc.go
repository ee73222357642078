// Package pgtemp starts throw-away PostgreSQL servers for tests, examples
// and benchmarks, much as net/http/httptest starts throw-away HTTP servers.
//
// Each server is a fresh cluster in its own temporary directory, listening
// on a free port on 127.0.0.1 and on a Unix socket in that directory, with
// durability turned off for speed. Over TCP, which every local user can
// reach, the superuser "postgres" needs a password drawn at random for each
// server, which the URLs from [Server.DSN], [Server.ConnString] and
// [Server.CreateDatabase] carry; the socket's directory is private to the
// server's user, and there no password is asked. The server is a
// child process of the caller: it is stopped by [Server.Close] and, on
// Linux, also when the caller dies, whichever of its threads started it, so
// a crashed or killed test leaves no server behind. Its directory stays
// until the next [Start], in any process, which removes the directories of
// owners that have exited at once; each directory records its owner's
// process ID and start time.
//
// Running initdb takes about a second, so the first server built from a
// given set of binaries leaves an initialised template cluster in
// [os.TempDir]; later servers, in this process or any other, copy it.
//
// # Finding PostgreSQL
//
// The binaries (initdb and postgres) are taken from the directory named by
// POOLGUARD_PG_BIN if it is set, otherwise from PATH, otherwise from the
// newest /usr/lib/postgresql/*/bin. If none is found, [Start] returns an
// error wrapping [ErrNoBinaries].
//
// When the process runs as root, which PostgreSQL refuses, the server runs
// as the "postgres" system user instead.
//
// # Using an existing server
//
// If POOLGUARD_DATABASE_URL is set to a postgres:// URL, [Start] and [New]
// start nothing and return a [Server] for that URL. Such a server is
// [Server.External]: Stop, Start and Restart return an error wrapping
// [ErrExternal], Close does nothing, and Options.Settings are not applied.
package pgtemp
