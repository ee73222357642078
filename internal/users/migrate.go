package users

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Beginner starts transactions: a *pgx.Conn, a *pgxpool.Pool or a
// *poolguard.Conn.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Execer runs statements: a *pgx.Conn, a *pgxpool.Pool, a *poolguard.Pool or
// one of its partitions.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// migrationLock is the key of the advisory lock that serialises Migrate
// across processes starting together.
const migrationLock = 0x75736572617069 // "userapi"

// Migrate applies the embedded migrations that the database has not seen
// yet, in the order of their numbers, each in its own transaction, and
// records them in schema_migrations. Running it again does nothing.
func Migrate(ctx context.Context, db Beginner) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	slices.Sort(names)
	if err := inTx(ctx, db, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version int PRIMARY KEY,
			name text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`)
		return err
	}); err != nil {
		return fmt.Errorf("users: creating schema_migrations: %w", err)
	}
	for _, name := range names {
		base := path.Base(name)
		num, _, _ := strings.Cut(base, "_")
		version, err := strconv.Atoi(num)
		if err != nil {
			return fmt.Errorf("users: migration %s: name must start with a number and an underscore", base)
		}
		sql, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		if err := inTx(ctx, db, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLock); err != nil {
				return err
			}
			var done bool
			if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)", version).Scan(&done); err != nil || done {
				return err
			}
			if _, err := tx.Exec(ctx, string(sql)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, base)
			return err
		}); err != nil {
			return fmt.Errorf("users: migration %s: %w", base, err)
		}
	}
	return nil
}

// inTx runs fn in a transaction of db, committed if fn returns nil.
func inTx(ctx context.Context, db Beginner, fn func(pgx.Tx) error) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Setup migrates db and seeds it with n users, every corruptEvery-th
// corrupt: a database ready for the service, as Migrate and Seed make it.
func Setup(ctx context.Context, db interface {
	Beginner
	Execer
}, n, corruptEvery int) error {
	if err := Migrate(ctx, db); err != nil {
		return err
	}
	return Seed(ctx, db, n, corruptEvery)
}

// Seed inserts n users named user1 … userN. If corruptEvery is positive,
// every corruptEvery-th of them has a corrupt email (no @), as the outage's
// "corrupted user data" had: the sync job's validation rejects them.
func Seed(ctx context.Context, db Execer, n, corruptEvery int) error {
	if n < 0 || corruptEvery < 0 {
		return fmt.Errorf("users: seed: n (%d) and corruptEvery (%d) must not be negative", n, corruptEvery)
	}
	_, err := db.Exec(ctx, `
		INSERT INTO users (email, name)
		SELECT CASE WHEN $2 > 0 AND i % $2 = 0 THEN 'corrupt-' || i ELSE 'user' || i || '@example.com' END,
		       'User ' || i
		FROM generate_series(1, $1::int) AS i`, n, corruptEvery)
	if err != nil {
		return fmt.Errorf("users: seed: %w", err)
	}
	return nil
}
