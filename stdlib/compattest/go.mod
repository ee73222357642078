module github.com/poolguard/poolguard/stdlib/compattest

go 1.26.0

require (
	github.com/jmoiron/sqlx v1.4.0
	github.com/poolguard/poolguard v0.0.0
	github.com/pressly/goose/v3 v3.27.1
)

require (
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/pgx/v5 v5.12.0 // indirect
	github.com/mfridman/interpolate v0.0.2 // indirect
	github.com/sethvargo/go-retry v0.4.0 // indirect
	go.uber.org/goleak v1.3.0 // indirect
	go.uber.org/multierr v1.11.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/text v0.42.0 // indirect
)

replace github.com/poolguard/poolguard => ../..
