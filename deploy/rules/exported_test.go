package rules

import (
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/pooltest"
	"github.com/poolguard/poolguard/prom"
)

// TestRulesReadExportedMetrics checks that every metric the rules read is
// one that package prom exports, so a renamed metric cannot leave a rule
// silently empty.
func TestRulesReadExportedMetrics(t *testing.T) {
	pool := pooltest.New(t, pooltest.ExpectLeaks(), pooltest.Configure(func(c *poolguard.Config) {
		c.Partitions = []poolguard.PartitionConfig{{Name: "api"}, {Name: "sync"}}
	}))
	// A proven leak, for the series that exist only once there is one.
	func() {
		if _, err := pool.Acquire(t.Context()); err != nil { //leakcheck:ignore leaked on purpose
			t.Fatal(err)
		}
	}()
	for deadline := time.Now().Add(30 * time.Second); pool.Stats().Total().LeaksProven() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the leak was not proven")
		}
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
	c, err := prom.NewCollector(pool)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, mf := range mfs {
		exported[mf.GetName()] = true
	}
	recorded := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s*- record: (\S+)`).FindAllStringSubmatch(Rules+PgxpoolRules, -1) {
		recorded[m[1]] = true
	}
	read := regexp.MustCompile(`\b(?:db_client_connection|poolguard)_[a-z_]+\b`)
	for file, rules := range map[string]string{"poolguard.rules.yml": Rules, "pgxpool.rules.yml": PgxpoolRules} {
		for _, line := range strings.Split(rules, "\n") {
			if _, expr, ok := strings.Cut(line, "expr: "); ok {
				for _, name := range read.FindAllString(expr, -1) {
					base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_sum"), "_count"), "_bucket")
					if name == "db_client_connection_pool_name" || name == "db_client_connection_state" {
						continue // labels
					}
					if !exported[name] && !exported[base] && !recorded[name] {
						t.Errorf("%s reads %s, which package prom does not export", file, name)
					}
				}
			}
		}
	}
}
