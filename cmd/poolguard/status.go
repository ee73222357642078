package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/poolguard/poolguard/admin"
)

var statusCmd = &command{
	name:    "status",
	summary: "the pool at a glance; exit 1 if a partition is exhausted or has suspects",
	usage: `usage: poolguard status URL [flags]

Shows each partition of the pool served by the admin handler at URL (such
as http://127.0.0.1:8080/debug/pool/): connections in use, guaranteed and
maximum, callers waiting, the oldest lease, suspected leaks held now,
leaks proven and acquires refused since the pool started.

Exit status: 0 healthy; 1 a partition is exhausted (every connection it
may hold is in use, or callers wait) or holds suspected leaks, so that
"poolguard status URL || alert" gates a script; 2 bad usage; 3 the admin
endpoint could not be read.

Flags:
  --json             print the status as JSON
` + clientUsage,
	setup: setupStatus,
}

func setupStatus(args []string, e *env) (func(context.Context) error, error) {
	fs := newFlagSet("status")
	var cf clientFlags
	cf.register(fs)
	asJSON := fs.Bool("json", false, "")
	c, err := parseClientArgs(fs, args, &cf, e, "status URL")
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		snap, err := c.snapshot(ctx)
		if err != nil {
			return err
		}
		st := newStatus(snap)
		if *asJSON {
			if err := writeJSON(e.stdout, st); err != nil {
				return err
			}
		} else {
			st.write(e.stdout)
		}
		if !st.Healthy {
			return errTrouble
		}
		return nil
	}, nil
}

// parseClientArgs parses the flags and the single URL argument of a
// command that reads the admin handler.
func parseClientArgs(fs *flag.FlagSet, args []string, cf *clientFlags, e *env, form string) (*client, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	switch len(pos) {
	case 0:
		return nil, fmt.Errorf("missing the admin URL: poolguard %s, such as %s", form, exampleURL)
	case 1:
	default:
		return nil, fmt.Errorf("want one argument, the admin URL, got %d: %q", len(pos), pos)
	}
	return newClient(pos[0], *cf, e)
}

// status is the pool at a glance, as status prints it.
type status struct {
	Time       time.Time         `json:"time"`
	MaxConns   int               `json:"maxConns"`
	TotalConns int               `json:"totalConns"`
	Healthy    bool              `json:"healthy"`
	Problems   []string          `json:"problems"`
	Partitions []partitionStatus `json:"partitions"`
	// Activity is why the current queries are missing, if they are.
	Activity string `json:"activityError,omitempty"`
}

type partitionStatus struct {
	Name               string  `json:"name"`
	InUse              int     `json:"inUse"`
	Idle               int     `json:"idle"`
	Guaranteed         int     `json:"guaranteed"`
	Max                int     `json:"max"`
	Waiting            int     `json:"waiting"`
	OldestLeaseSeconds float64 `json:"oldestLeaseSeconds"`
	Suspects           int     `json:"suspects"`
	LeaksProven        int64   `json:"leaksProven"`
	Refused            int64   `json:"refused"`
	Paused             bool    `json:"paused"`
	Exhausted          bool    `json:"exhausted"`
	// SuspectSites are the call sites of the suspects, most first.
	SuspectSites []string `json:"suspectSites,omitempty"`
}

func newStatus(s *admin.Snapshot) *status {
	st := &status{Time: s.Time, MaxConns: s.MaxConns, TotalConns: s.TotalConns, Healthy: true, Problems: []string{}}
	if !s.Activity.OK {
		st.Activity = s.Activity.Error
	}
	for _, p := range s.Partitions {
		ps := partitionStatus{
			Name: p.Name, InUse: p.InUse, Idle: p.Idle, Guaranteed: p.Guaranteed, Max: p.Max,
			Waiting: p.Waiting, OldestLeaseSeconds: p.OldestLeaseSeconds, LeaksProven: p.LeaksProven,
			Paused: p.Paused,
		}
		for _, n := range p.Rejected {
			ps.Refused += n
		}
		sites := map[string]int{}
		for _, l := range s.Leases {
			if l.Partition == p.Name && l.Suspected {
				ps.Suspects++
				sites[l.CallSite]++
			}
		}
		// CallSites is ordered most leases first; keep that order.
		for _, cs := range s.CallSites {
			if n := sites[cs.CallSite]; cs.Partition == p.Name && n > 0 {
				ps.SuspectSites = append(ps.SuspectSites, fmt.Sprintf("%d at %s", n, cs.CallSite))
				delete(sites, cs.CallSite)
			}
		}
		// Exhausted: a caller of this partition waits now, or would.
		ps.Exhausted = p.Max > 0 && p.InUse >= p.Max || p.Waiting > 0
		if ps.Exhausted {
			st.Problems = append(st.Problems, fmt.Sprintf("partition %q is exhausted: %d/%d in use, %d waiting", p.Name, p.InUse, p.Max, p.Waiting))
		}
		if ps.Suspects > 0 {
			st.Problems = append(st.Problems, fmt.Sprintf("partition %q holds %d suspected %s: %s", p.Name, ps.Suspects,
				plural(ps.Suspects, "leak", "leaks"), strings.Join(ps.SuspectSites, ", ")))
		}
		st.Partitions = append(st.Partitions, ps)
	}
	st.Healthy = len(st.Problems) == 0
	return st
}

func (st *status) write(w io.Writer) {
	fmt.Fprintf(w, "pool: %d of at most %d connections open, at %s\n\n", st.TotalConns, st.MaxConns, st.Time.Format(time.TimeOnly))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tIN USE\tGUARANTEED\tMAX\tWAITING\tOLDEST LEASE\tSUSPECTS\tLEAKS PROVEN\tREFUSED\tSTATE")
	for _, p := range st.Partitions {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%d\t%d\t%d\t%s\n", p.Name, p.InUse, p.Guaranteed, p.Max, p.Waiting,
			age(p.OldestLeaseSeconds), p.Suspects, p.LeaksProven, p.Refused, p.state())
	}
	tw.Flush()
	fmt.Fprintln(w)
	if st.Healthy {
		fmt.Fprintln(w, "healthy: no partition exhausted, no suspected leak")
	}
	for _, p := range st.Problems {
		fmt.Fprintln(w, "!", p)
	}
	if st.Activity != "" {
		fmt.Fprintln(w, "note:", st.Activity)
	}
}

func (p partitionStatus) state() string {
	var s []string
	if p.Paused {
		s = append(s, "paused")
	}
	if p.Exhausted {
		s = append(s, "EXHAUSTED")
	}
	if p.Suspects > 0 {
		s = append(s, "SUSPECTS")
	}
	if len(s) == 0 {
		return "ok"
	}
	return strings.Join(s, ",")
}

// age formats a number of seconds for a table: 850ms, 42s, 3m05s, 2h01m,
// 3d04h.
func age(seconds float64) string {
	d := time.Duration(seconds * float64(time.Second))
	switch {
	case d <= 0:
		return "-"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

// short formats a duration given as a flag: 5m, not 5m0s.
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
