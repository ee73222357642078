package prom

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolguard/poolguard"
)

// DefaultPoolName is the pool name used when WithPoolName is not given.
const DefaultPoolName = "poolguard"

// Label names.
const (
	poolLabel   = "db_client_connection_pool_name"
	stateLabel  = "db_client_connection_state"
	kindLabel   = "kind"
	reasonLabel = "reason"
)

// An Option configures a Collector.
type Option func(*Collector) error

// WithPoolName sets the first part of the db_client_connection_pool_name
// label, "<name>/<partition>". The default is DefaultPoolName.
func WithPoolName(name string) Option {
	return func(c *Collector) error {
		if name == "" || !utf8.ValidString(name) {
			return fmt.Errorf("prom: pool name %q must be non-empty UTF-8 text, such as the application's name", name)
		}
		c.name = name
		return nil
	}
}

// WithConstLabels adds constant labels to every series of the collector,
// as pgxpool's Prometheus exporters take them: for the service, the
// database, or whatever tells this pool's series from others scraped
// together. The names must not be the collector's own labels.
func WithConstLabels(labels prometheus.Labels) Option {
	return func(c *Collector) error {
		for name, value := range labels {
			switch name {
			case poolLabel, stateLabel, kindLabel, reasonLabel:
				return fmt.Errorf("prom: constant label %q is one of the collector's own labels: choose another name", name)
			}
			if !utf8.ValidString(value) {
				return fmt.Errorf("prom: constant label %q has a value that is not UTF-8", name)
			}
		}
		c.constLabels = labels
		return nil
	}
}

// Collector is a prometheus.Collector for a poolguard pool. Create it with
// NewCollector and register it with a prometheus.Registerer.
//
// It describes no metrics in advance (an unchecked collector, in
// client_golang's terms): its series depend on the pool's partitions, and
// collectors of several pools must register in one registry. Their series
// differ by pool name, and by constant labels if given; two collectors
// whose series are the same fail the scrape with client_golang's error
// about a metric collected twice.
type Collector struct {
	pool        *poolguard.Pool
	name        string
	constLabels prometheus.Labels
	descs       map[*prometheus.Desc]*prometheus.Desc // with the constant labels
}

// NewCollector returns a Collector for pool.
func NewCollector(pool *poolguard.Pool, opts ...Option) (*Collector, error) {
	if pool == nil {
		return nil, errors.New("prom: NewCollector needs a pool, got nil")
	}
	c := &Collector{pool: pool, name: DefaultPoolName}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(c); err != nil {
			return nil, err
		}
	}
	if len(c.constLabels) > 0 {
		c.descs = make(map[*prometheus.Desc]*prometheus.Desc, len(allDescs))
		for _, d := range allDescs {
			s := specs[d]
			c.descs[d] = prometheus.NewDesc(s.name, s.help, s.labels, c.constLabels)
		}
	}
	return c, nil
}

// spec is what a descriptor is made of, to make it again with constant
// labels.
type spec struct {
	name, help string
	labels     []string
}

var specs = map[*prometheus.Desc]spec{}

// desc builds a descriptor with the pool label and the given others.
func desc(name, help string, labels ...string) *prometheus.Desc {
	labels = append([]string{poolLabel}, labels...)
	d := prometheus.NewDesc(name, help, labels, nil)
	specs[d] = spec{name, help, labels}
	return d
}

// Descriptors, shared by all collectors. Help texts of the
// db_client_connection_* metrics are the semantic conventions'.
var (
	countDesc      = desc("db_client_connection_count", "The number of connections that are currently in state described by the state attribute.", stateLabel)
	limitDesc      = desc("db_client_connection_limit", "The maximum number of open connections allowed.")
	maxDesc        = desc("db_client_connection_max", "Deprecated: use db_client_connection_limit. The maximum number of open connections allowed.")
	idleMaxDesc    = desc("db_client_connection_idle_max", "The maximum number of idle open connections allowed.")
	idleMinDesc    = desc("db_client_connection_idle_min", "The minimum number of idle open connections allowed.")
	pendingDesc    = desc("db_client_connection_pending_requests", "The number of current pending requests for an open connection.")
	timeoutsDesc   = desc("db_client_connection_timeouts_total", "The number of connection timeouts that have occurred trying to obtain a connection from the pool.")
	createTimeDesc = desc("db_client_connection_create_time_seconds", "The time it took to create a new connection.")
	waitTimeDesc   = desc("db_client_connection_wait_time_seconds", "The time it took to obtain an open connection from the pool.")
	useTimeDesc    = desc("db_client_connection_use_time_seconds", "The time between borrowing a connection and returning it to the pool.")

	leaksDesc        = desc("poolguard_leaks_total", "Proven connection leaks, by the detector that proved them; each one's connection was reclaimed.", kindLabel)
	suspectsDesc     = desc("poolguard_suspected_leaks_total", "Leases held longer than SuspectAfter with no query in flight.")
	suspectsBackDesc = desc("poolguard_suspected_leaks_returned_total", "Suspected leases that were released after all.")
	reclaimedDesc    = desc("poolguard_reclaimed_connections_total", "Connections taken back from their holder, by reason.", reasonLabel)
	rejectedDesc     = desc("poolguard_rejected_acquires_total", "Acquires refused, by reason.", reasonLabel)
	acquiresDesc     = desc("poolguard_acquires_total", "Leases granted.")
	waitedDesc       = desc("poolguard_waited_acquires_total", "Leases granted after waiting in the queue.")
	openedDesc       = desc("poolguard_connections_opened_total", "Connections opened.")
	openFailuresDesc = desc("poolguard_connection_open_failures_total", "Connections that failed to open.")
	closedDesc       = desc("poolguard_connections_closed_total", "Connections closed: expired, idle, broken, reclaimed or evicted.")
	closedLifeDesc   = desc("poolguard_connections_closed_lifetime_total", "Connections closed for reaching MaxConnLifetime.")
	closedIdleDesc   = desc("poolguard_connections_closed_idle_total", "Connections closed for staying idle past MaxConnIdleTime.")
	openingDesc      = desc("poolguard_connections_opening", "Connections being opened now.")
	emptyDesc        = desc("poolguard_empty_acquires_total", "Leases granted that found no idle connection: they waited for one, or opened one.")
	oldestDesc       = desc("poolguard_oldest_lease_age_seconds", "Age of the oldest lease held; zero if none. A leak makes it grow steadily.")
	guaranteedDesc   = desc("poolguard_guaranteed_connections", "Connections reserved for the partition.")
	borrowedDesc     = desc("poolguard_borrowed_connections", "Leases held beyond the partition's guarantee.")
	maxWaitingDesc   = desc("poolguard_max_pending_requests", "The bound of the partition's wait queue.")
	pausedDesc       = desc("poolguard_paused", "1 if the partition is paused: its acquires are refused.")
	suspectedNowDesc = desc("poolguard_suspected_leases", "Leases held now that were reported as suspected leaks.")
	leakSiteDesc     = desc("poolguard_leak_call_site_events_total", "Leak events by the call site that acquired the lease (file:line), so that one line is one series over every replica.", "call_site", kindLabel)

	// The pool as a whole, labelled with the pool name alone.
	poolMaxDesc         = desc("poolguard_pool_max_connections", "The pool's hard cap on connections, over all partitions.")
	poolConnectionsDesc = desc("poolguard_pool_connections", "The pool's open connections, over all partitions: idle, in use, opening and closing.")

	allDescs = []*prometheus.Desc{
		countDesc, limitDesc, maxDesc, idleMaxDesc, idleMinDesc, pendingDesc, timeoutsDesc,
		createTimeDesc, waitTimeDesc, useTimeDesc,
		leaksDesc, suspectsDesc, suspectsBackDesc, reclaimedDesc, rejectedDesc,
		acquiresDesc, waitedDesc, emptyDesc, openedDesc, openFailuresDesc, openingDesc,
		closedDesc, closedLifeDesc, closedIdleDesc,
		oldestDesc, guaranteedDesc, borrowedDesc, maxWaitingDesc, pausedDesc, suspectedNowDesc, leakSiteDesc,
		poolMaxDesc, poolConnectionsDesc,
	}
)

// Describe describes nothing: the Collector is unchecked (see Collector).
func (c *Collector) Describe(chan<- *prometheus.Desc) {}

// Collect takes one snapshot of the pool and sends its metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.pool.Stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- constMetric(c.desc(d), prometheus.GaugeValue, v, labels)
	}
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- constMetric(c.desc(d), prometheus.CounterValue, float64(v), labels)
	}
	gauge(poolMaxDesc, float64(st.MaxConns), c.name)
	gauge(poolConnectionsDesc, float64(st.TotalConns), c.name)
	guaranteed := 0
	for _, p := range st.Partitions {
		guaranteed += p.Guaranteed
	}
	for _, p := range st.Partitions {
		name := c.name + "/" + p.Name
		// The most the partition can ever hold: its Max, within what the
		// other partitions' guarantees leave of MaxConns.
		limit := float64(min(p.Max, st.MaxConns-(guaranteed-p.Guaranteed)))
		gauge(countDesc, float64(p.Idle), name, "idle")
		gauge(countDesc, float64(p.InUse), name, "used")
		gauge(limitDesc, limit, name)
		gauge(maxDesc, limit, name)
		gauge(idleMaxDesc, limit, name)
		gauge(idleMinDesc, float64(p.MinConns), name)
		gauge(pendingDesc, float64(p.Waiting), name)
		counter(timeoutsDesc, p.Timeouts(), name)
		ch <- histogram(c.desc(createTimeDesc), p.OpenTime, name)
		ch <- histogram(c.desc(waitTimeDesc), p.WaitTime, name)
		ch <- histogram(c.desc(useTimeDesc), p.UseTime, name)

		for _, k := range poolguard.LeakKinds() {
			if k.Proven() {
				counter(leaksDesc, p.Leaks.Of(k), name, k.String())
			}
		}
		counter(suspectsDesc, p.Leaks.Of(poolguard.LeakSuspected), name)
		counter(suspectsBackDesc, p.Leaks.Of(poolguard.LeakSuspectReturned), name)
		gauge(suspectedNowDesc, float64(p.Suspected), name)
		for _, s := range p.LeakSites {
			for _, k := range poolguard.LeakKinds() {
				if n := s.Leaks.Of(k); n > 0 {
					counter(leakSiteDesc, n, name, s.CallSite, k.String())
				}
			}
		}
		for _, r := range poolguard.ReclaimReasons() {
			counter(reclaimedDesc, p.Reclaimed.Of(r), name, r.String())
		}
		for _, r := range poolguard.RejectReasons() {
			counter(rejectedDesc, p.Rejected.Of(r), name, r.String())
		}
		counter(acquiresDesc, p.Acquires, name)
		counter(waitedDesc, p.WaitedAcquires, name)
		counter(emptyDesc, p.EmptyAcquires, name)
		counter(openedDesc, p.Opened, name)
		counter(openFailuresDesc, p.OpenFailures, name)
		gauge(openingDesc, float64(p.Opening), name)
		counter(closedDesc, p.Closed, name)
		counter(closedLifeDesc, p.ClosedLifetime, name)
		counter(closedIdleDesc, p.ClosedIdle, name)
		gauge(oldestDesc, p.OldestLease.Seconds(), name)
		gauge(guaranteedDesc, float64(p.Guaranteed), name)
		gauge(borrowedDesc, float64(p.Borrowed), name)
		gauge(maxWaitingDesc, float64(p.MaxWaiting), name)
		gauge(pausedDesc, boolValue(p.Paused), name)
	}
}

// desc returns d with the collector's constant labels.
func (c *Collector) desc(d *prometheus.Desc) *prometheus.Desc {
	if c.descs == nil {
		return d
	}
	return c.descs[d]
}

// constMetric is prometheus.MustNewConstMetric without the panic: a
// partition name that is not valid UTF-8 fails the scrape with an error
// naming it instead.
func constMetric(d *prometheus.Desc, t prometheus.ValueType, v float64, labels []string) prometheus.Metric {
	m, err := prometheus.NewConstMetric(d, t, v, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(d, fmt.Errorf("prom: cannot export pool partition %q: %w", labels[0], err))
	}
	return m
}

// histogram converts a poolguard histogram, whose counts are cumulative
// like Prometheus's, to a constant histogram in seconds.
func histogram(d *prometheus.Desc, h poolguard.Histogram, name string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Bounds))
	for i, b := range h.Bounds {
		buckets[b.Seconds()] = h.Counts[i]
	}
	m, err := prometheus.NewConstHistogram(d, h.Count, h.Sum.Seconds(), buckets, name)
	if err != nil {
		return prometheus.NewInvalidMetric(d, fmt.Errorf("prom: cannot export pool partition %q: %w", name, err))
	}
	return m
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

var _ prometheus.Collector = (*Collector)(nil)
