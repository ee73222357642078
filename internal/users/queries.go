package users

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DBTX is what the queries run on, as sqlc generates it (with :copyfrom and
// :batch queries): a poolguard Pool, Partition, Conn or transaction, or
// pgx's and pgxpool's own.
type DBTX interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
	Query(context.Context, string, ...any) (pgx.Rows, error)
	QueryRow(context.Context, string, ...any) pgx.Row
	CopyFrom(ctx context.Context, tableName pgx.Identifier, columnNames []string, rowSrc pgx.CopyFromSource) (int64, error)
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
}

// Queries are the service's queries, in the shape sqlc generates: a
// struct over DBTX, so the same queries run on a partition, a connection
// or a transaction.
type Queries struct {
	db DBTX
}

// New returns the queries on db.
func New(db DBTX) *Queries { return &Queries{db: db} }

// WithTx returns the queries on tx.
func (q *Queries) WithTx(tx pgx.Tx) *Queries { return &Queries{db: tx} }

// GetUser returns the user with the given ID, or ErrNotFound.
func (q *Queries) GetUser(ctx context.Context, id int64) (User, error) {
	return ScanUser(q.db.QueryRow(ctx, SelectUser, id))
}

// ListUsersParams are ListUsers' parameters.
type ListUsersParams struct {
	After int64
	Limit int32
}

const listUsers = "SELECT " + userColumns + " FROM users WHERE id > $1 ORDER BY id LIMIT $2"

// ListUsers returns up to Limit users with IDs above After, in ID order.
func (q *Queries) ListUsers(ctx context.Context, arg ListUsersParams) ([]User, error) {
	rows, _ := q.db.Query(ctx, listUsers, arg.After, arg.Limit) // the rows carry the error
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (User, error) { return ScanUser(r) })
}

// ListUserIDs returns the next page of user IDs after the given one.
func (q *Queries) ListUserIDs(ctx context.Context, after int64) ([]int64, error) {
	rows, _ := q.db.Query(ctx, "SELECT id FROM users WHERE id > $1 ORDER BY id LIMIT 100", after)
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// CreateUserParams are CreateUser's parameters.
type CreateUserParams struct {
	Email, Name string
}

const createUser = "INSERT INTO users (email, name) VALUES ($1, $2) RETURNING " + userColumns

// CreateUser inserts a user and returns it as stored.
func (q *Queries) CreateUser(ctx context.Context, arg CreateUserParams) (User, error) {
	return ScanUser(q.db.QueryRow(ctx, createUser, arg.Email, arg.Name))
}

// CreateUsers inserts users with the COPY protocol, as sqlc's :copyfrom
// queries do, and returns how many it inserted.
func (q *Queries) CreateUsers(ctx context.Context, arg []CreateUserParams) (int64, error) {
	return q.db.CopyFrom(ctx, pgx.Identifier{"users"}, []string{"email", "name"},
		pgx.CopyFromSlice(len(arg), func(i int) ([]any, error) { return []any{arg[i].Email, arg[i].Name}, nil }))
}

// UpdateUserParams are UpdateUser's parameters.
type UpdateUserParams struct {
	ID          int64
	Email, Name string
}

const updateUser = "UPDATE users SET email = $2, name = $3, updated_at = now() WHERE id = $1 RETURNING " + userColumns

// UpdateUser replaces a user's email and name and returns it, or
// ErrNotFound.
func (q *Queries) UpdateUser(ctx context.Context, arg UpdateUserParams) (User, error) {
	return ScanUser(q.db.QueryRow(ctx, updateUser, arg.ID, arg.Email, arg.Name))
}

// MarkSynced is the job's work on a valid user.
const MarkSynced = "UPDATE users SET synced_at = now() WHERE id = $1"

// MarkUserSynced records that the sync job synced the user.
func (q *Queries) MarkUserSynced(ctx context.Context, id int64) error {
	_, err := q.db.Exec(ctx, MarkSynced, id)
	return err
}
