// Cases for resources named in a -resources file.
package userres

import "example.com/lease"

func leaks(m *lease.Manager, ok bool) error {
	l, err := m.Get("a") // want `lease acquired here is not released on the return`
	if err != nil {
		return err
	}
	if !ok {
		return nil
	}
	l.Put()
	return nil
}

func discards(m *lease.Manager) error {
	l, err := m.Get("a")
	if err != nil {
		return err
	}
	defer l.Discard()
	return nil
}

func open() {
	l := lease.Open("b") // want `resource acquired here is not released at the end of the function`
	_ = l
}

func recycled(m *lease.Manager) error {
	l, err := m.Get("a")
	if err != nil {
		return err
	}
	lease.Recycle(l)
	return nil
}

// leaser hands out leases as Manager.Get does.
type leaser interface {
	Lease(ctx string) (*lease.Lease, error)
}

func viaInterface(l leaser, ok bool) error {
	x, err := l.Lease("a") // want `lease acquired here is not released on the return`
	if err != nil {
		return err
	}
	if !ok {
		return nil
	}
	x.Put()
	return nil
}
