package resources

import (
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"(*example.com/lease.Manager).Get", "r.txt:1: want ACQUIRE RELEASE"},
		{"\n\nexample.com/lease Put", "r.txt:3: bad acquire function"},
		{"(*example.com/lease.Manager.Get Put", "bad acquire function"},
		{"example.com/lease.Open Put,", `bad release method ""`},
		{"example.com/lease.Open Put.9x", "bad release method"},
		{"release", "want release FUNC"},
		{"release example.com/lease", "bad release function"},
	} {
		_, err := Parse("r.txt", tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want error containing %q", tc.in, err, tc.want)
		}
	}
}

func TestCheck(t *testing.T) {
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
		ls, err := Parse("r.txt", tc.in)
		if err != nil {
			t.Fatal(err)
		}
		err = ls[0].Check(pkg)
		if tc.want == "" {
			if err != nil {
				t.Errorf("Check(%q) = %v", tc.in, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check(%q) = %v, want error containing %q", tc.in, err, tc.want)
		}
	}
}

// leasePackage type-checks the lease stub of the analyzer's test data.
func leasePackage(t *testing.T) *types.Package {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "../../testdata/src/example.com/lease/lease.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := new(types.Config).Check("example.com/lease", fset, []*ast.File{f}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return pkg
}
