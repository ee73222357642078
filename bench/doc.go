// Package bench holds the benchmarks that compare poolguard with pgxpool and
// database/sql (through pgx's stdlib driver) on one PostgreSQL server, and
// micro-benchmarks of the runtime operations that poolguard's leak tracking
// adds to every acquire.
//
// The package has no code of its own. The benchmarks run only when asked
// for, so that "go test ./..." stays fast:
//
//	go test -run '^$' -bench . -count 6 ./bench/ | tee bench.txt
//	benchstat -col /pool bench.txt
//
// CI runs TestGate, which compares poolguard with pgxpool in one run
// against the recorded run's ratio and allocation counts:
//
//	go test -run TestGate -gate ./bench
//
// They start a throw-away server with pgtemp, or use the one named by
// POOLGUARD_DATABASE_URL. Results and their reading are in
// docs/benchmarks.md.
package bench
