package leakcheck_test

import (
	"path/filepath"
	"testing"

	"github.com/poolguard/poolguard/analysis/leakcheck"
	"golang.org/x/tools/go/analysis/analysistest"
)

func TestAnalyzer(t *testing.T) {
	testdata := analysistest.TestData()
	analysistest.Run(t, testdata, leakcheck.Analyzer,
		"pool", "pgxrows", "sqlrows", "httpfile", "crosspkg", "ignore", "testifycases", "mainpkg", "ifaces", "summaries", "generics")
}

func TestUserResources(t *testing.T) {
	testdata := analysistest.TestData()
	setFlag(t, "resources", filepath.Join(testdata, "src", "userres", "resources.txt"))
	analysistest.Run(t, testdata, leakcheck.Analyzer, "userres")
}

// setFlag sets an analyzer flag for the duration of the test.
func setFlag(t *testing.T, name, value string) {
	t.Helper()
	f := leakcheck.Analyzer.Flags.Lookup(name)
	old := f.Value.String()
	if err := f.Value.Set(value); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Value.Set(old) })
}
