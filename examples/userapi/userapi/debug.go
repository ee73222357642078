package userapi

import (
	"net/http"

	"github.com/poolguard/poolguard"
)

// poolView is the JSON served at /debug/pool: what an on-call engineer
// needs to see in the first minute (the outage took 8 to find it).
type poolView struct {
	MaxConns   int             `json:"max_conns"`
	TotalConns int             `json:"total_conns"`
	Partitions []partitionView `json:"partitions"`
	Leases     []leaseView     `json:"leases"`
}

type partitionView struct {
	Name               string  `json:"name"`
	InUse              int     `json:"in_use"`
	Idle               int     `json:"idle"`
	Max                int     `json:"max"`
	Guaranteed         int     `json:"guaranteed"`
	Waiting            int     `json:"waiting"`
	OldestLeaseSeconds float64 `json:"oldest_lease_seconds"`
	Acquires           int64   `json:"acquires"`
	Timeouts           int64   `json:"acquire_timeouts"`
	LeaksProven        int64   `json:"leaks_proven"`
	LeaksSuspected     int64   `json:"leaks_suspected"`
	Reclaimed          int64   `json:"reclaimed"`
}

type leaseView struct {
	Partition  string  `json:"partition"`
	CallSite   string  `json:"call_site"`
	Function   string  `json:"function"`
	AgeSeconds float64 `json:"age_seconds"`
	State      string  `json:"state"`
	PID        uint32  `json:"pid"`
	Suspected  bool    `json:"suspected"`
}

// debugPool serves the pool's state as JSON, until /metrics is wired to a
// Prometheus collector and an admin page. Leases show call sites and ages,
// never query arguments.
func (h *handler) debugPool(w http.ResponseWriter, _ *http.Request) {
	st := h.pool.Stats()
	v := poolView{MaxConns: st.MaxConns, TotalConns: st.TotalConns, Partitions: []partitionView{}, Leases: []leaseView{}}
	for _, p := range st.Partitions {
		v.Partitions = append(v.Partitions, partitionView{
			Name: p.Name, InUse: p.InUse, Idle: p.Idle, Max: p.Max, Guaranteed: p.Guaranteed,
			Waiting: p.Waiting, OldestLeaseSeconds: p.OldestLease.Seconds(), Acquires: p.Acquires,
			Timeouts: p.Timeouts(), LeaksProven: p.LeaksProven(),
			LeaksSuspected: p.Leaks.Of(poolguard.LeakSuspected), Reclaimed: p.Reclaimed.Total(),
		})
	}
	for _, l := range h.pool.Leases() {
		v.Leases = append(v.Leases, leaseView{
			Partition: l.Partition, CallSite: l.CallSite, Function: l.Function,
			AgeSeconds: l.Age.Seconds(), State: l.State.String(), PID: l.PID, Suspected: l.Suspected,
		})
	}
	writeJSON(w, http.StatusOK, v)
}
