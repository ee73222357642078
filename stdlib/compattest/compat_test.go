package compattest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/pooltest"
	"github.com/poolguard/poolguard/stdlib"
)

func TestMain(m *testing.M) { pooltest.VerifyTestMain(m) }

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newPool returns a pool for the test with a "sql" partition of at most
// max connections, the one the test's database/sql runs on.
func newPool(t *testing.T, max int) *poolguard.Pool {
	return pooltest.New(t, pooltest.Configure(func(c *poolguard.Config) {
		c.Partitions = []poolguard.PartitionConfig{{Name: "app"}, {Name: "sql", Max: max}}
	}))
}

type user struct {
	ID    int64  `db:"id"`
	Name  string `db:"name"`
	Email string `db:"email"`
}

// sqlx runs on the bridge: struct scanning, named statements, IN
// expansion, transactions, each on a lease of the partition.
func TestSQLX(t *testing.T) {
	t.Parallel()
	pool := newPool(t, 2)
	part := pool.Partition("sql")
	db := sqlx.NewDb(stdlib.OpenDB(part), "pgx")
	defer db.Close()
	ctx := testCtx(t)

	db.MustExecContext(ctx, "CREATE TABLE users (id bigserial PRIMARY KEY, name text NOT NULL, email text NOT NULL)")
	for _, u := range []user{{Name: "ada", Email: "ada@example.com"}, {Name: "bob", Email: "bob@example.com"}} {
		if _, err := db.NamedExecContext(ctx, "INSERT INTO users (name, email) VALUES (:name, :email)", u); err != nil {
			t.Fatal(err)
		}
	}

	var got []user
	if err := db.SelectContext(ctx, &got, "SELECT * FROM users ORDER BY id"); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "ada" || got[1].Email != "bob@example.com" {
		t.Errorf("Select = %+v", got)
	}

	q, args, err := sqlx.In("SELECT name FROM users WHERE id IN (?) ORDER BY name", []int64{got[0].ID, got[1].ID})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	if err := db.SelectContext(ctx, &names, db.Rebind(q), args...); err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "ada,bob" {
		t.Errorf("IN query = %v", names)
	}

	// Through sqlx, the call site is sqlx's frame; the test's follows in
	// the stack.
	rows, err := db.QueryxContext(ctx, "SELECT * FROM users")
	if err != nil {
		t.Fatal(err)
	}
	if ls := part.Leases(); len(ls) != 1 || !strings.Contains(ls[0].CallSite, "sqlx") || !inStack(ls[0], "TestSQLX") {
		t.Errorf("leases while sqlx's rows are open: %+v, want one acquired in sqlx, called from TestSQLX", ls)
	}
	rows.Close()

	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	tx.MustExecContext(ctx, "UPDATE users SET name = upper(name)")
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	var u user
	if err := db.GetContext(ctx, &u, "SELECT * FROM users WHERE name = $1", "ada"); err != nil {
		t.Errorf("Get after rollback: %v", err)
	}

	st := part.Stats()
	if st.Acquires < 7 || st.InUse != 0 || pool.Partition("app").Stats().Acquires != 0 {
		t.Errorf("partition sql: %d acquires, %d in use; app: %d acquires; want sqlx's on sql only, all released",
			st.Acquires, st.InUse, pool.Partition("app").Stats().Acquires)
	}
}

// inStack reports whether a frame of l's stack is in a function whose name
// contains fn.
func inStack(l poolguard.LeaseInfo, fn string) bool {
	for _, f := range l.Stack {
		if strings.Contains(f.Function, fn) {
			return true
		}
	}
	return false
}

var migrations = fstest.MapFS{
	"00001_users.sql": {Data: []byte(`-- +goose Up
CREATE TABLE users (id bigserial PRIMARY KEY, name text NOT NULL);

-- +goose Down
DROP TABLE users;
`)},
	"00002_touch.sql": {Data: []byte(`-- +goose Up
ALTER TABLE users ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
-- +goose StatementBegin
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.updated_at := now();
	RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch();

-- +goose Down
DROP TRIGGER users_touch ON users;
DROP FUNCTION touch();
ALTER TABLE users DROP COLUMN updated_at;
`)},
	"00003_index.sql": {Data: []byte(`-- +goose NO TRANSACTION
-- +goose Up
CREATE INDEX CONCURRENTLY users_name ON users (name);

-- +goose Down
DROP INDEX CONCURRENTLY users_name;
`)},
}

// goose applies and rolls back real migrations through the bridge, with
// its session lock: it runs SQL migrations on the connection that holds
// the lock, so a partition of one is enough.
func TestGoose(t *testing.T) {
	t.Parallel()
	pool := newPool(t, 1)
	part := pool.Partition("sql")
	db := stdlib.OpenDB(part)
	defer db.Close()
	ctx := testCtx(t)

	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations, goose.WithSessionLocker(locker))
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	if len(res) != 3 {
		t.Fatalf("Up applied %d migrations, want 3", len(res))
	}
	if v, err := p.GetDBVersion(ctx); err != nil || v != 3 {
		t.Errorf("version after Up = %d, %v; want 3", v, err)
	}

	var indexed bool
	if err := db.QueryRowContext(ctx, "SELECT count(*) = 1 FROM pg_indexes WHERE indexname = 'users_name' AND schemaname = current_schema()").Scan(&indexed); err != nil || !indexed {
		t.Errorf("index built concurrently: %v, %v", indexed, err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO users (name) VALUES ('ada')"); err != nil {
		t.Fatal(err)
	}

	if _, err := p.DownTo(ctx, 1); err != nil {
		t.Fatalf("DownTo(1): %v", err)
	}
	if v, err := p.GetDBVersion(ctx); err != nil || v != 1 {
		t.Errorf("version after DownTo(1) = %d, %v; want 1", v, err)
	}
	_, err = db.ExecContext(ctx, "SELECT updated_at FROM users")
	if err == nil {
		t.Error("updated_at still exists after its migration was rolled back")
	}
	if err := p.Close(); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Close: %v", err)
	}
	if st := part.Stats(); st.Acquires == 0 || st.InUse != 0 || st.Timeouts() != 0 {
		t.Errorf("partition sql: %d acquires, %d in use, %d timeouts; want goose's, all released", st.Acquires, st.InUse, st.Timeouts())
	}
}
