package replay

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
	"time"
)

// chart geometry, in SVG user units.
const (
	chartW, chartH         = 440, 190
	padL, padR, padT, padB = 46, 16, 18, 26
	plotW, plotH           = chartW - padL - padR, chartH - padT - padB
	colorLine, colorMax    = "#2563eb", "#dc2626"
	colorLeak, colorJob    = "#f59e0b", "#6b7280"
	colorExhausted         = "#7c3aed"
)

// metric is one row of charts: a value per sample, drawn for every pool
// on a shared scale.
type metric struct {
	title string
	unit  string
	value func(Sample) (float64, bool)
	limit func(Sample) float64 // a second, dashed line (the pool's max); nil for none
	fixed float64              // the scale's top, if fixed
}

func (r *Result) metrics() []metric {
	return []metric{
		{title: "connections in use (dashed: max)", value: func(s Sample) (float64, bool) { return float64(s.InUse), true },
			limit: func(s Sample) float64 { return float64(s.Max) }},
		{title: "the server's backends on the replica's database (dashed: idle)", value: func(s Sample) (float64, bool) { return float64(s.Backends), true },
			limit: func(s Sample) float64 { return float64(s.Idle) }},
		{title: "API requests waiting for a connection", value: func(s Sample) (float64, bool) { return float64(s.Waiting), true }},
		{title: "API success rate", unit: "%", fixed: 100, value: func(s Sample) (float64, bool) {
			if s.OK+s.Fail == 0 {
				return 0, false
			}
			return 100 * float64(s.OK) / float64(s.OK+s.Fail), true
		}},
		{title: "API p99 latency", unit: "ms", value: func(s Sample) (float64, bool) {
			return float64(s.P99) / float64(time.Millisecond), s.OK+s.Fail > 0
		}},
	}
}

// scaleTop returns a round top for the y axis of m over all runs.
func (r *Result) scaleTop(m metric) float64 {
	if m.fixed > 0 {
		return m.fixed
	}
	top := 1.0
	for _, run := range r.Runs {
		for _, s := range run.Samples {
			if v, ok := m.value(s); ok {
				top = math.Max(top, v)
			}
			if m.limit != nil {
				top = math.Max(top, m.limit(s))
			}
		}
	}
	top *= 1.1
	step := math.Pow(10, math.Floor(math.Log10(top)))
	for _, f := range []float64{1, 1.5, 2, 2.5, 5, 10} {
		if f*step >= top {
			return f * step
		}
	}
	return top
}

// chart draws one metric of one run as an inline SVG.
func (r *Result) chart(run *Run, m metric, top float64) template.HTML {
	total := r.Options.Duration.Seconds()
	x := func(d time.Duration) float64 { return padL + plotW*math.Min(d.Seconds()/total, 1) }
	y := func(v float64) float64 { return padT + plotH*(1-math.Min(v/top, 1)) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %d %d" width="100%%" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="10">`,
		chartW, chartH)
	// grid and y labels
	for i := 0; i <= 5; i++ {
		v := top * float64(i) / 5
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e5e7eb"/>`, padL, padL+plotW, y(v), y(v))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" fill="#374151">%s%s</text>`, padL-4, y(v)+3, trim(v), m.unit)
	}
	// x labels every fifth of the run
	for i := 0; i <= 5; i++ {
		d := time.Duration(float64(r.Options.Duration) * float64(i) / 5)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#374151">%ss</text>`, x(d), chartH-8, trim(math.Round(d.Seconds())))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#9ca3af"/>`, padL, padT, plotW, plotH)
	if run.Replica == 1 { // the job runs, and stops
		jx := x(r.Options.JobFor)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="%s" stroke-dasharray="2 3"/>`, jx, jx, padT, padT+plotH, colorJob)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="end" fill="%s">job stops</text>`, jx-3, padT+24, colorJob)
	}
	if run.Exhausted >= 0 {
		ex := x(run.Exhausted)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="%s"/>`, ex, ex, padT, padT+plotH, colorExhausted)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" fill="%s">exhausted</text>`, ex+3, padT+10, colorExhausted)
	}
	// leaks proven (and reclaimed): ticks along the top
	for _, e := range run.Events {
		if e.Kind.Proven() {
			ex := x(e.At)
			fmt.Fprintf(&b, `<path d="M%.1f %d l-3 -6 h6 z" fill="%s"><title>%s: %s at %s</title></path>`, ex, padT, colorLeak, seconds(e.At), e.Kind, e.CallSite)
		}
	}
	if m.limit != nil {
		b.WriteString(polyline(run.Samples, x, y, func(s Sample) (float64, bool) { return m.limit(s), true }, colorMax, `stroke-dasharray="6 3"`))
	}
	b.WriteString(polyline(run.Samples, x, y, m.value, colorLine, ""))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// polyline draws the samples' values, broken where a sample has none.
func polyline(samples []Sample, x func(time.Duration) float64, y func(float64) float64, value func(Sample) (float64, bool), color, extra string) string {
	var b, pts strings.Builder
	flush := func() {
		if pts.Len() > 0 {
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.8" %s/>`, pts.String(), color, extra)
			pts.Reset()
		}
	}
	for _, s := range samples {
		v, ok := value(s)
		if !ok {
			flush()
			continue
		}
		fmt.Fprintf(&pts, "%.1f,%.1f ", x(s.At), y(v))
	}
	flush()
	return b.String()
}

// trim formats an axis value without needless decimals.
func trim(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprint(int64(v))
	}
	return fmt.Sprintf("%.1f", v)
}

type htmlRow struct {
	Title  string
	Charts []template.HTML
}

type htmlCell struct {
	Label string
	Cells []string
}

// WriteHTML writes a self-contained HTML report: setup, summary table and
// charts over time per pool. command is the command line that produced it.
func (r *Result) WriteHTML(w io.Writer, command string) error {
	var rows []htmlRow
	for _, m := range r.metrics() {
		top := r.scaleTop(m)
		row := htmlRow{Title: m.title}
		for _, run := range r.Runs {
			row.Charts = append(row.Charts, r.chart(run, m, top))
		}
		rows = append(rows, row)
	}
	var table []htmlCell
	for _, row := range r.rows() {
		c := htmlCell{Label: row.label}
		for _, run := range r.Runs {
			c.Cells = append(c.Cells, row.cell(run))
		}
		table = append(table, c)
	}
	return page.Execute(w, map[string]any{
		"Result": r, "Command": command, "Setup": r.Setup(), "Rows": rows, "Table": table,
		"Started": r.Started.UTC().Format(time.RFC3339), "Colors": map[string]string{
			"line": colorLine, "max": colorMax, "leak": colorLeak, "job": colorJob, "exhausted": colorExhausted,
		},
	})
}

var page = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>poolguard replay</title>
<style>
body { font-family: sans-serif; margin: 24px; color: #111827; max-width: 1360px; }
h1 { font-size: 22px; margin: 0 0 4px; }
p.meta { color: #4b5563; font-size: 13px; margin: 4px 0; line-height: 1.45; }
code { background: #f3f4f6; padding: 1px 4px; border-radius: 3px; }
table { border-collapse: collapse; margin: 14px 0; font-size: 13px; }
th, td { border: 1px solid #d1d5db; padding: 4px 10px; text-align: left; }
th { background: #f9fafb; }
.grid { display: grid; grid-template-columns: repeat({{len .Result.Runs}}, 1fr); gap: 4px 8px; }
.grid h3 { font-size: 14px; margin: 8px 0 0; text-align: center; }
h2 { font-size: 15px; margin: 16px 0 2px; }
.legend span { margin-right: 14px; font-size: 12px; }
.swatch { display: inline-block; width: 14px; height: 3px; vertical-align: middle; margin-right: 4px; }
</style></head><body>
<h1>poolguard replay: a connection leak, {{if gt .Result.Options.Replicas 1}}a fleet of {{.Result.Options.Replicas}} replicas on {{end}}{{len .Result.Options.Kinds}} pools</h1>
<p class="meta"><code>{{.Command}}</code> — started {{.Started}}, ran {{printf "%.0f" .Result.Elapsed.Seconds}}s</p>
<p class="meta">{{.Setup}}</p>
<table><tr><th></th>{{range .Result.Runs}}<th>{{.Name}}</th>{{end}}</tr>
{{range .Table}}<tr><td>{{.Label}}</td>{{range .Cells}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
<p class="meta">"queries sent" counts the statements the replay completed on the server; <code>xact_commit Δ</code> is PostgreSQL's own count of committed transactions on the pool's database over the run (pg_stat_database), which also includes connection setup and statement preparation.</p>
<div class="legend">
<span><i class="swatch" style="background:{{.Colors.line}}"></i>value</span>
<span><i class="swatch" style="background:{{.Colors.max}}"></i>pool max</span>
<span><i class="swatch" style="background:{{.Colors.exhausted}}"></i>first API request without a connection</span>
<span><i class="swatch" style="background:{{.Colors.job}}"></i>sync job stops</span>
<span><span style="color:{{.Colors.leak}}">▼</span> leak proven, connection reclaimed</span>
</div>
<div class="grid">{{range .Result.Runs}}<h3>{{.Name}}</h3>{{end}}</div>
{{range .Rows}}<h2>{{.Title}}</h2><div class="grid">{{range .Charts}}<div>{{.}}</div>{{end}}</div>
{{end}}
<h2>How to read this</h2>
{{if gt .Result.Options.Replicas 1}}<p class="meta">A fleet: each pool kind runs {{.Result.Options.Replicas}} replicas of the service, each with a pool of its own on one server;
the sync job runs in the first replica only. With pgxpool and database/sql the first replica goes down and stays down while the others,
which share nothing with it but the server, keep serving; its leaked connections stay open and idle on the server. With poolguard no replica goes down.</p>
{{end}}<p class="meta">Every pool runs the same buggy sync job: acquire, query, and on a corrupt user return early without releasing.
pgxpool and database/sql cannot know the connection is gone: in use climbs by one per leak until the pool is full, then every
API request waits its whole deadline and fails, and stopping the job changes nothing, since only a restart would free them
(and pgxpool's Close then never returns). A bigger pool (<code>-pool-size</code>) only moves the line later.
poolguard gives the job a partition of its own, so it can leak only its few connections, never the API's guaranteed share;
each leak is proven when the leaked Conn becomes garbage (or its lease outlives MaxHold), reported with the file:line that
acquired it, and the connection is destroyed and replaced: the pool recovers with no restart.</p>
</body></html>
`))
