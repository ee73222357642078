package replay

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// row is one line of the summary table: a label and a cell per run.
type row struct {
	label string
	cell  func(*Run) string
}

// rows are the summary's lines, shared by the text and HTML reports.
func (r *Result) rows() []row {
	o := r.Options
	return []row{
		{"API requests", func(run *Run) string { return fmt.Sprint(run.API) }},
		{"API success", func(run *Run) string { return fmt.Sprintf("%.2f %%", run.Success()) }},
		{"time to exhaustion", func(run *Run) string {
			if run.Exhausted < 0 {
				return "never"
			}
			return seconds(run.Exhausted)
		}},
		{"first leak report", func(run *Run) string {
			if e, ok := run.FirstLeak(); ok {
				return fmt.Sprintf("%s (%s) at %s", seconds(e.At), e.Kind, e.CallSite)
			}
			return "none"
		}},
		{"leaks proven", func(run *Run) string { return fmt.Sprint(run.proven()) }},
		{"connections reclaimed", func(run *Run) string { return fmt.Sprint(run.Reclaimed) }},
		{"sync job: synced / corrupt / no conn", func(run *Run) string {
			if run.Replica > 1 {
				return "no job"
			}
			return fmt.Sprintf("%d / %d / %d", run.Synced, run.Invalid, run.SyncFailed)
		}},
		{"in use at the end / max", func(run *Run) string {
			s := run.last()
			return fmt.Sprintf("%d / %d", s.InUse, s.Max)
		}},
		{"server backends at the end (idle)", func(run *Run) string {
			s := run.last()
			return fmt.Sprintf("%d (%d)", s.Backends, s.Idle)
		}},
		{"recovered after the job stopped", func(run *Run) string { return yesNo(run.Recovered(o.JobFor, o.Duration)) }},
		{"API failures", func(run *Run) string { return failures(run.Failures) }},
		{"pool Close returned", func(run *Run) string { return yesNo(run.Closed) }},
		{"queries sent / xact_commit Δ", func(run *Run) string {
			return fmt.Sprintf("%d / %d", run.ClientQueries, run.XactCommit)
		}},
	}
}

// failures formats the failures by cause, most first.
func failures(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	causes := slices.SortedFunc(maps.Keys(m), func(a, b string) int { return cmp.Compare(m[b], m[a]) })
	var parts []string
	for _, c := range causes {
		parts = append(parts, fmt.Sprintf("%d %s", m[c], c))
	}
	return strings.Join(parts, ", ")
}

// last returns the last sample, or a zero one.
func (r *Run) last() Sample {
	if len(r.Samples) == 0 {
		return Sample{}
	}
	return r.Samples[len(r.Samples)-1]
}

func (r *Run) proven() int {
	n := 0
	for _, e := range r.Events {
		if e.Kind.Proven() {
			n++
		}
	}
	return n
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// WriteSummary writes the summary table, one column per pool.
func (r *Result) WriteSummary(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(label string, cell func(*Run) string) {
		cells := []string{label}
		for _, run := range r.Runs {
			cells = append(cells, cell(run))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	line("", func(run *Run) string { return run.Name })
	for _, row := range r.rows() {
		line(row.label, row.cell)
	}
	return tw.Flush()
}

// Setup describes the run in one paragraph: workload, machine, versions.
func (r *Result) Setup() string {
	o, m := r.Options, r.Machine
	gc := "no forced collections: leaks are proven by the collections the workload causes"
	if o.GCEvery > 0 {
		gc = fmt.Sprintf("runtime.GC() forced every %v", o.GCEvery)
	}
	fleet := ""
	if o.Replicas > 1 {
		fleet = fmt.Sprintf("A fleet of %d replicas per pool kind, each with its own pool; the sync job runs in the first replica only. ", o.Replicas)
	}
	if o.Bouncer != nil {
		fleet += fmt.Sprintf("The pools connect through PgBouncer in %s mode; the server's backends are PgBouncer's. ", o.Bouncer.Mode())
	}
	return fleet + fmt.Sprintf("Pools of %d connections (the outage's had 100) run at the same time, each on its own database of %d users "+
		"(every %dth corrupt) on one PostgreSQL %s. API: %g requests/s per pool, deadline %v, each a real query on users. "+
		"Sync job: %g users/s, %g leaks/s with the buggy early return, for the first %v of %v. "+
		"poolguard: partitions api (guaranteed) and sync (max %d, MaxHold %v), leak tracking on; %s. "+
		"Machine: %d CPUs, %s, %s/%s, %s.",
		o.PoolSize, o.Users, o.CorruptEvery(), r.Server, o.Rate, o.Deadline,
		o.SyncRate, o.LeakRate, o.JobFor, o.Duration,
		max(1, o.PoolSize/10), o.MaxHold, gc,
		m.CPUs, m.CPUModel, m.OS, m.Arch, m.Go)
}
