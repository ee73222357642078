package pool

import (
	"context"
	"log"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/poolguard/poolguard"
)

type job struct {
	ID    int
	Query string
}

// work runs one job on a connection it owns and releases it.
func work(ctx context.Context, conn *poolguard.Conn, j job) {
	defer conn.Release()
	if _, err := conn.Exec(ctx, j.Query); err != nil {
		log.Printf("job %d: %v", j.ID, err)
	}
}

// finish releases the connection only when the job succeeded: a bug
// that a summary of "it releases its parameter" cannot see.
func finish(conn *poolguard.Conn, err error) {
	if err == nil {
		conn.Release()
	}
}

// Dispatch hands each connection to a goroutine that releases it.
func Dispatch(ctx context.Context, p *poolguard.Pool, jobs []job) {
	var wg sync.WaitGroup
	for _, j := range jobs {
		conn, err := p.Acquire(ctx) // OK
		if err != nil {
			log.Print(err)
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			work(ctx, conn, j)
		}()
	}
	wg.Wait()
}

// DispatchDirect starts the worker function itself.
func DispatchDirect(ctx context.Context, p *poolguard.Pool, jobs []job) {
	for _, j := range jobs {
		conn, err := p.Acquire(ctx) // OK
		if err != nil {
			return
		}
		go work(ctx, conn, j)
	}
}

// DispatchForgetful starts goroutines that never release.
func DispatchForgetful(ctx context.Context, p *poolguard.Pool, jobs []job) {
	for _, j := range jobs {
		conn, err := p.Acquire(ctx) // LEAK
		if err != nil {
			return
		}
		go func() {
			_, _ = conn.Exec(ctx, j.Query)
		}()
	}
}

// RunJob uses the conditional release helper.
func RunJob(ctx context.Context, p *poolguard.Pool, j job) error {
	conn, err := p.Acquire(ctx) // LEAK
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, j.Query)
	finish(conn, err)
	return err
}

// Queue passes connections to a consumer over a channel.
func Queue(ctx context.Context, p *poolguard.Pool, out chan<- *poolguard.Conn) error {
	conn, err := p.Acquire(ctx) // OK
	if err != nil {
		return err
	}
	select {
	case out <- conn:
		return nil
	case <-ctx.Done():
		conn.Release()
		return ctx.Err()
	}
}

// QueueLossy drops the connection when the consumer is slow.
func QueueLossy(ctx context.Context, p *poolguard.Pool, out chan<- *poolguard.Conn) error {
	conn, err := p.Acquire(ctx) // LEAK
	if err != nil {
		return err
	}
	select {
	case out <- conn:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Reserve keeps connections in a map keyed by tenant.
type Reserve struct {
	mu    sync.Mutex
	conns map[string]*poolguard.Conn
	pool  *poolguard.Pool
}

// Hold reserves a connection for a tenant.
func (r *Reserve) Hold(ctx context.Context, tenant string) error {
	conn, err := r.pool.Acquire(ctx) // OK
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.conns[tenant]; ok {
		old.Release()
	}
	r.conns[tenant] = conn
	return nil
}

// HoldOnce keeps the first connection and forgets the second.
func (r *Reserve) HoldOnce(ctx context.Context, tenant string) error {
	conn, err := r.pool.Acquire(ctx) // LEAK
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.conns[tenant]; ok {
		return nil
	}
	r.conns[tenant] = conn
	return nil
}

// WithConn borrows a pgxpool connection for f.
func WithConn(ctx context.Context, p *pgxpool.Pool, f func(*pgxpool.Conn) error) error {
	conn, err := p.Acquire(ctx) // OK
	if err != nil {
		return err
	}
	defer conn.Release()
	return f(conn)
}

// WithConnPanicky releases only when f returns normally.
func WithConnPanicky(ctx context.Context, p *pgxpool.Pool, f func(*pgxpool.Conn) error) error {
	conn, err := p.Acquire(ctx) // OK
	if err != nil {
		return err
	}
	err = f(conn)
	conn.Release()
	return err
}

// Hijacked takes a connection out of the pool for good.
func Hijacked(ctx context.Context, p *pgxpool.Pool) error {
	conn, err := p.Acquire(ctx) // OK
	if err != nil {
		return err
	}
	raw := conn.Hijack()
	return raw.Close(ctx)
}

// Listen holds a connection for notifications until the context ends.
func Listen(ctx context.Context, p *pgxpool.Pool, channel string) error {
	conn, err := p.Acquire(ctx) // LEAK
	if err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "listen "+channel); err != nil {
		return err
	}
	defer conn.Release()
	<-ctx.Done()
	return nil
}

// Optional acquires only when asked to: the release is guarded by the
// same condition, which a path search does not correlate.
func Optional(ctx context.Context, p *poolguard.Pool, need bool) error {
	var conn *poolguard.Conn
	var err error
	if need {
		conn, err = p.Acquire(ctx) // OK
		if err != nil {
			return err
		}
	}
	log.Print("working")
	if need {
		conn.Release()
	}
	return nil
}

// Keep marks the connection as kept with a flag read by a deferred func.
func Keep(ctx context.Context, p *poolguard.Pool) (*poolguard.Conn, error) {
	conn, err := p.Acquire(ctx) // OK
	if err != nil {
		return nil, err
	}
	kept := false
	defer func() {
		if !kept {
			conn.Release()
		}
	}()
	if _, err := conn.Exec(ctx, "set role app"); err != nil {
		return nil, err
	}
	kept = true
	return conn, nil
}

// Swap replaces the connection it holds without releasing the old one.
func Swap(ctx context.Context, p *poolguard.Pool) error {
	conn, err := p.Acquire(ctx) // LEAK
	if err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "select 1"); err != nil {
		conn, err = p.Acquire(ctx) // OK
		if err != nil {
			return err
		}
	}
	defer conn.Release()
	return nil
}

type session struct {
	conn *poolguard.Conn
	id   int
}

// Session builds a session that owns the connection.
func Session(ctx context.Context, p *poolguard.Pool, id int) (*session, error) {
	conn, err := p.Acquire(ctx) // OK
	if err != nil {
		return nil, err
	}
	return &session{conn: conn, id: id}, nil
}

// Close releases the session's connection.
func (s *session) Close() { s.conn.Release() }

// Scratch builds a session value and drops it: the connection inside is
// never released.
func Scratch(ctx context.Context, p *poolguard.Pool) error {
	conn, err := p.Acquire(ctx) // LEAK
	if err != nil {
		return err
	}
	s := session{conn: conn, id: 1}
	log.Print(s.id)
	return nil
}
