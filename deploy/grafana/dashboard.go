package grafana

//lint:file-ignore SA1019 the classic dashboard model is the JSON that every Grafana imports; its v2 successor needs Grafana 12's v2 API.

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// UID is the dashboard's unique identifier in Grafana.
const UID = "poolguard"

// sel selects the partitions chosen in the dashboard's variables; more
// matchers may follow it.
const sel = `job=~"$job",db_client_connection_pool_name=~"$pool"`

// byPool is the label list that splits a graph per instance and partition.
const byPool = "instance, db_client_connection_pool_name"

var datasource = common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}

// Dashboard builds the dashboard.
func Dashboard() (dashboard.Dashboard, error) {
	d, err := dashboard.NewDashboardBuilder("poolguard: connection pools").
		Uid(UID).
		Description("Connection pools by partition: use against limits, waits, leaks and reclaims. What to do when an alert fires: docs/runbook.md.").
		Tags([]string{"poolguard", "postgresql"}).
		Refresh("30s").
		Time("now-2d", "now").
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Data source").Type("prometheus")).
		WithVariable(labelVariable("job", "Job", `label_values(db_client_connection_limit, job)`)).
		WithVariable(labelVariable("pool", "Pool/partition", `label_values(db_client_connection_limit{job=~"$job"}, db_client_connection_pool_name)`)).
		WithRow(dashboard.NewRowBuilder("Connections")).
		WithPanel(graph("In use and limit", "Connections in use, idle and the most the partition may hold, per instance.", "short").
			WithTarget(query(`db_client_connection_count{`+sel+`,db_client_connection_state="used"}`, "{{instance}} {{db_client_connection_pool_name}} used")).
			WithTarget(query(`db_client_connection_count{`+sel+`,db_client_connection_state="idle"}`, "{{instance}} {{db_client_connection_pool_name}} idle")).
			WithTarget(query(`db_client_connection_limit{`+sel+`}`, "{{instance}} {{db_client_connection_pool_name}} max"))).
		WithPanel(graph("In-use floor against yesterday", "The fewest connections in use over each hour, the highest over the job's instances. Load comes and goes; leaked connections stay, so a floor that climbs above yesterday's is a leak.", "short").
			WithTarget(query(`job:db_connection_pool_active:min1h{`+sel+`}`, "{{db_client_connection_pool_name}} floor")).
			WithTarget(query(`job:db_connection_pool_active:min1h{`+sel+`} offset 1d`, "{{db_client_connection_pool_name}} floor yesterday")).
			WithTarget(query(`job:db_connection_pool_max:max{`+sel+`}`, "{{db_client_connection_pool_name}} max"))).
		WithPanel(graph("Utilisation", "Connections in use over the limit: the postmortem's alerts fire above 80 % for 5 minutes and 95 % for 2.", "percentunit").
			Min(0).Max(1).
			Thresholds(dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps([]dashboard.Threshold{
				{Color: "green"}, {Value: cog.ToPtr(0.8), Color: "orange"}, {Value: cog.ToPtr(0.95), Color: "red"},
			})).
			ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeLine)).
			WithTarget(query(`db_connection_pool_active{`+sel+`} / db_connection_pool_max{`+sel+`}`, "{{instance}} {{db_client_connection_pool_name}}"))).
		WithPanel(graph("Waiting callers", "Callers in each partition's wait queue.", "short").
			WithTarget(query(`db_client_connection_pending_requests{`+sel+`}`, "{{instance}} {{db_client_connection_pool_name}}"))).
		WithPanel(graph("Guaranteed and borrowed", "Connections reserved for each partition, and leases held beyond that guarantee.", "short").
			WithTarget(query(`poolguard_guaranteed_connections{`+sel+`}`, "{{instance}} {{db_client_connection_pool_name}} guaranteed")).
			WithTarget(query(`poolguard_borrowed_connections{`+sel+`}`, "{{instance}} {{db_client_connection_pool_name}} borrowed"))).
		WithPanel(stat.NewPanelBuilder().Title("Paused partitions").
			Description("Partitions whose acquires are refused (Partition.Pause).").
			Datasource(datasource).Span(8).Height(8).
			WithTarget(query(`sum by (db_client_connection_pool_name) (poolguard_paused{`+sel+`})`, "{{db_client_connection_pool_name}}"))).
		WithRow(dashboard.NewRowBuilder("Time")).
		WithPanel(quantiles("Wait time", "How long an acquire took to get a connection, queueing and opening included.", "db_client_connection_wait_time_seconds")).
		WithPanel(quantiles("Use time", "How long connections were held. Leaks live in the top buckets, up to a day.", "db_client_connection_use_time_seconds")).
		WithPanel(quantiles("Open time", "How long opening a connection took.", "db_client_connection_create_time_seconds")).
		WithRow(dashboard.NewRowBuilder("Leaks")).
		WithPanel(graph("Leaks", "Proven leaks by detector (their connections were reclaimed), and suspects: leases held idle past SuspectAfter. Each per hour.", "short").
			WithTarget(query(`sum by (`+byPool+`, kind) (increase(poolguard_leaks_total{`+sel+`}[1h]))`, "{{instance}} {{db_client_connection_pool_name}} {{kind}}")).
			WithTarget(query(`sum by (`+byPool+`) (increase(poolguard_suspected_leaks_total{`+sel+`}[1h]))`, "{{instance}} {{db_client_connection_pool_name}} suspected"))).
		WithPanel(graph("Reclaimed connections", "Connections the pool took back from their holders, by reason, per hour.", "short").
			WithTarget(query(`sum by (`+byPool+`, reason) (increase(poolguard_reclaimed_connections_total{`+sel+`}[1h]))`, "{{instance}} {{db_client_connection_pool_name}} {{reason}}"))).
		WithPanel(graph("Oldest lease", "Age of each partition's oldest lease. A leaked lease only ages.", "s").
			WithTarget(query(`poolguard_oldest_lease_age_seconds{`+sel+`}`, "{{instance}} {{db_client_connection_pool_name}}"))).
		WithPanel(graph("Refused acquires", "Acquires refused, by reason, per second; timeouts are what callers see as failures.", "reqps").Span(24).
			WithTarget(query(`sum by (`+byPool+`, reason) (rate(poolguard_rejected_acquires_total{`+sel+`}[$__rate_interval])) > 0`, "{{instance}} {{db_client_connection_pool_name}} {{reason}}")).
			WithTarget(query(`sum by (`+byPool+`) (rate(db_client_connection_timeouts_total{`+sel+`}[$__rate_interval]))`, "{{instance}} {{db_client_connection_pool_name}} timeouts"))).
		Build()
	if err != nil {
		return d, err
	}
	// Grafana tells a panel's queries apart by refId: A, B, C...
	for _, p := range d.Panels {
		if p.Panel == nil {
			continue
		}
		for i, t := range p.Panel.Targets {
			if q, ok := t.(prometheus.Dataquery); ok {
				q.RefId = cog.ToPtr(string(rune('A' + i)))
				p.Panel.Targets[i] = q
			}
		}
	}
	return d, nil
}

// labelVariable is a multi-value variable over a label's values.
func labelVariable(name, label, q string) *dashboard.QueryVariableBuilder {
	return dashboard.NewQueryVariableBuilder(name).Label(label).
		Datasource(datasource).
		Query(dashboard.StringOrMap{String: cog.ToPtr(q)}).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).IncludeAll(true).AllValue(".*")
}

// graph is a time series panel a third of the width.
func graph(title, description, unit string) *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().Title(title).Description(description).
		Datasource(datasource).Unit(unit).Span(8).Height(8).
		Legend(common.NewVizLegendOptionsBuilder().DisplayMode(common.LegendDisplayModeList).Placement(common.LegendPlacementBottom).ShowLegend(true))
}

// quantiles graphs the median and 99th percentile of a histogram.
func quantiles(title, description, histogram string) *timeseries.PanelBuilder {
	q := func(phi, name string) cog.Builder[variants.Dataquery] {
		return query(`histogram_quantile(`+phi+`, sum by (le, `+byPool+`) (rate(`+histogram+`_bucket{`+sel+`}[$__rate_interval])))`,
			"{{instance}} {{db_client_connection_pool_name}} "+name)
	}
	return graph(title, description+" Median and 99th percentile.", "s").
		WithTarget(q("0.5", "p50")).WithTarget(q("0.99", "p99"))
}

func query(expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Expr(expr).LegendFormat(legend).Datasource(datasource)
}
