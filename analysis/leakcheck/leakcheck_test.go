package leakcheck_test

import (
	"testing"

	"github.com/poolguard/poolguard/analysis/leakcheck"
	"golang.org/x/tools/go/analysis/analysistest"
)

func TestAnalyzer(t *testing.T) {
	testdata := analysistest.TestData()
	analysistest.Run(t, testdata, leakcheck.Analyzer, "pool", "pgxrows", "sqlrows", "httpfile")
}
