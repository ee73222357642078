// Package poolguard is a minimal stand-in for the poolguard pool.
package poolguard

import (
	"context"

	"github.com/jackc/pgx/v5"
)

type Pool struct{}

func (p *Pool) Acquire(ctx context.Context) (*Conn, error)                           { return nil, nil }
func (p *Pool) Partition(name string) *Partition                                     { return nil }
func (p *Pool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) { return nil, nil }
func (p *Pool) With(ctx context.Context, f func(*Conn) error) error                  { return nil }
func (p *Pool) WithTx(ctx context.Context, f func(pgx.Tx) error) error               { return nil }

type Partition struct{}

func (p *Partition) Acquire(ctx context.Context) (*Conn, error) { return nil, nil }
func (p *Partition) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return nil, nil
}

type Conn struct{}

func (c *Conn) Release()                                                             {}
func (c *Conn) Hijack() (*pgx.Conn, error)                                           { return nil, nil }
func (c *Conn) Begin(ctx context.Context) (pgx.Tx, error)                            { return nil, nil }
func (c *Conn) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) { return nil, nil }
func (c *Conn) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults         { return nil }
func (c *Conn) Exec(ctx context.Context, sql string, args ...any) (pgx.CommandTag, error) {
	return pgx.CommandTag{}, nil
}
