package bench

import (
	"flag"
	"runtime"
	"slices"
	"testing"
)

var gate = flag.Bool("gate", false, "compare poolguard with pgxpool in one run against the recorded run (CI does)")

// The recorded run: the medians of docs/benchmarks.md's current run, as
// poolguard's time over pgxpool's (acquire + release, one goroutine), and
// poolguard's allocations per operation, which are exact.
const (
	recordedRatio         = 160.2 / 260.8
	recordedAllocs        = 1 // acquire + release, waiting or not
	recordedSelect1Allocs = 8 // acquire, SELECT 1, scan, release
	// noise is how much slower than recorded poolguard may look against
	// pgxpool before it counts as a regression: the spreads of the
	// recorded runs on a shared 2-CPU machine reached ±47 % for poolguard
	// and ±39 % for pgxpool at one goroutine.
	noise  = 0.5
	passes = 5
)

// TestGate is the benchmarks' check for CI, run with -gate: in one run,
// poolguard and pgxpool side by side, interleaved, so that the machine's
// speed and load cancel out. It fails when poolguard's time relative to
// pgxpool's got worse than the recorded run's by more than the noise, or
// when poolguard allocates more than it did. Absolute times are not
// compared: CI's machine is not the one the run was recorded on.
func TestGate(t *testing.T) {
	if !*gate {
		t.Skip("run with -gate")
	}
	pools := map[string]pool{}
	for _, k := range []poolKind{poolguardTracked, pgxpoolKind} {
		pools[k.name] = openWarm(t, k)
	}
	bench := func(name string, goroutines int, query bool) testing.BenchmarkResult {
		r := testing.Benchmark(func(b *testing.B) { drive(b, pools[name], goroutines, query) })
		if r.N == 0 {
			t.Fatalf("%s, %d goroutines: the benchmark failed", name, goroutines)
		}
		return r
	}

	ns := map[string][]float64{}
	for range passes {
		for _, name := range []string{"poolguard", "pgxpool"} {
			r := bench(name, 1, false)
			ns[name] = append(ns[name], float64(r.T.Nanoseconds())/float64(r.N))
			if name == "poolguard" && r.AllocsPerOp() > recordedAllocs {
				t.Errorf("acquire + release: %d allocations, recorded %d", r.AllocsPerOp(), recordedAllocs)
			}
		}
	}
	ratio := median(ns["poolguard"]) / median(ns["pgxpool"])
	t.Logf("acquire + release, 1 goroutine: poolguard %.0f ns, pgxpool %.0f ns (medians of %d); ratio %.2f, recorded %.2f",
		median(ns["poolguard"]), median(ns["pgxpool"]), passes, ratio, recordedRatio)
	// Elsewhere stacks are taken by runtime.Callers, at another cost than
	// the recorded run's (see internal/stack).
	fp := runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64"
	if limit := recordedRatio * (1 + noise); fp && ratio > limit {
		t.Errorf("acquire + release got slower against pgxpool: %.2f of its time, recorded %.2f, limit %.2f", ratio, recordedRatio, limit)
	}

	if r := bench("poolguard", 64, false); r.AllocsPerOp() > recordedAllocs {
		t.Errorf("acquire + release waiting: %d allocations, recorded %d", r.AllocsPerOp(), recordedAllocs)
	}
	if r := bench("poolguard", 1, true); r.AllocsPerOp() > recordedSelect1Allocs {
		t.Errorf("SELECT 1: %d allocations, recorded %d", r.AllocsPerOp(), recordedSelect1Allocs)
	}
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}
