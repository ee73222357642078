// Package lease has a resource leakcheck does not know by itself.
package lease

type Manager struct{}

type Lease struct{}

func (m *Manager) Get(key string) (*Lease, error) { return nil, nil }

func Open(key string) *Lease { return nil }

func (l *Lease) Put()     {}
func (l *Lease) Discard() {}

// Recycle hands the lease back through a mechanism the stand-in does
// not show; the resources file declares it.
func Recycle(l *Lease) {}
