package rules

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/poolguard/poolguard/internal/users"
	"github.com/poolguard/poolguard/internal/wait"
	"github.com/poolguard/poolguard/pgtemp"
)

// TestFleetAlerts runs the rules on a real Prometheus that scrapes a fleet:
// replicas of the example service (examples/userapi), each a process with
// its own pool, and postgres_exporter, all on one PostgreSQL server.
//
//   - r1 and r2 run the outage's leaking sync job with leak tracking on:
//     their leaks are proven and reclaimed, and show as one leaking call
//     site, not two;
//   - r3 runs it with leak tracking off, so its sync partition runs out
//     while the same partition of r1 and r2 does not, and its leases
//     show as suspects of one call site;
//   - then r4 starts with the postmortem's proposed fix, a pool of 200,
//     which takes the fleet over the server's max_connections less its
//     reserved connections before r4 has opened any connection.
//
// Every alert that fires is checked against what the fleet's state calls
// for; the others must stay silent. Prometheus evaluates the rules with
// their durations divided by 60 (see fastRules), so the test takes a
// minute, not an hour. It needs the prometheus and
// prometheus-postgres-exporter binaries (Debian's packages of those
// names); without them it is skipped, unless the environment variable CI
// is set.
func TestFleetAlerts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus, postgres_exporter and four services")
	}
	promBin := tool(t, "prometheus")
	exporterBin := tool(t, "prometheus-postgres-exporter")
	ctx := t.Context()
	dir := t.TempDir()

	// 250 connections, 3 of them reserved for superusers: room for 247.
	srv := pgtemp.New(t, pgtemp.Options{Settings: map[string]string{"max_connections": "250"}})
	if srv.External() {
		t.Skip("the fleet's limits are read from a server pgtemp starts")
	}
	seed(t, srv.DSN())

	service := filepath.Join(dir, "userapi")
	build := exec.CommandContext(ctx, "go", "build", "-o", service, "github.com/poolguard/poolguard/examples/userapi")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build examples/userapi: %v\n%s", err, out)
	}

	exporterAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	start(t, "postgres_exporter", exec.Command(exporterBin, "--web.listen-address="+exporterAddr),
		"DATA_SOURCE_NAME="+srv.DSN())

	// Each replica: 40 connections, 4 of them for the sync job; 120 in all.
	replica := func(name, dsn string, args ...string) string {
		args = append([]string{"-addr", "127.0.0.1:0", "-max-conns", "40", "-sync-every", "500ms"}, args...)
		p := start(t, name, exec.Command(service, args...), "DATABASE_URL="+dsn)
		return p.waitFor(t, regexp.MustCompile(`msg="userapi: serving" addr=(\S+)`))
	}
	replicas := map[string]string{
		"r1": replica("r1", srv.DSN(), "-sync", "buggy"),
		"r2": replica("r2", srv.DSN(), "-sync", "buggy"),
		// Leases idle for 2 s are suspects, so that r3's show within the
		// test.
		"r3": replica("r3", withParam(t, srv.DSN(), "pool_suspect_after", "2s"), "-sync", "buggy", "-prove-leaks=false", "-sync-max-hold", "0"),
	}

	targets := filepath.Join(dir, "targets.json")
	writeTargets(t, targets, replicas)
	rules := filepath.Join(dir, "poolguard.rules.yml")
	if err := os.WriteFile(rules, []byte(fastRules(Rules)), 0o600); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: userapi
    file_sd_configs: [{files: [%q], refresh_interval: 1s}]
  - job_name: postgres
    static_configs: [{targets: [%q]}]
`, rules, targets, exporterAddr)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	promAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	start(t, "prometheus", exec.Command(promBin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr))
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	prom := &promAPI{base: "http://" + promAddr, hc: hc}

	// Requests to every replica: the garbage collections they cause are
	// what proves r1's and r2's leaks.
	loadCtx, stopLoad := context.WithCancel(ctx)
	var load sync.WaitGroup
	defer func() { stopLoad(); load.Wait() }()
	drive := func(addr string) {
		load.Go(func() {
			for loadCtx.Err() == nil {
				if resp, err := httpGet(loadCtx, hc, "http://"+addr+"/users?limit=100"); err == nil {
					io.Copy(io.Discard, resp.Body) //nolint:errcheck // load only
					resp.Body.Close()
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	for _, addr := range replicas {
		drive(addr)
	}

	// Once Prometheus scrapes every replica, bad data arrives: one user in
	// 50 fails validation, two leaks per pass of the buggy job. Before
	// that, nothing leaks, and every counter has a first sample to
	// increase from.
	prom.awaitTargets(t, len(replicas)+1)
	if err := srv.Exec(ctx, "UPDATE users SET email = 'corrupt-' || id WHERE id % 50 = 0"); err != nil {
		t.Fatal(err)
	}

	podOf := map[string]string{}
	for pod, addr := range replicas {
		podOf[addr] = pod
	}
	const (
		syncPool = "userapi/sync"
		site     = "users/job.go:" // SyncUserBuggy's Acquire
	)
	// What the fleet's state calls for. An alert is identified by its name
	// and the replica (pod) and partition it names, or the call site.
	phase1 := expectation{
		must: []alertKey{
			{"PoolguardLeakDetected", "r1", syncPool},
			{"PoolguardLeakDetected", "r2", syncPool},
			{"PoolguardLeakingCallSite", "", site},
			{"PoolguardReplicaExhausted", "r3", syncPool},
			{"DatabaseConnectionPoolCritical", "r3", syncPool},
			{"PoolguardLeakSuspected", "r3", syncPool},
			{"PoolguardSuspectedCallSite", "", site},
		},
		// r3's exhausted partition: its job waits for a connection and
		// times out.
		may: []alertKey{
			{"DatabaseConnectionPoolHigh", "r3", syncPool},
			{"DatabaseConnectionPoolPendingRequests", "r3", syncPool},
			{"DatabaseConnectionPoolAcquireTimeouts", "r3", syncPool},
		},
	}
	prom.await(t, phase1, podOf, 2*time.Minute, 10*time.Second)

	// The proposed fix, 100 → 200 connections per replica, rolled out to
	// one replica: 40+40+40+200 = 320 > 247. The alert must fire from the
	// configured limit alone.
	replicas["r4"] = replica("r4", srv.DSN(), "-sync", "fixed", "-max-conns", "200")
	podOf[replicas["r4"]] = "r4"
	drive(replicas["r4"])
	writeTargets(t, targets, replicas)
	phase2 := phase1
	phase2.must = append(slices.Clone(phase1.must), alertKey{"PoolguardFleetOverServerLimit", "", ""})
	prom.await(t, phase2, podOf, 2*time.Minute, 5*time.Second)
}

// seed creates the example service's schema and 100 valid users.
func seed(t *testing.T, dsn string) {
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	if err := users.Migrate(t.Context(), conn); err != nil {
		t.Fatal(err)
	}
	if err := users.Seed(t.Context(), conn, 100, 0); err != nil {
		t.Fatal(err)
	}
}

// fastRules returns the rules with every duration (rule group intervals,
// range selectors, offsets and for clauses) divided by 60, so that an hour
// of the rules' time passes in a minute. Thresholds stay as they are.
func fastRules(rules string) string {
	re := regexp.MustCompile(`(interval: |for: |offset |\[)(\d+)([smhdw])`)
	unit := map[string]int{"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
	return re.ReplaceAllStringFunc(rules, func(m string) string {
		p := re.FindStringSubmatch(m)
		n, _ := strconv.Atoi(p[2])
		return p[1] + strconv.Itoa(max(1, n*unit[p[3]]/60)) + "s"
	})
}

func TestFastRules(t *testing.T) {
	in := "interval: 1m\nfor: 5m\nx[1h] offset 1d y[6h] offset 1w predict_linear(z, 86400) > 3600"
	want := "interval: 1s\nfor: 5s\nx[60s] offset 1440s y[360s] offset 10080s predict_linear(z, 86400) > 3600"
	if got := fastRules(in); got != want {
		t.Errorf("fastRules:\n got %s\nwant %s", got, want)
	}
}

// withParam returns the connection URL dsn with a query parameter set.
func withParam(t *testing.T, dsn, name, value string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(name, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// tool returns the path of an installed program, or skips the test.
func tool(t *testing.T, name string) string {
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s: %v (apt-get install %s)", name, err, name)
		}
		t.Skipf("%s is not installed (apt-get install %s)", name, name)
	}
	return path
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// writeTargets writes Prometheus' file_sd targets: one per replica, with
// its name as the pod label. Prometheus renames the file into place, so
// it never reads half a file.
func writeTargets(t *testing.T, path string, replicas map[string]string) {
	type group struct {
		Targets []string          `json:"targets"`
		Labels  map[string]string `json:"labels"`
	}
	var groups []group
	for pod, addr := range replicas {
		groups = append(groups, group{[]string{addr}, map[string]string{"pod": pod}})
	}
	b, err := json.Marshal(groups)
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// A process started by the test, killed when it ends. Its standard error
// is kept for waitFor and for the failure report.
type process struct {
	name string
	cmd  *exec.Cmd

	mu    sync.Mutex
	lines []string
	more  chan struct{} // closed and replaced when a line arrives
}

func start(t *testing.T, name string, cmd *exec.Cmd, env ...string) *process {
	t.Helper()
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &process{name: name, cmd: cmd, more: make(chan struct{})}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			close(p.more)
			p.more = make(chan struct{})
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill() //nolint:errcheck // it may have exited
		<-read
		cmd.Wait() //nolint:errcheck // killed
		if t.Failed() {
			p.mu.Lock()
			defer p.mu.Unlock()
			t.Logf("%s's output, last lines:\n%s", name, strings.Join(p.lines[max(0, len(p.lines)-30):], "\n"))
		}
	})
	return p
}

// waitFor waits for a line that matches re and returns its first group.
func (p *process) waitFor(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.After(time.Minute)
	for seen := 0; ; {
		p.mu.Lock()
		lines, more := p.lines, p.more
		p.mu.Unlock()
		for ; seen < len(lines); seen++ {
			if m := re.FindStringSubmatch(lines[seen]); m != nil {
				return m[1]
			}
		}
		select {
		case <-more:
		case <-deadline:
			t.Fatalf("%s: no line matching %s within a minute", p.name, re)
		}
	}
}

// alertKey names an alert: its name, the replica (pod label) and either the
// pool partition or the call site (a prefix) it is about.
type alertKey struct{ name, pod, about string }

// expectation is what a fleet's state calls for: alerts that must fire, and
// alerts that may; any other firing alert is a failure.
type expectation struct{ must, may []alertKey }

// match reports whether a firing alert is k.
func (k alertKey) match(name, pod, pool, callSite string) bool {
	if k.name != name || k.pod != pod {
		return false
	}
	if callSite != "" {
		return strings.HasPrefix(callSite, k.about)
	}
	return k.about == pool
}

type promAPI struct {
	base string
	hc   *http.Client
}

type firing struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

func (p *promAPI) alerts(ctx context.Context) ([]firing, error) {
	resp, err := httpGet(ctx, p.hc, p.base+"/api/v1/alerts")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Data   struct {
			Alerts []firing `json:"alerts"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("decode %s: %w", resp.Request.URL, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("%s: status %q", resp.Request.URL, body.Status)
	}
	return body.Data.Alerts, nil
}

// await polls Prometheus' alerts until every alert of e.must has fired and
// then for settle more, and fails the test at the first firing alert that e
// does not allow.
func (p *promAPI) await(t *testing.T, e expectation, podOf map[string]string, timeout, settle time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var missing []alertKey
	var settled time.Time // when every alert of e.must first fired
	for {
		as, err := p.alerts(t.Context())
		if err != nil {
			if time.Now().After(deadline) {
				t.Fatalf("Prometheus' alerts: %v", err)
			}
			time.Sleep(time.Second)
			continue
		}
		seen := make([]int, len(e.must))
		for _, a := range as {
			if a.State != "firing" {
				continue
			}
			l := a.Labels
			pod := l["pod"]
			if pod == "" {
				pod = podOf[l["instance"]]
			}
			pool, callSite := l["db_client_connection_pool_name"], l["call_site"]
			allowed := false
			for i, k := range e.must {
				if k.match(l["alertname"], pod, pool, callSite) {
					seen[i]++
					allowed = true
				}
			}
			for _, k := range e.may {
				allowed = allowed || k.match(l["alertname"], pod, pool, callSite)
			}
			if !allowed {
				t.Fatalf("alert fired that the fleet's state does not call for: %v", l)
			}
		}
		missing = missing[:0]
		for i, n := range seen {
			if n == 0 {
				missing = append(missing, e.must[i])
			}
			// One leaking line is one alert over the fleet, not one per
			// replica.
			if n > 1 && e.must[i].pod == "" {
				t.Fatalf("%d alerts for %v, want one over the fleet", n, e.must[i])
			}
		}
		if len(missing) == 0 {
			if settled.IsZero() {
				settled = time.Now().Add(settle)
			}
			if time.Now().After(settled) {
				return
			}
		}
		if len(missing) > 0 && time.Now().After(deadline) {
			t.Fatalf("alerts not firing after %v: %v", timeout, missing)
		}
		time.Sleep(time.Second)
	}
}

// awaitTargets waits until Prometheus has scraped n targets successfully.
func (p *promAPI) awaitTargets(t *testing.T, n int) {
	t.Helper()
	wait.Until(t, fmt.Sprintf("Prometheus scrapes %d targets", n), func() bool {
		resp, err := httpGet(t.Context(), p.hc, p.base+"/api/v1/targets?state=active")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var body struct {
			Data struct {
				ActiveTargets []struct {
					Health string `json:"health"`
				} `json:"activeTargets"`
			} `json:"data"`
		}
		if json.NewDecoder(resp.Body).Decode(&body) != nil {
			return false
		}
		up := 0
		for _, tg := range body.Data.ActiveTargets {
			if tg.Health == "up" {
				up++
			}
		}
		return up == n
	})
}

func httpGet(ctx context.Context, hc *http.Client, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s", (&url.URL{Host: req.URL.Host, Path: req.URL.Path}).String(), resp.Status)
	}
	return resp, nil
}
