// Package userstest gives a test the outage's service on a pool of its own:
// pooltest's pool, split as the service splits it, on a schema holding the
// users table.
package userstest

import (
	"testing"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/internal/users"
	"github.com/poolguard/poolguard/pooltest"
)

// New returns the service's pool of maxConns for the test (see
// pooltest.New), on a schema of its own holding n users, every
// corruptEvery-th corrupt, and the recorder of its leak events. A
// pooltest.Configure among opts runs after the service's own.
func New(t *testing.T, n, corruptEvery, maxConns int, opts ...pooltest.Option) (*poolguard.Pool, *pooltest.Recorder) {
	t.Helper()
	ev := &pooltest.Recorder{}
	service := pooltest.Configure(func(cfg *poolguard.Config) {
		cfg.MaxConns = maxConns
		if err := users.Configure(cfg, 0); err != nil {
			t.Fatal(err)
		}
	})
	pool := pooltest.New(t, append([]pooltest.Option{pooltest.Events(ev), service}, opts...)...)
	if err := pool.With(t.Context(), func(c *poolguard.Conn) error { return users.Setup(t.Context(), c, n, corruptEvery) }); err != nil {
		t.Fatal(err)
	}
	return pool, ev
}
