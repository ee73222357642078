package pool

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/poolguard/poolguard"
)

// Maintenance runs periodic housekeeping on the database.
type Maintenance struct {
	pool   *poolguard.Pool
	pgx    *pgxpool.Pool
	tables []string
	dryRun bool
}

// Vacuum vacuums each table on its own connection.
func (m *Maintenance) Vacuum(ctx context.Context) error {
	for _, table := range m.tables {
		conn, err := m.pool.Acquire(ctx) // LEAK
		if err != nil {
			return err
		}
		if m.dryRun {
			log.Printf("would vacuum %s", table)
			continue
		}
		if _, err := conn.Exec(ctx, "vacuum "+table); err != nil {
			conn.Release()
			return fmt.Errorf("vacuum %s: %w", table, err)
		}
		conn.Release()
	}
	return nil
}

// Analyze analyzes tables with one connection for the whole run.
func (m *Maintenance) Analyze(ctx context.Context) (err error) {
	conn, err := m.pool.Acquire(ctx) // OK
	if err != nil {
		return err
	}
	defer func() {
		conn.Release()
		if err != nil {
			log.Printf("analyze: %v", err)
		}
	}()
	for _, table := range m.tables {
		if _, err = conn.Exec(ctx, "analyze "+table); err != nil {
			return err
		}
	}
	return nil
}

// Reindex gives up after a deadline, holding the connection.
func (m *Maintenance) Reindex(ctx context.Context, deadline time.Time) error {
	conn, err := m.pgx.Acquire(ctx) // LEAK
	if err != nil {
		return err
	}
	for _, table := range m.tables {
		if time.Now().After(deadline) {
			return errors.New("reindex: deadline passed")
		}
		if _, err := conn.Exec(ctx, "reindex table "+table); err != nil {
			break
		}
	}
	conn.Release()
	return nil
}

// Lock takes an advisory lock and returns a function that unlocks and
// releases.
func (m *Maintenance) Lock(ctx context.Context, key int64) (func(), error) {
	conn, err := m.pool.Acquire(ctx) // OK
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "select pg_advisory_lock($1)", key); err != nil {
		conn.Release()
		return nil, err
	}
	return func() {
		_, _ = conn.Exec(context.Background(), "select pg_advisory_unlock($1)", key)
		conn.Release()
	}, nil
}

// TryLock forgets the connection when the lock is taken by someone else.
func (m *Maintenance) TryLock(ctx context.Context, key int64) (bool, error) {
	conn, err := m.pool.Acquire(ctx) // LEAK
	if err != nil {
		return false, err
	}
	var ok bool
	if err := conn.QueryRowBool(ctx, key, &ok); err != nil {
		conn.Release()
		return false, err
	}
	if !ok {
		return false, nil
	}
	conn.Release()
	return true, nil
}

// Stats reads statistics through a partition, with a deferred release
// registered only after a check.
func (m *Maintenance) Stats(ctx context.Context, part string) (int, error) {
	conn, err := m.pool.Partition(part).Acquire(ctx) // LEAK
	if err != nil {
		return 0, err
	}
	if part == "" {
		return 0, errors.New("no partition")
	}
	defer conn.Release()
	return len(part), nil
}

// Timeout acquires with a timeout and switches on the result.
func (m *Maintenance) Timeout(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	conn, err := m.pgx.Acquire(ctx) // OK
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("pool busy: %w", err)
	case err != nil:
		return err
	}
	defer conn.Release()
	_, err = conn.Exec(ctx, "select 1")
	return err
}

// Watch polls until cancelled, acquiring on every tick.
func (m *Maintenance) Watch(ctx context.Context, tick <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			conn, err := m.pool.Acquire(ctx) // OK
			if err != nil {
				log.Print(err)
				continue
			}
			if _, err := conn.Exec(ctx, "select 1"); err != nil {
				log.Print(err)
			}
			conn.Release()
		}
	}
}

// Pinned keeps a connection per worker in a slice owned by the caller.
func (m *Maintenance) Pinned(ctx context.Context, n int) ([]*poolguard.Conn, error) {
	conns := make([]*poolguard.Conn, 0, n)
	for i := 0; i < n; i++ {
		conn, err := m.pool.Acquire(ctx) // OK
		if err != nil {
			for _, c := range conns {
				c.Release()
			}
			return nil, err
		}
		conns = append(conns, conn)
	}
	return conns, nil
}
