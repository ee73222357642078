package rules

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated promtool tests in tests/")

// The replay of the outage, in minutes from midnight of day 0. The leak
// starts on day 1 at 15:00, leaving more than a day of history before it
// for the day-over-day rules; it leaks 2, 2, then 1 connections an hour,
// over and over (5 every 3 hours), from a pool of 100.
const (
	poolMax      = 100
	leakStart    = (24 + 15) * 60
	afterOutage  = 30 // minutes of the series after the pool is exhausted
	minutesInDay = 24 * 60
)

var leaksPerHour = []int{2, 2, 1}

// load is a service's own use of its pool: a daily cycle between lo at
// 03:00 and hi at 15:00, with noise of up to 2 connections either way.
type load struct {
	lo, hi float64
	rng    *rand.Rand
}

func newLoad(lo, hi float64, seed uint64) *load {
	return &load{lo: lo, hi: hi, rng: rand.New(rand.NewPCG(seed, 1))}
}

// at returns the connections in use at minute m; call it for each minute
// in order.
func (l *load) at(m int) int {
	hour := float64(m%minutesInDay) / 60
	mid, amp := (l.lo+l.hi)/2, (l.hi-l.lo)/2
	v := mid - amp*math.Cos(2*math.Pi*(hour-3)/24)
	return max(0, int(math.Round(v))+l.rng.IntN(5)-2)
}

// leakMinutes returns the minutes at which connections leak, up to end.
func leakMinutes(end int) []int {
	var ms []int
	for h := 0; leakStart+h*60 < end; h++ {
		start := leakStart + h*60
		if leaksPerHour[h%len(leaksPerHour)] == 2 {
			ms = append(ms, start+15, start+45)
		} else {
			ms = append(ms, start+30)
		}
	}
	return ms
}

// countBefore returns how many of the sorted minutes ms are at or before m.
func countBefore(ms []int, m int) int {
	n, _ := slices.BinarySearch(ms, m+1)
	return n
}

// series is one input series of a promtool test.
type series struct {
	name   string // metric name with its labels
	values []float64
}

// labels returns the label set of a service's partition. Each scenario is
// its own job of one instance.
func labels(job string, extra ...string) string {
	ls := []string{`db_client_connection_pool_name="userapi/default"`, `instance="pod-1"`, `job="` + job + `"`}
	for i := 0; i < len(extra); i += 2 {
		ls = append(ls, extra[i]+`="`+extra[i+1]+`"`)
	}
	slices.Sort(ls)
	return "{" + strings.Join(ls, ",") + "}"
}

// service holds the series of one service over minutes 0..end.
type service struct {
	job                            string
	used, pending, timeouts        []float64
	suspects, leaks, oldest, maxes []float64
}

func newService(job string, end int) *service {
	mk := func() []float64 { return make([]float64, end+1) }
	s := &service{job: job, used: mk(), pending: mk(), timeouts: mk(), suspects: mk(), leaks: mk(), oldest: mk(), maxes: mk()}
	for m := range s.maxes {
		s.maxes[m] = poolMax
		s.oldest[m] = 1 // the API's own leases last milliseconds
	}
	return s
}

func (s *service) series() []series {
	return []series{
		{"db_client_connection_count" + labels(s.job, "db_client_connection_state", "used"), s.used},
		{"db_client_connection_limit" + labels(s.job), s.maxes},
		{"db_client_connection_pending_requests" + labels(s.job), s.pending},
		{"db_client_connection_timeouts_total" + labels(s.job), s.timeouts},
		{"poolguard_leaks_total" + labels(s.job, "kind", "unreachable"), s.leaks},
		{"poolguard_suspected_leaks_total" + labels(s.job), s.suspects},
		{"poolguard_suspected_leaks_returned_total" + labels(s.job), make([]float64, len(s.used))},
		{"poolguard_oldest_lease_age_seconds" + labels(s.job), s.oldest},
	}
}

// simulateLeak fills in the outage on a pool that cannot prove its leaks:
// the leaked connections stay held. Requests come in bursts of half again
// the average demand, so they queue before the pool is full on average;
// once demand exceeds the free connections on average, the excess times
// out, ten requests a minute per missing connection.
func (s *service) simulateLeak(l *load, leaks []int) {
	for m := range s.used {
		held := countBefore(leaks, m)
		d := l.at(m)
		s.used[m] = float64(min(poolMax, held+d))
		s.pending[m] = float64(max(0, held+(3*d+1)/2-poolMax))
		if m > 0 {
			s.timeouts[m] = s.timeouts[m-1] + float64(10*max(0, held+d-poolMax))
		}
		s.suspects[m] = float64(countBefore(leaks, m-1)) // idle past SuspectAfter (1m)
		if held > 0 {
			s.oldest[m] = float64(60 * (m - leaks[0]))
		}
	}
}

// simulateReclaim fills in the same leak under poolguard: each leaked
// connection is suspected after a minute and proven at a garbage collection
// a minute later, when its connection is reclaimed.
func (s *service) simulateReclaim(l *load, leaks []int) {
	for m := range s.used {
		held := countBefore(leaks, m) - countBefore(leaks, m-2)
		s.used[m] = float64(held + l.at(m))
		s.suspects[m] = float64(countBefore(leaks, m-1))
		s.leaks[m] = float64(countBefore(leaks, m-2))
		if held > 0 {
			s.oldest[m] = float64(60 * (m - leaks[countBefore(leaks, m-2)]))
		}
	}
}

// simulateSteady fills in a service without leaks.
func (s *service) simulateSteady(l *load) {
	for m := range s.used {
		s.used[m] = float64(l.at(m))
	}
}

// exhaustion returns the first minute at which every connection is used.
func exhaustion() int {
	l := newLoad(6, 20, 1)
	leaks := leakMinutes(10 * minutesInDay)
	for m := 0; ; m++ {
		if countBefore(leaks, m)+l.at(m) >= poolMax {
			return m
		}
	}
}

// span formats a number of minutes as hours and minutes.
func span(m int) string {
	return fmt.Sprintf("%dh%02dm", m/60, m%60)
}

// clock formats minute m as day and time of day.
func clock(m int) string {
	return fmt.Sprintf("day %d %02d:%02d", m/minutesInDay, m%minutesInDay/60, m%60)
}

// firstFiring is when each alert first fires in the outage replay, by
// job, in minutes. promtool checks it; docs/runbook.md and
// deploy/README.md report it.
var firstFiring = map[string]map[string]int{
	"outage": {
		"PoolguardLeakSuspected":                   2356,
		"PoolguardLeaseHeldTooLong":                2416,
		"DatabaseConnectionPoolFloorRising":        2702,
		"DatabaseConnectionPoolExhaustionForecast": 3436,
		"DatabaseConnectionPoolHigh":               4816,
		"DatabaseConnectionPoolPendingRequests":    5031,
		"DatabaseConnectionPoolCritical":           5088,
		"DatabaseConnectionPoolAcquireTimeouts":    5150,
	},
	"reclaimed": {
		"PoolguardLeakSuspected": 2356,
		"PoolguardLeakDetected":  2357,
	},
}

func TestSeries(t *testing.T) {
	exhausted := exhaustion()
	end := exhausted + afterOutage
	leaks := leakMinutes(end + 1)

	outage := newService("outage", end)
	outage.simulateLeak(newLoad(6, 20, 1), leaks)
	reclaimed := newService("reclaimed", end)
	reclaimed.simulateReclaim(newLoad(6, 20, 1), leaks)

	var b bytes.Buffer
	header(&b, fmt.Sprintf(`The outage, replayed: a pool of 100 whose service uses 6 to 20
# connections on a daily cycle, and a job that leaks 1-2 connections an hour
# from %s on. Minute 0 is midnight of day 0.
#
# job "outage": the leaked connections stay held (a pool that cannot
# prove them leaked), until every connection is used at %s (minute %d),
# %s after the first leak.
# job "reclaimed": poolguard suspects each one after a minute and proves
# it leaked a minute later, and takes the connection back.`, clock(leakStart), clock(exhausted), exhausted, span(exhausted-leakStart)))
	group(&b, "outage replay", append(outage.series(), reclaimed.series()...))
	fmt.Fprintf(&b, "    promql_expr_test:\n")
	exprTest(&b, end, "# The pool is exhausted at "+clock(exhausted)+".",
		`min by (job) (min_over_time(timestamp(db_client_connection_count{db_client_connection_state="used",job="outage"} >= 100)[1d:1m]))`,
		[]sample{{`{job="outage"}`, seconds(exhausted)}})
	queued := firstPending(outage)
	exprTest(&b, end, fmt.Sprintf("# Requests first queue at %s, %s before exhaustion.", clock(queued), span(exhausted-queued)),
		`min by (job) (min_over_time(timestamp(db_client_connection_pending_requests{job="outage"} > 0)[1d:1m]))`,
		[]sample{{`{job="outage"}`, seconds(queued)}})
	alertTests(t, &b, end, exhausted, "outage", "reclaimed")
	check(t, "tests/outage.test.yml", b.Bytes())

	quiet := newService("quiet", end)
	quiet.simulateSteady(newLoad(6, 20, 1))
	busy := newService("busy", end)
	busy.simulateSteady(newLoad(10, 70, 2))
	b.Reset()
	header(&b, `The outage's service without the leak ("quiet": 6 to 20 connections in use
# on a daily cycle) and a busier one ("busy": 10 to 70), over the same time:
# no alert fires. Minute 0 is midnight of day 0.`)
	group(&b, "no leak", append(quiet.series(), busy.series()...))
	fmt.Fprintf(&b, "    promql_expr_test:\n")
	alertTests(t, &b, end, -1, "quiet", "busy")
	exprTest(&b, minutesInDay, "# On the first day, before there is a yesterday to compare with, a forecast\n      # on the floor alone fires on the busy service's morning ramp-up: hence the\n      # exhaustion forecast's second condition.",
		`sum by (job) (count_over_time((predict_linear(job:db_connection_pool_active:min1h{job="busy"}[6h], 86400) >= job:db_connection_pool_max:max)[1d:1m]))`,
		[]sample{{`{job="busy"}`, busyRawForecastMinutes}})
	check(t, "tests/steady.test.yml", b.Bytes())
}

// alertTests writes, for every alert and job, a test of when the alert
// first fires, as firstFiring says, or that it never does. Prometheus 2 and
// 3 select ranges a little differently (3 leaves out the range's first
// instant), which moves the forecast by two minutes, so the test allows
// that much either way. Comments give each
// firing's time and, given the minute of exhaustion, its lead time. One
// query per alert and job keeps each within promtool's limit of samples.
func alertTests(t *testing.T, b *bytes.Buffer, end, exhausted int, jobs ...string) {
	t.Helper()
	names := alertNames(t)
	for _, job := range jobs {
		for _, name := range names {
			first := fmt.Sprintf(`min_over_time(timestamp(ALERTS{alertstate="firing",alertname=%q,job=%q})[%dm:1m])`, name, job, end)
			m, ok := firstFiring[job][name]
			if !ok {
				exprTest(b, end, fmt.Sprintf("# %s never fires on %s.", name, job), first, nil)
				continue
			}
			comment := fmt.Sprintf("# %s fires on %s at %s", name, job, clock(m))
			if exhausted >= 0 {
				comment += fmt.Sprintf(", %s before exhaustion", span(exhausted-m))
			}
			exprTest(b, end, comment+", give or take two minutes.",
				fmt.Sprintf("count by (alertname, job) ((%s >= %d) <= %d)", first, seconds(m-tolerance), seconds(m+tolerance)),
				[]sample{{fmt.Sprintf(`{alertname=%q,job=%q}`, name, job), 1}})
		}
	}
}

// tolerance is how many minutes the first firing may differ from
// firstFiring's.
const tolerance = 2

// alertNames returns the names of the alerts in the rules file.
func alertNames(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^\s*- alert: (\w+)`).FindAllStringSubmatch(Rules, -1) {
		names = append(names, m[1])
	}
	if len(names) == 0 {
		t.Fatal("no alerts found in poolguard.rules.yml")
	}
	return names
}

// busyRawForecastMinutes is how many minutes a forecast without its guard
// would fire on the busy service.
const busyRawForecastMinutes = 561

func firstPending(s *service) int {
	for m, p := range s.pending {
		if p > 0 {
			return m
		}
	}
	return -1
}

type sample struct {
	labels string
	value  int
}

// seconds converts minute m to the time PromQL's timestamp() returns.
func seconds(m int) int { return 60 * m }

func header(b *bytes.Buffer, about string) {
	fmt.Fprintf(b, "# Code generated by TestSeries (go test ./deploy/rules -run TestSeries -update); DO NOT EDIT.\n#\n# %s\nrule_files:\n  - ../poolguard.rules.yml\nevaluation_interval: 1m\ntests:\n", about)
}

func group(b *bytes.Buffer, name string, ss []series) {
	fmt.Fprintf(b, "  - name: %s\n    interval: 1m\n    input_series:\n", name)
	for _, s := range ss {
		fmt.Fprintf(b, "      - series: '%s'\n        values: '%s'\n", s.name, encode(s.values))
	}
}

// exprTest writes a promql_expr_test evaluated at minute at.
func exprTest(b *bytes.Buffer, at int, comment, expr string, want []sample) {
	slices.SortFunc(want, func(x, y sample) int { return strings.Compare(x.labels, y.labels) })
	if comment != "" {
		fmt.Fprintf(b, "      %s\n", comment)
	}
	fmt.Fprintf(b, "      - expr: '%s'\n        eval_time: %dm\n", expr, at)
	if len(want) == 0 {
		fmt.Fprintf(b, "        exp_samples: []\n")
		return
	}
	fmt.Fprintf(b, "        exp_samples:\n")
	for _, s := range want {
		fmt.Fprintf(b, "          - labels: '%s'\n            value: %d\n", s.labels, s.value)
	}
}

// encode writes values in promtool's expanding notation, "a+bxn" for a run
// of n+1 values from a in steps of b.
func encode(vs []float64) string {
	var parts []string
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	for i := 0; i < len(vs); {
		j := i + 1
		if j < len(vs) {
			step := vs[j] - vs[i]
			for j+1 < len(vs) && vs[j+1]-vs[j] == step {
				j++
			}
			if j-i >= 2 {
				sign := "+"
				if step < 0 {
					sign = "-"
				}
				parts = append(parts, fmt.Sprintf("%s%s%sx%d", f(vs[i]), sign, f(math.Abs(step)), j-i))
				i = j + 1
				continue
			}
		}
		parts = append(parts, f(vs[i]))
		i++
	}
	return strings.Join(parts, " ")
}

// check compares a generated file with the committed one, or rewrites it
// with -update.
func check(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v: generate it with go test -run TestSeries -update", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is out of date: regenerate it with go test ./deploy/rules -run TestSeries -update", filepath.ToSlash(path))
	}
}
