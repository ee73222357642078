package pool

import (
	"context"
	"fmt"

	"github.com/poolguard/poolguard"
)

// Tenant is a connection set up for one tenant. It keeps the
// connection until Close.
type Tenant struct {
	conn *poolguard.Conn
	name string
}

// Close gives the connection back.
func (t *Tenant) Close() { t.conn.Release() }

// Rows counts the rows the tenant can see.
func (t *Tenant) Rows(ctx context.Context) (int, error) {
	var ok bool
	if err := t.conn.QueryRowBool(ctx, 1, &ok); err != nil {
		return 0, err
	}
	return 1, nil
}

// NewTenant sets the tenant on conn and keeps it. On failure the
// caller still owns conn.
func NewTenant(ctx context.Context, conn *poolguard.Conn, name string) (*Tenant, error) {
	if _, err := conn.Exec(ctx, "select set_config('app.tenant', $1, false)", name); err != nil {
		return nil, fmt.Errorf("set tenant %s: %w", name, err)
	}
	return &Tenant{conn: conn, name: name}, nil
}

// OpenTenant gives the connection back when NewTenant fails.
func OpenTenant(ctx context.Context, p *poolguard.Pool, name string) (*Tenant, error) {
	conn, err := p.Acquire(ctx) // OK
	if err != nil {
		return nil, err
	}
	t, err := NewTenant(ctx, conn, name)
	if err != nil {
		conn.Release()
		return nil, err
	}
	return t, nil
}

// OpenTenantSloppy forgets the connection when NewTenant fails.
func OpenTenantSloppy(ctx context.Context, p *poolguard.Pool, name string) (*Tenant, error) {
	conn, err := p.Acquire(ctx) // LEAK
	if err != nil {
		return nil, err
	}
	t, err := NewTenant(ctx, conn, name)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// TenantRows closes the tenant, and so its connection.
func TenantRows(ctx context.Context, p *poolguard.Pool, name string) (int, error) {
	conn, err := p.Acquire(ctx) // OK
	if err != nil {
		return 0, err
	}
	t, err := NewTenant(ctx, conn, name)
	if err != nil {
		conn.Release()
		return 0, err
	}
	defer t.Close()
	return t.Rows(ctx)
}

// task is a background task on a connection.
type task struct {
	conn *poolguard.Conn
	id   int64
}

// check only uses the connection.
func (t *task) check(ctx context.Context) error {
	_, err := t.conn.Exec(ctx, "select check_task($1)", t.id)
	return err
}

// done gives the connection back.
func (t *task) done() { t.conn.Release() }

// RunTask returns on a failed check without giving the connection back:
// check only uses it.
func RunTask(ctx context.Context, p *poolguard.Pool, id int64) error {
	conn, err := p.Acquire(ctx) // LEAK
	if err != nil {
		return err
	}
	t := &task{conn: conn, id: id}
	if err := t.check(ctx); err != nil {
		return fmt.Errorf("task %d: %w", id, err)
	}
	t.done()
	return nil
}

// RunTaskDeferred gives the connection back on every path.
func RunTaskDeferred(ctx context.Context, p *poolguard.Pool, id int64) error {
	conn, err := p.Acquire(ctx) // OK
	if err != nil {
		return err
	}
	t := &task{conn: conn, id: id}
	defer t.done()
	return t.check(ctx)
}

// Lender lends the connection it holds.
type Lender interface {
	Conn() *poolguard.Conn
}

// Touch runs a statement on a lent connection, which it does not own.
func Touch(ctx context.Context, l Lender) error {
	conn := l.Conn() // OK
	_, err := conn.Exec(ctx, "select 1")
	return err
}
