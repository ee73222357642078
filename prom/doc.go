// Package prom exports a poolguard pool's statistics to Prometheus.
//
// NewCollector returns a prometheus.Collector that reads Pool.Stats at
// scrape time and turns it into constant metrics, so it holds no state of
// its own and never slows an acquire: the pool's snapshot is taken in one
// short step and no lock is held while the metrics are sent.
//
// # Names
//
// The connection metrics follow the OpenTelemetry semantic conventions for
// database client connection pools (db.client.connection.*), with the
// names the OpenTelemetry-to-Prometheus translation gives them:
//
//	db_client_connection_count{db_client_connection_state="idle"|"used"}  gauge
//	db_client_connection_limit                                          gauge
//	db_client_connection_max                                            gauge, deprecated: the conventions' older name of the limit
//	db_client_connection_idle_max                                       gauge
//	db_client_connection_idle_min                                       gauge
//	db_client_connection_pending_requests                               gauge
//	db_client_connection_timeouts_total                                 counter
//	db_client_connection_create_time_seconds                            histogram
//	db_client_connection_wait_time_seconds                              histogram
//	db_client_connection_use_time_seconds                               histogram
//
// poolguard's own metrics carry the poolguard_ prefix: proven leaks by
// detector, suspected leaks, reclaimed connections by reason, refused
// acquires by reason, the age of the oldest lease, the guaranteed and
// borrowed connections and whether the partition is paused. docs/metrics.md
// lists them all.
//
// Metrics are per partition, labelled db_client_connection_pool_name with
// the value "<pool name>/<partition>", for example "poolguard/default" for a pool
// without partitions or "userapi/sync" for the partition "sync" of a
// collector made with WithPoolName("userapi"). Give the pool name your
// application's name and the label matches the application_name that
// poolguard gives each partition's connections in pg_stat_activity. Only
// poolguard_pool_max_connections and poolguard_pool_connections describe the
// pool as a whole, with the same label holding the pool name alone, so one
// label names the pool in every series.
//
// # Several pools
//
// Each pool needs its own Collector with its own pool name; any number of
// them register in one registry. WithConstLabels adds constant labels to
// every series, as pgxpool's exporters do.
package prom
