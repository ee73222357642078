package grafana

//lint:file-ignore SA1019 the classic dashboard model is the JSON that every Grafana imports; its v2 successor needs Grafana 12's v2 API.

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	sdkprom "github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/deploy/rules"
	"github.com/poolguard/poolguard/prom"
)

var update = flag.Bool("update", false, "rewrite poolguard.json")

const file = "poolguard.json"

// TestGenerated checks that poolguard.json is Dashboard's output.
func TestGenerated(t *testing.T) {
	d, err := Dashboard()
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v: generate it with go test ./deploy/grafana -update", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is out of date: regenerate it with go test ./deploy/grafana -update", file)
	}
}

// load reads poolguard.json as the SDK's dashboard model, refusing any
// field the model does not know.
func load(t *testing.T) dashboard.Dashboard {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	plugins.RegisterDefaultPlugins()
	var d dashboard.Dashboard
	err = d.UnmarshalJSONStrict(raw)
	// The SDK returns an empty cog.BuildErrors, not nil, on success.
	if errs, ok := err.(cog.BuildErrors); ok && len(errs) == 0 {
		err = nil
	}
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return d
}

// queries returns the PromQL of every panel, by panel title, and of the
// variables.
func queries(t *testing.T, d dashboard.Dashboard) map[string][]string {
	t.Helper()
	qs := make(map[string][]string)
	for _, p := range d.Panels {
		if p.Panel == nil {
			continue
		}
		title := *p.Panel.Title
		if len(p.Panel.Targets) == 0 {
			t.Errorf("panel %q has no queries", title)
		}
		for _, target := range p.Panel.Targets {
			q, ok := target.(sdkprom.Dataquery)
			if !ok {
				t.Errorf("panel %q: query of type %T, want a Prometheus query", title, target)
				continue
			}
			qs[title] = append(qs[title], q.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if v.Type == dashboard.VariableTypeQuery && v.Query != nil && v.Query.String != nil {
			// label_values(selector, label) holds a PromQL selector.
			q := strings.TrimPrefix(*v.Query.String, "label_values(")
			if i := strings.LastIndex(q, ","); i >= 0 {
				q = q[:i]
			}
			qs["variable "+v.Name] = append(qs["variable "+v.Name], q)
		}
	}
	return qs
}

// TestMetricsExist checks that every query of the dashboard names only
// metrics the collector exports and recording rules deploy/rules
// defines.
func TestMetricsExist(t *testing.T) {
	known := exported(t)
	for _, m := range regexp.MustCompile(`(?m)^\s*- record: (\S+)`).FindAllStringSubmatch(rules.Rules, -1) {
		known[m[1]] = true
	}
	n := 0
	for title, exprs := range queries(t, load(t)) {
		for _, expr := range exprs {
			names := metricNames(expr)
			if len(names) == 0 {
				t.Errorf("%s: no metric found in %s", title, expr)
			}
			for _, name := range names {
				n++
				if !known[name] {
					t.Errorf("%s: %s is neither exported by package prom nor recorded by deploy/rules", title, name)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("the dashboard has no queries")
	}
}

// exported returns the names of the series the collector exports, as
// Prometheus stores them: histograms as their _bucket, _sum and _count.
// The pool never connects: New opens no connection, and collecting needs
// none.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	cfg, err := poolguard.ParseConfig("postgres://nobody@127.0.0.1:1/none")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := poolguard.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	c, err := prom.NewCollector(pool)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := make(map[string]bool)
	for _, mf := range mfs {
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				names[mf.GetName()+suffix] = true
			}
			continue
		}
		names[mf.GetName()] = true
	}
	return names
}

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`up`, []string{"up"}},
		{`db_client_connection_count{job=~"$job",db_client_connection_state="used"}`, []string{"db_client_connection_count"}},
		{`histogram_quantile(0.99, sum by (le, instance) (rate(a_bucket{x="y{z}"}[$__rate_interval])))`, []string{"a_bucket"}},
		{`job:a:min1h - job:a:min1h offset 1d >= 10 unless on (job) b`, []string{"job:a:min1h", "job:a:min1h", "b"}},
		{`sum without (instance) (increase(c_total[1h])) / ignoring (kind) group_left d`, []string{"c_total", "d"}},
		{`max(e) > bool 0.8 and f{a='it\'s'}`, []string{"e", "f"}},
		{`topk(5, g) or vector(1)`, []string{"g"}},
	} {
		if got := metricNames(tc.expr); !slices.Equal(got, tc.want) {
			t.Errorf("metricNames(%s) = %q, want %q", tc.expr, got, tc.want)
		}
	}
}
