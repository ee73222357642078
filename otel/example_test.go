package otel_test

import (
	"context"
	"fmt"
	"log"
	"sort"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/otel"
	"github.com/poolguard/poolguard/pgtemp"
)

func ExampleRegister() {
	ctx := context.Background()
	// A throw-away server; a service uses its own connection string.
	db, err := pgtemp.Start(ctx, pgtemp.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	cfg, err := poolguard.ParseConfig(db.DSN())
	if err != nil {
		log.Fatal(err)
	}
	cfg.MaxConns = 10
	cfg.Partitions = []poolguard.PartitionConfig{{Name: "api", Guaranteed: 8}, {Name: "sync", Max: 2}}
	// The Tracer, set before the pool is created, makes the acquire spans,
	// records the connection histograms and puts leaks on the acquiring
	// request's span. Without options it uses the global providers.
	tracer := otel.NewTracer()
	cfg.ConnConfig.Tracer = tracer
	cfg.OnLeak = tracer.OnLeak(cfg.OnLeak)
	pool, err := poolguard.New(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	// A service passes its MeterProvider, or none for the global one.
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(ctx)
	reg, err := otel.Register(pool, otel.WithMeterProvider(provider), otel.WithPoolName("userapi"))
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Unregister()

	if _, err := pool.Partition("sync").Exec(ctx, "SELECT 1"); err != nil {
		log.Fatal(err)
	}

	// What an exporter sees:
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		log.Fatal(err)
	}
	var lines []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				if m.Name != "db.client.connection.max" {
					continue
				}
				for _, p := range d.DataPoints {
					name, _ := p.Attributes.Value(otel.PoolNameKey)
					lines = append(lines, fmt.Sprintf("%s{%s} %d %s", m.Name, name.AsString(), p.Value, m.Unit))
				}
			case metricdata.Histogram[float64]:
				if m.Name != "db.client.connection.use_time" {
					continue
				}
				for _, p := range d.DataPoints {
					name, _ := p.Attributes.Value(otel.PoolNameKey)
					lines = append(lines, fmt.Sprintf("%s{%s} count %d %s", m.Name, name.AsString(), p.Count, m.Unit))
				}
			}
		}
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	// Output:
	// db.client.connection.max{userapi/api} 10 {connection}
	// db.client.connection.max{userapi/sync} 2 {connection}
	// db.client.connection.use_time{userapi/sync} count 1 s
}
