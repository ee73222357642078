package prom_test

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/pgtemp"
	"github.com/poolguard/poolguard/prom"
)

func ExampleNewCollector() {
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
	pool, err := poolguard.New(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	collector, err := prom.NewCollector(pool, prom.WithPoolName("userapi"))
	if err != nil {
		log.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	// What a scrape sees:
	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "db_client_connection_max") {
			fmt.Println(sc.Text())
		}
	}
	// Output:
	// db_client_connection_max{db_client_connection_pool_name="userapi/api"} 10
	// db_client_connection_max{db_client_connection_pool_name="userapi/sync"} 2
}
