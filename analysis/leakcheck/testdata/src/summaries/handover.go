package summaries

import (
	"context"
	"errors"

	"github.com/poolguard/poolguard"
)

// session keeps its connection once it is built.
type session struct {
	conn *poolguard.Conn
	name string
}

func (s *session) Close() { s.conn.Release() }

// ping only uses the connection.
func (s *session) ping(ctx context.Context) error {
	_, err := s.conn.Exec(ctx, "select 1")
	return err
}

// finish gives the connection back.
func (s *session) finish() { s.conn.Release() }

// newSession keeps conn on success and leaves it to the caller on
// failure.
func newSession(ctx context.Context, conn *poolguard.Conn, name string) (*session, error) {
	if name == "" {
		return nil, errors.New("no name")
	}
	if _, err := conn.Exec(ctx, "set application_name = $1", name); err != nil {
		return nil, err
	}
	return &session{conn: conn, name: name}, nil
}

// newSessionClosing releases conn on failure.
func newSessionClosing(conn *poolguard.Conn, name string) (*session, error) {
	if name == "" {
		conn.Release()
		return nil, errors.New("no name")
	}
	return &session{conn: conn, name: name}, nil
}

func openSession(ctx context.Context, p *poolguard.Pool, name string) (*session, error) {
	conn, err := p.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	s, err := newSession(ctx, conn, name)
	if err != nil {
		conn.Release()
		return nil, err
	}
	return s, nil
}

func useSession(ctx context.Context, p *poolguard.Pool, name string) error {
	conn, err := p.Acquire(ctx)
	if err != nil {
		return err
	}
	s, err := newSession(ctx, conn, name)
	if err != nil {
		conn.Release()
		return err
	}
	defer s.Close()
	return s.ping(ctx)
}

func useSessionLeaks(ctx context.Context, p *poolguard.Pool, name string) error {
	conn, err := p.Acquire(ctx) // want `connection acquired here is not released on the return`
	if err != nil {
		return err
	}
	s, err := newSession(ctx, conn, name)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.ping(ctx)
}

func useSessionClosing(ctx context.Context, p *poolguard.Pool, name string) error {
	conn, err := p.Acquire(ctx)
	if err != nil {
		return err
	}
	s, err := newSessionClosing(conn, name)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.ping(ctx)
}

// A holder whose method only uses the connection does not take it.

func holderPingLeaks(ctx context.Context, p *poolguard.Pool) error {
	conn, err := p.Acquire(ctx) // want `connection acquired here is not released on the return`
	if err != nil {
		return err
	}
	h := &session{conn: conn}
	if err := h.ping(ctx); err != nil {
		return err
	}
	h.finish()
	return nil
}

func holderPing(ctx context.Context, p *poolguard.Pool) error {
	conn, err := p.Acquire(ctx)
	if err != nil {
		return err
	}
	h := &session{conn: conn}
	defer h.finish()
	return h.ping(ctx)
}

func holderReturned(ctx context.Context, p *poolguard.Pool) (*session, error) {
	conn, err := p.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	h := &session{conn: conn}
	if err := h.ping(ctx); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}
