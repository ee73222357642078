// Package pgx is a minimal stand-in for github.com/jackc/pgx/v5 with the
// names leakcheck knows about.
package pgx

import "context"

type CommandTag struct{}

type Rows interface {
	Close()
	Err() error
	Next() bool
	Scan(dest ...any) error
	Values() ([]any, error)
}

type Row interface {
	Scan(dest ...any) error
}

type CollectableRow interface {
	Scan(dest ...any) error
}

type RowToFunc[T any] func(row CollectableRow) (T, error)

type Batch struct{}

func (b *Batch) Queue(sql string, args ...any) {}

type BatchResults interface {
	Exec() (CommandTag, error)
	Query() (Rows, error)
	QueryRow() Row
	Close() error
}

type TxOptions struct{}

type Tx interface {
	Begin(ctx context.Context) (Tx, error)
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
	Exec(ctx context.Context, sql string, args ...any) (CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) Row
	SendBatch(ctx context.Context, b *Batch) BatchResults
}

type Conn struct{}

func Connect(ctx context.Context, dsn string) (*Conn, error) { return nil, nil }
func (c *Conn) Close(ctx context.Context) error              { return nil }
func (c *Conn) Exec(ctx context.Context, sql string, args ...any) (CommandTag, error) {
	return CommandTag{}, nil
}
func (c *Conn) Query(ctx context.Context, sql string, args ...any) (Rows, error) { return nil, nil }
func (c *Conn) QueryRow(ctx context.Context, sql string, args ...any) Row        { return nil }
func (c *Conn) SendBatch(ctx context.Context, b *Batch) BatchResults             { return nil }
func (c *Conn) Begin(ctx context.Context) (Tx, error)                            { return nil, nil }
func (c *Conn) BeginTx(ctx context.Context, o TxOptions) (Tx, error)             { return nil, nil }

func CollectRows[T any](rows Rows, fn RowToFunc[T]) ([]T, error)           { return nil, nil }
func CollectOneRow[T any](rows Rows, fn RowToFunc[T]) (T, error)           { var z T; return z, nil }
func CollectExactlyOneRow[T any](rows Rows, fn RowToFunc[T]) (T, error)    { var z T; return z, nil }
func AppendRows[T any, S ~[]T](s S, rows Rows, fn RowToFunc[T]) (S, error) { return s, nil }
func ForEachRow(rows Rows, scans []any, fn func() error) (CommandTag, error) {
	return CommandTag{}, nil
}
func RowTo[T any](row CollectableRow) (T, error) { var z T; return z, nil }
