package pgxq

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/poolguard/poolguard"
)

// User is a row of the users table.
type User struct {
	ID    int64
	Email string
}

// ErrNotFound is returned when no user matches.
var ErrNotFound = errors.New("not found")

// Store reads and writes users.
type Store struct {
	pool *pgxpool.Pool
	pg   *poolguard.Pool
}

// List scans every user with the Next loop.
func (s *Store) List(ctx context.Context) ([]User, error) {
	rows, err := s.pool.Query(ctx, "select id, email from users") // OK
	if err != nil {
		return nil, err
	}
	var out []User
	for rows.Next() {
		var u User
		if err := rows.Scan(&u.ID, &u.Email); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// ListLimit stops reading after limit rows without closing.
func (s *Store) ListLimit(ctx context.Context, limit int) ([]User, error) {
	rows, err := s.pool.Query(ctx, "select id, email from users") // LEAK
	if err != nil {
		return nil, err
	}
	var out []User
	for rows.Next() {
		var u User
		if err := rows.Scan(&u.ID, &u.Email); err != nil {
			return nil, err
		}
		out = append(out, u)
		if len(out) == limit {
			return out, nil
		}
	}
	return out, rows.Err()
}

// ListLimitFixed closes with defer.
func (s *Store) ListLimitFixed(ctx context.Context, limit int) ([]User, error) {
	rows, err := s.pool.Query(ctx, "select id, email from users") // OK
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		var u User
		if err := rows.Scan(&u.ID, &u.Email); err != nil {
			return nil, err
		}
		out = append(out, u)
		if len(out) == limit {
			break
		}
	}
	return out, rows.Err()
}

// Collect uses pgx's collector, which closes the rows.
func (s *Store) Collect(ctx context.Context) ([]User, error) {
	rows, _ := s.pool.Query(ctx, "select id, email from users") // OK
	return pgx.CollectRows(rows, pgx.RowToStructByPos[User])
}

// CollectChecked checks a precondition between query and collect.
func (s *Store) CollectChecked(ctx context.Context, active bool) ([]User, error) {
	rows, err := s.pool.Query(ctx, "select id, email from users") // LEAK
	if err != nil {
		return nil, err
	}
	if !active {
		return nil, nil
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[User])
}

// One reads a single user with CollectExactlyOneRow.
func (s *Store) One(ctx context.Context, id int64) (User, error) {
	rows, _ := s.pg.Query(ctx, "select id, email from users where id = $1", id) // OK
	return pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[User])
}

// First reads the first row and stops.
func (s *Store) First(ctx context.Context) (User, error) {
	rows, err := s.pool.Query(ctx, "select id, email from users order by id") // LEAK
	if err != nil {
		return User{}, err
	}
	if !rows.Next() {
		return User{}, ErrNotFound
	}
	var u User
	err = rows.Scan(&u.ID, &u.Email)
	return u, err
}

// Exists checks a row with Next and closes.
func (s *Store) Exists(ctx context.Context, email string) (bool, error) {
	rows, err := s.pool.Query(ctx, "select 1 from users where email = $1", email) // OK
	if err != nil {
		return false, err
	}
	defer rows.Close()
	return rows.Next(), rows.Err()
}

// Get reads one row with QueryRow.
func (s *Store) Get(ctx context.Context, id int64) (User, error) {
	var u User
	err := s.pool.QueryRow(ctx, "select id, email from users where id = $1", id).Scan(&u.ID, &u.Email) // OK
	if errors.Is(err, pgx.ErrNoRows) {
		return u, ErrNotFound
	}
	return u, err
}

// GetLazy keeps the row and returns before scanning it.
func (s *Store) GetLazy(ctx context.Context, id int64) (User, error) {
	row := s.pool.QueryRow(ctx, "select id, email from users where id = $1", id) // LEAK
	if id <= 0 {
		return User{}, ErrNotFound
	}
	var u User
	return u, row.Scan(&u.ID, &u.Email)
}

// Count scans into a helper per row.
func (s *Store) Count(ctx context.Context) (int, error) {
	n := 0
	rows, err := s.pool.Query(ctx, "select id from users") // OK
	if err != nil {
		return 0, err
	}
	_, err = pgx.ForEachRow(rows, []any{new(int64)}, func() error {
		n++
		return nil
	})
	return n, err
}

// Emails uses a scanning helper that reads all rows.
func (s *Store) Emails(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, "select email from users") // OK
	if err != nil {
		return nil, err
	}
	return scanStrings(rows)
}

func scanStrings(rows pgx.Rows) ([]string, error) {
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// FirstEmail uses a helper that scans only the current row.
func (s *Store) FirstEmail(ctx context.Context) (string, error) {
	rows, err := s.pool.Query(ctx, "select email from users") // LEAK
	if err != nil {
		return "", err
	}
	if !rows.Next() {
		return "", ErrNotFound
	}
	return scanOne(rows)
}

func scanOne(rows pgx.Rows) (string, error) {
	var s string
	err := rows.Scan(&s)
	return s, err
}

// Stream sends rows on a channel from a goroutine that closes them.
func (s *Store) Stream(ctx context.Context, out chan<- User) error {
	rows, err := s.pool.Query(ctx, "select id, email from users") // OK
	if err != nil {
		return err
	}
	go func() {
		defer rows.Close()
		defer close(out)
		for rows.Next() {
			var u User
			if rows.Scan(&u.ID, &u.Email) != nil {
				return
			}
			out <- u
		}
	}()
	return nil
}

// Cursor hands rows to the caller.
func (s *Store) Cursor(ctx context.Context) (pgx.Rows, error) {
	rows, err := s.pool.Query(ctx, "select id, email from users") // OK
	if err != nil {
		return nil, fmt.Errorf("cursor: %w", err)
	}
	return rows, nil
}

// ByIDs queries once per id and skips ids that have no row.
func (s *Store) ByIDs(ctx context.Context, ids []int64) ([]User, error) {
	var out []User
	for _, id := range ids {
		rows, err := s.pool.Query(ctx, "select id, email from users where id = $1", id) // LEAK
		if err != nil {
			return nil, err
		}
		if !rows.Next() {
			continue
		}
		var u User
		if err := rows.Scan(&u.ID, &u.Email); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// ByIDsFixed drains each result set.
func (s *Store) ByIDsFixed(ctx context.Context, ids []int64) ([]User, error) {
	var out []User
	for _, id := range ids {
		rows, err := s.pool.Query(ctx, "select id, email from users where id = $1", id) // OK
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var u User
			if err := rows.Scan(&u.ID, &u.Email); err != nil {
				return nil, err
			}
			out = append(out, u)
		}
	}
	return out, nil
}

// Conn queries on a pgx connection it was given.
func Conn(ctx context.Context, c *pgx.Conn) (int, error) {
	rows, err := c.Query(ctx, "select count(*) from users") // OK
	if err != nil {
		return 0, err
	}
	return pgx.CollectOneRow(rows, pgx.RowTo[int])
}

// Partition queries a partition and checks the row count wrongly.
func Partition(ctx context.Context, p *poolguard.Partition) ([]int64, error) {
	rows, err := p.Query(ctx, "select id from users") // OK
	if err != nil {
		return nil, err
	}
	ids, err := pgx.AppendRows([]int64(nil), rows, pgx.RowTo[int64])
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		rows2, err := p.Query(ctx, "select id from archived_users") // OK
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows2, pgx.RowTo[int64])
	}
	more, err := p.Query(ctx, "select id from pending_users") // LEAK
	_ = more
	return ids, err
}
