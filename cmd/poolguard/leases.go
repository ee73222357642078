package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/poolguard/poolguard/admin"
)

var leasesCmd = &command{
	name:    "leases",
	summary: "who holds the connections: leases by call site, oldest first",
	usage: `usage: poolguard leases URL [flags]

Lists the leases of the pool served by the admin handler at URL, oldest
first, grouped by the call site that acquired them (partition, file:line,
function), with each lease's age, state (the pool's and the server's),
backend PID and current query, its literals redacted. A leak shows as a
call site whose leases are idle and keep ageing: revoke them with
"poolguard revoke URL --call-site FILE:LINE".

Flags:
  --all              list every lease, not the oldest few of each call site
  --json             print the call sites and every lease as JSON
` + clientUsage,
	setup: setupLeases,
}

// perSite is how many leases of a call site are shown without --all.
const perSite = 3

// queryWidth cuts queries in tables; --json has them as the handler
// serves them.
const queryWidth = 72

func setupLeases(args []string, e *env) (func(context.Context) error, error) {
	fs := newFlagSet("leases")
	var cf clientFlags
	cf.register(fs)
	asJSON := fs.Bool("json", false, "")
	all := fs.Bool("all", false, "")
	c, err := parseClientArgs(fs, args, &cf, e, "leases URL")
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		snap, err := c.snapshot(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, struct {
				CallSites []admin.CallSite `json:"callSites"`
				Leases    []admin.Lease    `json:"leases"`
			}{snap.CallSites, snap.Leases})
		}
		writeLeases(e.stdout, snap, *all)
		return nil
	}, nil
}

// group is the leases of one partition acquired at one call site.
type group struct {
	site   admin.CallSite
	leases []admin.Lease // oldest first
}

// groups groups the snapshot's leases by partition and call site, the
// group with the oldest lease first.
func groups(s *admin.Snapshot) []group {
	var out []group
	index := map[[2]string]int{}
	for _, l := range s.Leases { // oldest first
		k := [2]string{l.Partition, l.CallSite}
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, group{site: admin.CallSite{Partition: l.Partition, CallSite: l.CallSite, Function: l.Function}})
		}
		out[i].leases = append(out[i].leases, l)
		out[i].site.Count++
		out[i].site.OldestSeconds = max(out[i].site.OldestSeconds, l.AgeSeconds)
	}
	slices.SortStableFunc(out, func(a, b group) int { return cmp.Compare(b.site.OldestSeconds, a.site.OldestSeconds) })
	return out
}

func writeLeases(w io.Writer, s *admin.Snapshot, all bool) {
	if len(s.Leases) == 0 {
		fmt.Fprintln(w, "no lease held")
		return
	}
	if !s.Activity.OK {
		fmt.Fprintln(w, "note:", s.Activity.Error)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if all {
		fmt.Fprintln(tw, "AGE\tPARTITION\tCALL SITE\tPID\tSTATE\tSERVER STATE\tSUSPECT\tQUERY")
		for _, l := range s.Leases {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", age(l.AgeSeconds), l.Partition, l.CallSite, l.PID,
				l.State, dash(l.BackendState), yes(l.Suspected), query(l.Query))
		}
		tw.Flush()
		return
	}
	hidden := 0
	for i, g := range groups(s) {
		if i > 0 {
			fmt.Fprintln(w)
		}
		suspects := 0
		for _, l := range g.leases {
			if l.Suspected {
				suspects++
			}
		}
		fmt.Fprintf(w, "%s  %s  %s: %d %s, oldest %s, %d suspected\n", g.site.Partition, g.site.CallSite, g.site.Function,
			g.site.Count, plural(g.site.Count, "lease", "leases"), age(g.site.OldestSeconds), suspects)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  AGE\tPID\tSTATE\tSERVER STATE\tSUSPECT\tQUERY")
		for j, l := range g.leases {
			if j == perSite {
				fmt.Fprintf(tw, "  … %d more\n", len(g.leases)-perSite)
				hidden += len(g.leases) - perSite
				break
			}
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\t%s\n", age(l.AgeSeconds), l.PID, l.State, dash(l.BackendState), yes(l.Suspected), query(l.Query))
		}
		tw.Flush()
	}
	if hidden > 0 {
		fmt.Fprintf(w, "\n%d more %s not shown: add --all\n", hidden, plural(hidden, "lease", "leases"))
	}
}

// query redacts and cuts a query for a table. The handler has redacted
// it already; redacting again costs nothing and holds if it did not.
func query(q string) string {
	if q == "" {
		return "-"
	}
	return admin.RedactSQL(q, queryWidth)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "-"
}

// pids formats process IDs for a message.
func pids(ps []uint32) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.FormatUint(uint64(p), 10)
	}
	return strings.Join(s, ", ")
}
