package leakcheck_test

import (
	"go/types"
	"strings"
	"testing"

	"github.com/poolguard/poolguard/analysis/leakcheck"
	"golang.org/x/tools/go/analysis/analysistest"
)

func TestParseResourcesErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"(*example.com/lease.Manager).Get", "r.txt:1: want ACQUIRE RELEASE"},
		{"\n\nexample.com/lease Put", "r.txt:3: bad acquire function"},
		{"(*example.com/lease.Manager.Get Put", "bad acquire function"},
		{"example.com/lease.Open Put,", `bad release method ""`},
		{"example.com/lease.Open Put.9x", "bad release method"},
		{"release", "want release FUNC"},
		{"release example.com/lease", "bad release function"},
	} {
		_, err := leakcheck.ParseResources("r.txt", tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseResources(%q) = %v, want error containing %q", tc.in, err, tc.want)
		}
	}
}

func TestCheckResources(t *testing.T) {
	pkg := leasePackage(t)
	for _, tc := range []struct{ in, want string }{
		{"example.com/lease.Missing Put", "package example.com/lease has no function Missing"},
		{"(*example.com/lease.Nope).Get Put", "package example.com/lease has no type Nope"},
		{"(*example.com/lease.Manager).Take Put", "has no method Take"},
		{"(*example.com/lease.Manager).Get Free", "has no method Free"},
		{"(*example.com/lease.Manager).Get Put", ""},
		{"release example.com/lease.Recycle", ""},
		{"release example.com/lease.Reuse", "has no function Reuse"},
	} {
		rs, err := leakcheck.ParseResources("r.txt", tc.in)
		if err != nil {
			t.Fatal(err)
		}
		err = rs[0].Check(pkg)
		if tc.want == "" {
			if err != nil {
				t.Errorf("Check(%q) = %v", tc.in, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check(%q) = %v, want error containing %q", tc.in, err, tc.want)
		}
	}
}

// leasePackage type-checks the lease stub of the test data.
func leasePackage(t *testing.T) *types.Package {
	t.Helper()
	pkg, err := typecheck(analysistest.TestData() + "/src/example.com/lease/lease.go")
	if err != nil {
		t.Fatal(err)
	}
	return pkg
}
