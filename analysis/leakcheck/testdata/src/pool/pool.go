// Cases for connections: poolguard and pgxpool.
package pool

import (
	"context"
	"errors"
	"log"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/poolguard/poolguard"
)

var errInvalid = errors.New("invalid")

func validate(c *poolguard.Conn) error { return nil }

// The outage: the validation error returns before the release.
func outage(ctx context.Context, p *poolguard.Pool) error {
	conn, err := p.Acquire(ctx) // want `connection acquired here is not released on the return at pool.go:26`
	if err != nil {
		return err
	}
	if err := validate(conn); err != nil {
		log.Print(err)
		return err
	}
	conn.Release()
	return nil
}

func deferred(ctx context.Context, p *poolguard.Pool) error {
	conn, err := p.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	return validate(conn)
}

func releasedOnEveryPath(ctx context.Context, p *poolguard.Pool) error {
	conn, err := p.Acquire(ctx)
	if err != nil {
		return err
	}
	if err := validate(conn); err != nil {
		conn.Release()
		return err
	}
	conn.Release()
	return nil
}

func partition(ctx context.Context, p *poolguard.Pool) error {
	conn, err := p.Partition("a").Acquire(ctx) // want `connection acquired here is not released on the return at pool.go:60`
	if err != nil {
		return err
	}
	_ = validate(conn)
	return nil
}

func fallsOffEnd(ctx context.Context, p *poolguard.Pool) {
	conn, _ := p.Acquire(ctx) // want `connection acquired here is not released at the end of the function`
	_ = validate(conn)
}

func ifOnlyOneBranch(ctx context.Context, p *poolguard.Pool, ok bool) {
	conn, err := p.Acquire(ctx) // want `connection acquired here is not released at the end`
	if err != nil {
		return
	}
	if ok {
		conn.Release()
	}
}

func ifElseBoth(ctx context.Context, p *poolguard.Pool, ok bool) {
	conn, err := p.Acquire(ctx)
	if err != nil {
		return
	}
	if ok {
		conn.Release()
	} else {
		conn.Release()
	}
}

func switchMissingCase(ctx context.Context, p *poolguard.Pool, n int) error {
	conn, err := p.Acquire(ctx) // want `connection acquired here is not released on the return at pool.go:99`
	if err != nil {
		return err
	}
	switch n {
	case 1:
		conn.Release()
	case 2:
		return errInvalid
	default:
		conn.Release()
	}
	return nil
}

func switchAllCases(ctx context.Context, p *poolguard.Pool, n int) {
	conn, err := p.Acquire(ctx)
	if err != nil {
		return
	}
	switch n {
	case 1:
		conn.Release()
	default:
		conn.Release()
	}
}

func selectOneCase(ctx context.Context, p *poolguard.Pool, ch chan int) error {
	conn, err := p.Acquire(ctx) // want `connection acquired here is not released on the return at pool.go:126`
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-ch:
		conn.Release()
	}
	return nil
}

func selectBoth(ctx context.Context, p *poolguard.Pool, ch chan int) error {
	conn, err := p.Acquire(ctx)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		conn.Release()
		return ctx.Err()
	case <-ch:
		conn.Release()
	}
	return nil
}

func loopContinue(ctx context.Context, p *poolguard.Pool, ids []int) {
	for _, id := range ids {
		conn, err := p.Acquire(ctx) // want `connection acquired here is not released on the continue at pool.go:155`
		if err != nil {
			continue
		}
		if id < 0 {
			continue
		}
		conn.Release()
	}
}

func loopBreak(ctx context.Context, p *poolguard.Pool, ids []int) {
	for _, id := range ids {
		conn, err := p.Acquire(ctx) // want `connection acquired here is not released at the end of the function`
		if err != nil {
			continue
		}
		if id < 0 {
			break
		}
		conn.Release()
	}
}

func loopReleased(ctx context.Context, p *poolguard.Pool, ids []int) {
	for _, id := range ids {
		conn, err := p.Acquire(ctx)
		if err != nil {
			continue
		}
		if id < 0 {
			conn.Release()
			continue
		}
		conn.Release()
	}
}

func loopNeverReleased(ctx context.Context, p *poolguard.Pool, n int) {
	for i := 0; i < n; i++ {
		conn, err := p.Acquire(ctx) // want `connection acquired here is not released before the next iteration at pool.go:195`
		if err != nil {
			return
		}
		_ = validate(conn)
	}
}

func loopOuterVar(ctx context.Context, p *poolguard.Pool, n int) {
	var conn *poolguard.Conn
	for i := 0; i < n; i++ {
		conn, _ = p.Acquire(ctx) // want `connection acquired here is not released before it is acquired again`
	}
	conn.Release()
}

func deferInLoop(ctx context.Context, p *poolguard.Pool, n int) error {
	for i := 0; i < n; i++ {
		conn, err := p.Acquire(ctx)
		if err != nil {
			return err
		}
		defer conn.Release()
	}
	return nil
}

func panics(ctx context.Context, p *poolguard.Pool) {
	conn, err := p.Acquire(ctx) // want `connection acquired here is not released on the panic at pool.go:\d+`
	if err != nil {
		panic(err)
	}
	if validate(conn) != nil {
		panic("invalid")
	}
	conn.Release()
}

func panicsAfterDefer(ctx context.Context, p *poolguard.Pool) {
	conn, err := p.Acquire(ctx)
	if err != nil {
		panic(err)
	}
	defer conn.Release()
	if validate(conn) != nil {
		panic("invalid")
	}
}

func exits(ctx context.Context, p *poolguard.Pool) {
	conn, err := p.Acquire(ctx)
	if err != nil {
		os.Exit(1)
	}
	if validate(conn) != nil {
		log.Fatal("invalid")
	}
	conn.Release()
}

func gotoSkipsRelease(ctx context.Context, p *poolguard.Pool) error {
	conn, err := p.Acquire(ctx) // want `connection acquired here is not released on the return at pool.go:\d+`
	if err != nil {
		return err
	}
	if validate(conn) != nil {
		goto out
	}
	conn.Release()
out:
	return nil
}

func gotoCleanup(ctx context.Context, p *poolguard.Pool) (err error) {
	conn, err := p.Acquire(ctx)
	if err != nil {
		return err
	}
	if err = validate(conn); err != nil {
		goto out
	}
	err = validate(conn)
out:
	conn.Release()
	return err
}

func deferBeforeErrCheck(ctx context.Context, p *pgxpool.Pool) error {
	conn, err := p.Acquire(ctx)
	defer conn.Release()
	if err != nil {
		return err
	}
	return nil
}

func deferAfterEarlyReturn(ctx context.Context, p *pgxpool.Pool, ok bool) error {
	conn, err := p.Acquire(ctx) // want `connection acquired here is not released on the return at pool.go:\d+`
	if err != nil {
		return err
	}
	if !ok {
		return errInvalid
	}
	defer conn.Release()
	return nil
}

func errEqualNil(ctx context.Context, p *pgxpool.Pool) {
	if conn, err := p.Acquire(ctx); err == nil {
		defer conn.Release()
	}
}

func errEqualNilLeak(ctx context.Context, p *pgxpool.Pool, ok bool) {
	if conn, err := p.Acquire(ctx); err == nil && ok { // want `connection acquired here is not released`
		conn.Release()
	}
}

func errReassigned(ctx context.Context, p *pgxpool.Pool) error {
	conn, err := p.Acquire(ctx) // want `connection acquired here is not released on the return at pool.go:\d+`
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "select 1")
	if err != nil {
		return err
	}
	conn.Release()
	return nil
}

func nilCheck(ctx context.Context, p *pgxpool.Pool) {
	conn, _ := p.Acquire(ctx)
	if conn == nil {
		return
	}
	conn.Release()
}

func nilCheckedRelease(ctx context.Context, p *pgxpool.Pool) error {
	conn, err := p.Acquire(ctx)
	defer func() {
		if conn != nil {
			conn.Release()
		}
	}()
	return err
}

func discarded(ctx context.Context, p *poolguard.Pool) {
	p.Acquire(ctx) // want `connection acquired here is discarded without being released`
}

func blank(ctx context.Context, p *poolguard.Pool) error {
	_, err := p.Acquire(ctx) // want `connection acquired here is discarded`
	return err
}

func overwritten(ctx context.Context, p *poolguard.Pool) {
	conn, _ := p.Acquire(ctx) // want `connection acquired here is not released before it is overwritten at pool.go:\d+`
	conn, _ = p.Acquire(ctx)
	conn.Release()
}

func shadowed(ctx context.Context, p *poolguard.Pool, ok bool) {
	conn, err := p.Acquire(ctx)
	if err != nil {
		return
	}
	defer conn.Release()
	if ok {
		conn, err := p.Acquire(ctx) // want `connection acquired here is not released at the end`
		if err != nil {
			return
		}
		_ = validate(conn)
	}
}

func shadowedErr(ctx context.Context, p *poolguard.Pool, ok bool) {
	conn, err := p.Acquire(ctx) // want `connection acquired here is not released on the return`
	if err != nil {
		return
	}
	if ok {
		conn, err := p.Acquire(ctx)
		if err != nil {
			return
		}
		conn.Release()
	}
	conn.Release()
}

func copied(ctx context.Context, p *poolguard.Pool) {
	conn, _ := p.Acquire(ctx)
	c := conn
	c.Release()
}

func errorsIsSwitch(ctx context.Context, p *pgxpool.Pool) error {
	conn, err := p.Acquire(ctx)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return errInvalid
	case err != nil:
		return err
	}
	conn.Release()
	return nil
}

func errorsIsNilDoesNotPrune(ctx context.Context, p *pgxpool.Pool) error {
	conn, err := p.Acquire(ctx) // want `connection acquired here is not released on the return`
	if errors.Is(err, nil) {
		return nil
	}
	if err != nil {
		return err
	}
	conn.Release()
	return nil
}

func guarded(ctx context.Context, p *poolguard.Pool, need bool) error {
	var conn *poolguard.Conn
	if need {
		c, err := p.Acquire(ctx)
		if err != nil {
			return err
		}
		conn = c
	}
	_ = validate(conn)
	if need {
		conn.Release()
	}
	return nil
}

func guardedNegated(ctx context.Context, p *poolguard.Pool, skip bool) {
	var conn *poolguard.Conn
	if !skip {
		conn, _ = p.Acquire(ctx)
	}
	if !skip {
		defer conn.Release()
	}
}

func guardReassigned(ctx context.Context, p *poolguard.Pool, need bool) {
	var conn *poolguard.Conn
	if need {
		conn, _ = p.Acquire(ctx) // want `connection acquired here is not released at the end of the function`
	}
	need = !need
	if need {
		conn.Release()
	}
}

func deferredCleanupFirst(ctx context.Context, p *poolguard.Pool, ok bool) (err error) {
	var conn *poolguard.Conn
	defer func() {
		if conn != nil {
			conn.Release()
		}
	}()
	conn, err = p.Acquire(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return errInvalid
	}
	return validate(conn)
}

func deferredValueFirst(ctx context.Context, p *poolguard.Pool, ok bool) error {
	var conn *poolguard.Conn
	defer conn.Release()        // releases the nil connection it saw here
	conn, err := p.Acquire(ctx) // want `connection acquired here is not released on the return`
	if err != nil {
		return err
	}
	if !ok {
		return errInvalid
	}
	return validate(conn)
}

func ownedFlag(ctx context.Context, p *poolguard.Pool, conn *poolguard.Conn) error {
	owned := false
	if conn == nil {
		c, err := p.Acquire(ctx)
		if err != nil {
			return err
		}
		conn, owned = c, true
	}
	err := validate(conn)
	if owned {
		conn.Release()
	}
	return err
}

func ownedFlagCleared(ctx context.Context, p *poolguard.Pool) {
	owned := false
	c, err := p.Acquire(ctx) // want `connection acquired here is not released at the end of the function`
	if err != nil {
		return
	}
	owned = true
	if validate(c) != nil {
		owned = false
	}
	if owned {
		c.Release()
	}
}

// The acquisition's error is reassigned on the path that acquired, and
// the connection released where the new error is not nil: the later
// check of err is of the second call, which that path knows is nil.
func errReassignedReleased(ctx context.Context, p *poolguard.Pool) (*poolguard.Conn, error) {
	conn, err := p.Acquire(ctx)
	if err == nil {
		if err = validate(conn); err != nil {
			conn.Release()
		}
	}
	if err != nil {
		return nil, err
	}
	return conn, nil
}

// Its twin forgets the release when the second call fails.
func errReassignedLeak(ctx context.Context, p *poolguard.Pool) (*poolguard.Conn, error) {
	conn, err := p.Acquire(ctx) // want `connection acquired here is not released on the return`
	if err == nil {
		err = validate(conn)
	}
	if err != nil {
		return nil, err
	}
	return conn, nil
}

func setErr(err *error) { *err = errInvalid }

// Where err's address is taken, a call may change it between the checks.
func errAddressed(ctx context.Context, p *poolguard.Pool) (*poolguard.Conn, error) {
	conn, err := p.Acquire(ctx) // want `connection acquired here is not released on the return`
	if err == nil {
		if err = validate(conn); err != nil {
			conn.Release()
		}
	}
	setErr(&err)
	if err != nil {
		return nil, err
	}
	return conn, nil
}

// Hijack takes the connection out of the pool: the caller closes the
// pgx.Conn instead.
func hijacked(ctx context.Context, p *poolguard.Pool) error {
	c, err := p.Acquire(ctx)
	if err != nil {
		return err
	}
	conn, err := c.Hijack()
	if err != nil {
		c.Release()
		return err
	}
	return conn.Close(ctx)
}
