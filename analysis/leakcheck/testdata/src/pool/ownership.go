package pool

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/poolguard/poolguard"
)

// Ownership transfer and release through helpers and closures.

type holder struct {
	conn *poolguard.Conn
}

var global *poolguard.Conn

func release(c *poolguard.Conn) { c.Release() }

func releaseIfValid(c *poolguard.Conn) {
	if c != nil {
		c.Release()
	}
}

func inspect(c *poolguard.Conn) error { return validate(c) }

func indirect(c *poolguard.Conn) { release(c) }

func returned(ctx context.Context, p *poolguard.Pool) (*poolguard.Conn, error) {
	conn, err := p.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return conn, nil
}

func returnedButDroppedOnError(ctx context.Context, p *poolguard.Pool) (*poolguard.Conn, error) {
	conn, err := p.Acquire(ctx) // want `connection acquired here is not released on the return at ownership.go:\d+`
	if err != nil {
		return nil, err
	}
	if err := validate(conn); err != nil {
		return nil, err
	}
	return conn, nil
}

func namedResult(ctx context.Context, p *poolguard.Pool) (conn *poolguard.Conn, err error) {
	conn, err = p.Acquire(ctx)
	if err != nil {
		return
	}
	err = validate(conn)
	return
}

func storedInField(ctx context.Context, p *poolguard.Pool, h *holder) error {
	conn, err := p.Acquire(ctx)
	if err != nil {
		return err
	}
	h.conn = conn
	return nil
}

func storedInLiteral(ctx context.Context, p *poolguard.Pool) (*holder, error) {
	conn, err := p.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return &holder{conn: conn}, nil
}

func storedInMap(ctx context.Context, p *poolguard.Pool, m map[string]*poolguard.Conn) {
	conn, err := p.Acquire(ctx)
	if err != nil {
		return
	}
	m["a"] = conn
}

func storedInSlice(ctx context.Context, p *poolguard.Pool, n int) []*poolguard.Conn {
	var conns []*poolguard.Conn
	for i := 0; i < n; i++ {
		conn, err := p.Acquire(ctx)
		if err != nil {
			break
		}
		conns = append(conns, conn)
	}
	return conns
}

func storedInGlobal(ctx context.Context, p *poolguard.Pool) {
	conn, _ := p.Acquire(ctx)
	global = conn
}

func sentOnChannel(ctx context.Context, p *poolguard.Pool, ch chan<- *poolguard.Conn) {
	conn, err := p.Acquire(ctx)
	if err != nil {
		return
	}
	ch <- conn
}

func sentAfterLeak(ctx context.Context, p *poolguard.Pool, ch chan<- *poolguard.Conn, ok bool) {
	conn, err := p.Acquire(ctx) // want `connection acquired here is not released on the return`
	if err != nil {
		return
	}
	if !ok {
		return
	}
	ch <- conn
}

func goroutine(ctx context.Context, p *poolguard.Pool, wg *sync.WaitGroup) {
	conn, err := p.Acquire(ctx)
	if err != nil {
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer conn.Release()
		_ = validate(conn)
	}()
}

func goroutineCall(ctx context.Context, p *poolguard.Pool) {
	conn, err := p.Acquire(ctx)
	if err != nil {
		return
	}
	go release(conn)
}

func helper(ctx context.Context, p *poolguard.Pool) error {
	conn, err := p.Acquire(ctx)
	if err != nil {
		return err
	}
	defer release(conn)
	return validate(conn)
}

func helperNilCheck(ctx context.Context, p *poolguard.Pool) {
	conn, _ := p.Acquire(ctx)
	releaseIfValid(conn)
}

func helperTwoLevels(ctx context.Context, p *poolguard.Pool) {
	conn, _ := p.Acquire(ctx)
	indirect(conn)
}

func helperThatDoesNotRelease(ctx context.Context, p *poolguard.Pool) error {
	conn, err := p.Acquire(ctx) // want `connection acquired here is not released on the return`
	if err != nil {
		return err
	}
	return inspect(conn)
}

func closureDeferred(ctx context.Context, p *poolguard.Pool) error {
	conn, err := p.Acquire(ctx)
	if err != nil {
		return err
	}
	defer func() {
		conn.Release()
	}()
	return validate(conn)
}

func closureCalled(ctx context.Context, p *poolguard.Pool) error {
	conn, err := p.Acquire(ctx)
	if err != nil {
		return err
	}
	done := func() { conn.Release() }
	if err := validate(conn); err != nil {
		done()
		return err
	}
	done()
	return nil
}

func closureNeverCalled(ctx context.Context, p *poolguard.Pool) error {
	conn, err := p.Acquire(ctx) // want `connection acquired here is not released on the return`
	if err != nil {
		return err
	}
	done := func() { conn.Release() }
	_ = done
	return validate(conn)
}

func closureCalledOnOnePath(ctx context.Context, p *poolguard.Pool) error {
	conn, err := p.Acquire(ctx) // want `connection acquired here is not released on the return at ownership.go:\d+`
	if err != nil {
		return err
	}
	done := func() { conn.Release() }
	if err := validate(conn); err != nil {
		return err
	}
	done()
	return nil
}

func closureImmediate(ctx context.Context, p *poolguard.Pool) {
	conn, _ := p.Acquire(ctx)
	func() {
		conn.Release()
	}()
}

func closurePassed(ctx context.Context, p *poolguard.Pool, cleanup func(func())) {
	conn, _ := p.Acquire(ctx)
	cleanup(func() { conn.Release() })
}

func funcValue(ctx context.Context, p *poolguard.Pool, use func(*poolguard.Conn)) {
	conn, _ := p.Acquire(ctx)
	use(conn)
}

func methodValue(ctx context.Context, p *poolguard.Pool) error {
	conn, err := p.Acquire(ctx)
	if err != nil {
		return err
	}
	done := conn.Release
	defer done()
	return validate(conn)
}

func methodExpr(ctx context.Context, p *poolguard.Pool) {
	conn, _ := p.Acquire(ctx)
	(*poolguard.Conn).Release(conn)
}

func poolWith(ctx context.Context, p *poolguard.Pool) error {
	return p.With(ctx, func(c *poolguard.Conn) error { return validate(c) })
}

type releaser interface{ Release() }

func releaseAll[T releaser](xs ...T) {
	for _, x := range xs {
		x.Release()
	}
}

func releaseOne[T releaser](x T) { x.Release() }

func generic(ctx context.Context, p *poolguard.Pool) {
	conn, _ := p.Acquire(ctx)
	releaseOne(conn)
}

func genericLeak(ctx context.Context, p *pgxpool.Pool, ok bool) {
	conn, err := p.Acquire(ctx) // want `connection acquired here is not released on the return`
	if err != nil {
		return
	}
	if ok {
		return
	}
	releaseOne(conn)
}

// acquireTyped is generic over the pool it draws from.
func acquireTyped[P interface {
	Acquire(context.Context) (*poolguard.Conn, error)
}](ctx context.Context, p P) {
	conn, _ := p.Acquire(ctx)
	conn.Release()
}

type service struct {
	pool *poolguard.Pool
	conn *poolguard.Conn
}

func (s *service) open(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	s.conn = conn
	return nil
}

func (s *service) viaField(ctx context.Context) error {
	var err error
	s.conn, err = s.pool.Acquire(ctx)
	return err
}

func (s *service) closeConn(c *poolguard.Conn) { c.Release() }

func (s *service) viaMethod(ctx context.Context) {
	conn, _ := s.pool.Acquire(ctx)
	s.closeConn(conn)
}

func capturedOuter(ctx context.Context, p *poolguard.Pool) {
	var conn *poolguard.Conn
	func() {
		conn, _ = p.Acquire(ctx)
	}()
	conn.Release()
}

func addressTaken(ctx context.Context, p *poolguard.Pool, keep func(**poolguard.Conn)) {
	conn, _ := p.Acquire(ctx)
	keep(&conn)
}

func goroutineWithoutRelease(ctx context.Context, p *poolguard.Pool) {
	conn, err := p.Acquire(ctx) // want `connection acquired here is not released at the end of the function`
	if err != nil {
		return
	}
	go func() {
		_ = validate(conn)
	}()
}

func selectSend(ctx context.Context, p *poolguard.Pool, out chan<- *poolguard.Conn) error {
	conn, err := p.Acquire(ctx)
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

func selectSendLossy(ctx context.Context, p *poolguard.Pool, out chan<- *poolguard.Conn) error {
	conn, err := p.Acquire(ctx) // want `connection acquired here is not released on the return at ownership.go:\d+`
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

// releaseOnSuccess releases only when err is nil: callers cannot rely on it.
func releaseOnSuccess(c *poolguard.Conn, err error) {
	if err == nil {
		c.Release()
	}
}

func helperReleasesConditionally(ctx context.Context, p *poolguard.Pool) error {
	conn, err := p.Acquire(ctx) // want `connection acquired here is not released on the return`
	if err != nil {
		return err
	}
	err = validate(conn)
	releaseOnSuccess(conn, err)
	return err
}

type lease struct {
	conn *poolguard.Conn
	id   int
}

func (l *lease) close() { l.conn.Release() }

func holderDropped(ctx context.Context, p *poolguard.Pool) error {
	conn, err := p.Acquire(ctx) // want `connection acquired here is not released on the return`
	if err != nil {
		return err
	}
	l := lease{conn: conn, id: 1}
	_ = l.id
	return nil
}

func holderReturned(ctx context.Context, p *poolguard.Pool) (*lease, error) {
	conn, err := p.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	l := &lease{conn: conn}
	return l, nil
}

func holderClosed(ctx context.Context, p *poolguard.Pool) error {
	conn, err := p.Acquire(ctx)
	if err != nil {
		return err
	}
	l := lease{conn: conn}
	defer l.close()
	return validate(l.conn)
}

func holderFieldReleased(ctx context.Context, p *poolguard.Pool) {
	conn, _ := p.Acquire(ctx)
	l := lease{conn: conn}
	l.conn.Release()
}

func holderPositional(ctx context.Context, p *poolguard.Pool, keep func(lease)) {
	conn, _ := p.Acquire(ctx)
	l := lease{conn, 2}
	keep(l)
}
