package leakcheck_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/poolguard/poolguard/analysis/leakcheck"
	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/checker"
	"golang.org/x/tools/go/packages"
)

// The corpus is a module of realistic code under testdata/corpus whose
// acquisition lines are labelled LEAK or OK. TestCorpus scores the
// analyzer on it and fails below the targets. With LEAKCHECK_COMPARE
// set to a comma-separated list of name=binary, it scores those
// singlechecker binaries on the same corpus too.

const (
	targetPrecision = 0.95
	targetRecall    = 0.90
)

var labelRE = regexp.MustCompile(`//\s*(LEAK|OK)\b`)

// site is a file:line within the corpus, such as "pool/sync.go:38".
type site = string

// corpus reads the labels: site to true for LEAK, false for OK.
func corpus(t *testing.T, dir string) map[site]bool {
	t.Helper()
	labels := make(map[site]bool)
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.go"))
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, name)
		sc := bufio.NewScanner(f)
		for line := 1; sc.Scan(); line++ {
			if m := labelRE.FindStringSubmatch(sc.Text()); m != nil {
				labels[fmt.Sprintf("%s:%d", filepath.ToSlash(rel), line)] = m[1] == "LEAK"
			}
		}
		f.Close()
	}
	return labels
}

// score holds the counts of one tool on one family.
type score struct{ tp, fp, fn int }

func (s score) precision() float64 { return ratio(s.tp, s.tp+s.fp) }
func (s score) recall() float64    { return ratio(s.tp, s.tp+s.fn) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}

// scoreOf compares the reported sites with the labels, per family (the
// corpus directory) and in total ("all").
func scoreOf(labels map[site]bool, reported map[site]bool) map[string]*score {
	out := map[string]*score{"all": {}}
	fam := func(s site) *score {
		name, _, _ := strings.Cut(s, "/")
		if out[name] == nil {
			out[name] = &score{}
		}
		return out[name]
	}
	for s, leak := range labels {
		for _, sc := range []*score{fam(s), out["all"]} {
			switch {
			case leak && reported[s]:
				sc.tp++
			case leak:
				sc.fn++
			case reported[s]:
				sc.fp++
			}
		}
	}
	for s := range reported {
		if _, ok := labels[s]; !ok {
			fam(s).fp++
			out["all"].fp++
		}
	}
	return out
}

func table(name string, scores map[string]*score) string {
	var fams []string
	for f := range scores {
		fams = append(fams, f)
	}
	sort.Strings(fams)
	var b strings.Builder
	for _, f := range fams {
		s := scores[f]
		fmt.Fprintf(&b, "%-14s %-6s tp=%-3d fp=%-3d fn=%-3d precision=%.2f recall=%.2f\n",
			name, f, s.tp, s.fp, s.fn, s.precision(), s.recall())
	}
	return b.String()
}

func TestCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("loads the corpus module")
	}
	dir, err := filepath.Abs(filepath.Join("testdata", "corpus"))
	if err != nil {
		t.Fatal(err)
	}
	labels := corpus(t, dir)
	leaks := 0
	for _, l := range labels {
		if l {
			leaks++
		}
	}
	t.Logf("corpus: %d labelled sites, %d LEAK, %d OK", len(labels), leaks, len(labels)-leaks)

	reported := analyze(t, dir)
	scores := scoreOf(labels, reported)
	t.Logf("\n%s", table("leakcheck", scores))
	for s := range reported {
		if !labels[s] {
			t.Logf("false positive: %s", s)
		}
	}
	for s, leak := range labels {
		if leak && !reported[s] {
			t.Logf("missed: %s", s)
		}
	}
	if all := scores["all"]; all.precision() < targetPrecision || all.recall() < targetRecall {
		t.Errorf("precision %.2f, recall %.2f: want at least %.2f and %.2f",
			all.precision(), all.recall(), targetPrecision, targetRecall)
	}

	if cmp := os.Getenv("LEAKCHECK_COMPARE"); cmp != "" {
		for tool := range strings.SplitSeq(cmp, ",") {
			name, bin, _ := strings.Cut(tool, "=")
			t.Logf("\n%s", table(name, scoreOf(labels, runTool(t, dir, bin))))
		}
	}
}

// analyze runs leakcheck in process on the corpus module.
func analyze(t *testing.T, dir string) map[site]bool {
	t.Helper()
	cfg := &packages.Config{Mode: packages.LoadAllSyntax, Dir: dir, Tests: true, Env: append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")}
	pkgs, err := packages.Load(cfg, "./...")
	if err != nil {
		t.Fatal(err)
	}
	if packages.PrintErrors(pkgs) > 0 {
		t.Fatal("corpus does not build")
	}
	graph, err := checker.Analyze([]*analysis.Analyzer{leakcheck.Analyzer}, pkgs, nil)
	if err != nil {
		t.Fatal(err)
	}
	reported := make(map[site]bool)
	for act := range graph.All() {
		if !act.IsRoot {
			continue
		}
		if act.Err != nil {
			t.Fatal(act.Err)
		}
		for _, d := range act.Diagnostics {
			pos := act.Package.Fset.Position(d.Pos)
			rel, _ := filepath.Rel(dir, pos.Filename)
			reported[fmt.Sprintf("%s:%d", filepath.ToSlash(rel), pos.Line)] = true
		}
	}
	return reported
}

var diagRE = regexp.MustCompile(`^(.+\.go):(\d+):\d+: `)

// runTool runs a singlechecker binary on the corpus and reads its
// diagnostics.
func runTool(t *testing.T, dir, bin string) map[site]bool {
	t.Helper()
	cmd := exec.Command(bin, "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%s: %v", bin, err)
	}
	reported := make(map[site]bool)
	for line := range strings.SplitSeq(string(out), "\n") {
		m := diagRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		file := m[1]
		if !filepath.IsAbs(file) {
			file = filepath.Join(dir, file)
		}
		rel, _ := filepath.Rel(dir, file)
		n, _ := strconv.Atoi(m[2])
		reported[fmt.Sprintf("%s:%d", filepath.ToSlash(rel), n)] = true
	}
	return reported
}
