package pool

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/poolguard/poolguard"
)

// ErrValidation is returned for records that fail validation.
var ErrValidation = errors.New("validation failed")

type record struct {
	ID   int
	Name string
}

func (r record) validate() error {
	if r.Name == "" {
		return ErrValidation
	}
	return nil
}

// Syncer copies records into the database.
type Syncer struct {
	pool    *poolguard.Pool
	records chan record
	metrics map[string]int
}

// SyncOne is the shape of the outage: the validation error returns
// without giving the connection back.
func (s *Syncer) SyncOne(ctx context.Context, r record) error {
	conn, err := s.pool.Acquire(ctx) // LEAK
	if err != nil {
		return fmt.Errorf("acquire: %w", err)
	}
	if err := r.validate(); err != nil {
		log.Printf("sync %d: %v", r.ID, err)
		return err
	}
	_, err = conn.Exec(ctx, "insert into records values ($1, $2)", r.ID, r.Name)
	conn.Release()
	return err
}

// SyncOneFixed releases with defer.
func (s *Syncer) SyncOneFixed(ctx context.Context, r record) error {
	conn, err := s.pool.Acquire(ctx) // OK
	if err != nil {
		return fmt.Errorf("acquire: %w", err)
	}
	defer conn.Release()
	if err := r.validate(); err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "insert into records values ($1, $2)", r.ID, r.Name)
	return err
}

// Run drains the channel until the context ends.
func (s *Syncer) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case r := <-s.records:
			conn, err := s.pool.Acquire(ctx) // LEAK
			if err != nil {
				continue
			}
			if r.validate() != nil {
				s.metrics["invalid"]++
				continue
			}
			if _, err := conn.Exec(ctx, "insert into records values ($1)", r.ID); err != nil {
				log.Print(err)
			}
			conn.Release()
		}
	}
}

// RunFixed releases before every continue.
func (s *Syncer) RunFixed(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case r := <-s.records:
			conn, err := s.pool.Acquire(ctx) // OK
			if err != nil {
				continue
			}
			if r.validate() != nil {
				conn.Release()
				continue
			}
			if _, err := conn.Exec(ctx, "insert into records values ($1)", r.ID); err != nil {
				log.Print(err)
			}
			conn.Release()
		}
	}
}

// Batch syncs a slice, stopping at the first bad record.
func (s *Syncer) Batch(ctx context.Context, rs []record) error {
	conn, err := s.pool.Acquire(ctx) // LEAK
	if err != nil {
		return err
	}
	for _, r := range rs {
		if err := r.validate(); err != nil {
			return fmt.Errorf("record %d: %w", r.ID, err)
		}
		if _, err := conn.Exec(ctx, "insert into records values ($1)", r.ID); err != nil {
			conn.Release()
			return err
		}
	}
	conn.Release()
	return nil
}

// BatchPerRecord takes a connection per record and breaks out early.
func (s *Syncer) BatchPerRecord(ctx context.Context, rs []record) {
	for _, r := range rs {
		conn, err := s.pool.Acquire(ctx) // LEAK
		if err != nil {
			return
		}
		if r.ID == 0 {
			break
		}
		_, _ = conn.Exec(ctx, "insert into records values ($1)", r.ID)
		conn.Release()
	}
}

// Retry acquires with a timeout and retries.
func (s *Syncer) Retry(ctx context.Context, attempts int) error {
	var lastErr error
	for i := 0; i < attempts; i++ {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := s.pool.Acquire(actx) // OK
		cancel()
		if err != nil {
			lastErr = err
			continue
		}
		_, err = conn.Exec(ctx, "select 1")
		conn.Release()
		if err == nil {
			return nil
		}
		lastErr = err
	}
	return lastErr
}

// Ping checks one partition.
func Ping(ctx context.Context, p *poolguard.Pool, name string) error {
	conn, err := p.Partition(name).Acquire(ctx) // OK
	if err != nil {
		return err
	}
	defer conn.Release()
	_, err = conn.Exec(ctx, "select 1")
	return err
}

// PingAll pings partitions but panics on an unknown one.
func PingAll(ctx context.Context, p *poolguard.Pool, names []string) {
	for _, name := range names {
		conn, err := p.Partition(name).Acquire(ctx) // LEAK
		if err != nil {
			log.Printf("acquire %s: %v", name, err)
			continue
		}
		if name == "" {
			panic("empty partition name")
		}
		conn.Release()
	}
}

// Exclusive hands the caller a connection and a function to give it back.
func Exclusive(ctx context.Context, p *poolguard.Pool) (*poolguard.Conn, func(), error) {
	conn, err := p.Acquire(ctx) // OK
	if err != nil {
		return nil, nil, err
	}
	return conn, conn.Release, nil
}

// Checked returns a connection that passed a health check.
func Checked(ctx context.Context, p *poolguard.Pool) (*poolguard.Conn, error) {
	conn, err := p.Acquire(ctx) // LEAK
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "select 1"); err != nil {
		return nil, fmt.Errorf("health check: %w", err)
	}
	return conn, nil
}

// CheckedFixed releases the unhealthy connection.
func CheckedFixed(ctx context.Context, p *poolguard.Pool) (*poolguard.Conn, error) {
	conn, err := p.Acquire(ctx) // OK
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "select 1"); err != nil {
		conn.Release()
		return nil, fmt.Errorf("health check: %w", err)
	}
	return conn, nil
}
