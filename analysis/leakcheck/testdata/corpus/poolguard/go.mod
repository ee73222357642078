module github.com/poolguard/poolguard

go 1.26.0

require github.com/jackc/pgx/v5 v5.12.0
