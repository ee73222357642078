// Command leakcheck reports pooled connections, rows, transactions,
// files and response bodies that can reach a function exit without
// being released.
//
// Run it on packages:
//
//	leakcheck ./...
//
// or through go vet, which is what the first form does for you:
//
//	go vet -vettool=$(which leakcheck) ./...
//
// Given packages, leakcheck runs itself through go vet: one process per
// package, as go vet's own analyzers run, with the summaries of a
// package's dependencies read from go vet's cache rather than computed
// again from their source. That keeps its memory at go vet's, where a
// single process holding every package for the run needs several times
// as much, and makes a second run over unchanged packages immediate. The
// findings are printed as a single process would print them, sorted.
// -standalone runs it in one process instead (the x/tools singlechecker),
// for the flags only that mode has (-fix, -diff, -test=false, -debug,
// profiles), which also select it.
//
// Exit codes: 0 when clean, 1 for errors (a package that does not build,
// a bad -resources file), 3 for findings; under go vet -vettool, go
// vet's own (1 for findings).
package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/poolguard/poolguard/analysis/leakcheck"
	"golang.org/x/tools/go/analysis/singlechecker"
)

func main() {
	if args, ok := viaVet(os.Args[1:]); ok {
		os.Exit(vet(args, os.Stdout, os.Stderr))
	}
	singlechecker.Main(leakcheck.Analyzer)
}

// viaVet reports whether the command line can run through go vet, and
// returns it for vet. It cannot when it names no packages (go vet's own
// calls, with a .cfg file, -flags or -V, and -help), asks for
// -standalone (which it then removes from os.Args), or uses a flag that
// go vet does not pass on.
func viaVet(args []string) ([]string, bool) {
	if i := slices.IndexFunc(args, func(a string) bool { return a == "-standalone" || a == "--standalone" }); i >= 0 {
		os.Args = slices.Delete(os.Args, i+1, i+2)
		return nil, false
	}
	var out []string
	pkgs := 0
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			if strings.HasSuffix(a, ".cfg") {
				return nil, false
			}
			pkgs++
			out = append(out, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch name {
		case "resources":
			if !hasValue && i+1 < len(args) {
				i++
				value = args[i]
			}
			// go vet runs the tool in each package's directory.
			if abs, err := filepath.Abs(value); err == nil && value != "" {
				value = abs
			}
			out = append(out, "-resources="+value)
		case "json":
			out = append(out, a)
		default:
			return nil, false
		}
	}
	if _, err := exec.LookPath("go"); err != nil || pkgs == 0 {
		return nil, false
	}
	return out, true
}

// vet runs go vet with this executable as its tool on args and returns
// the exit code. Unless args ask for JSON, it reads go vet's JSON and
// prints the findings as the standalone command does.
func vet(args []string, stdout, stderr io.Writer) int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "leakcheck:", err)
		return 1
	}
	asJSON := slices.ContainsFunc(args, func(a string) bool { return a == "-json" || a == "--json" })
	vetArgs := []string{"vet", "-vettool=" + self}
	if !asJSON {
		vetArgs = append(vetArgs, "-json") // read below
	}
	cmd := exec.Command("go", append(vetArgs, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, stderr
	if asJSON {
		cmd.Stdout = stdout
	}
	code := 0
	if err := cmd.Run(); err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			fmt.Fprintln(stderr, "leakcheck: go vet:", err)
			return 1
		}
		code = ee.ExitCode() // a package that does not build, a bad flag
	}
	if asJSON {
		return code
	}
	diags, errs, err := decode(&out)
	if err != nil {
		fmt.Fprintln(stderr, "leakcheck: reading go vet's output:", err)
		return 1
	}
	for _, e := range errs {
		fmt.Fprintln(stderr, e)
	}
	for _, d := range diags {
		fmt.Fprintf(stderr, "%s: %s\n", d.Posn, d.Message)
	}
	switch {
	case code != 0:
		return code
	case len(errs) > 0:
		return 1
	case len(diags) > 0:
		return 3
	}
	return 0
}

// diagnostic is one finding in go vet's JSON.
type diagnostic struct {
	Posn    string `json:"posn"`
	Message string `json:"message"`
}

// decode reads go vet's JSON, a stream of objects mapping a package to
// its analyzers' findings (or an error), and returns the findings sorted
// by position, and the errors.
func decode(r io.Reader) ([]diagnostic, []string, error) {
	var (
		diags []diagnostic
		errs  []string
	)
	dec := json.NewDecoder(r)
	for {
		var tree map[string]map[string]json.RawMessage
		if err := dec.Decode(&tree); err == io.EOF {
			break
		} else if err != nil {
			return nil, nil, err
		}
		for pkg, byAnalyzer := range tree {
			for _, raw := range byAnalyzer {
				var ds []diagnostic
				if json.Unmarshal(raw, &ds) == nil {
					diags = append(diags, ds...)
					continue
				}
				var e struct{ Error string }
				if err := json.Unmarshal(raw, &e); err != nil {
					return nil, nil, err
				}
				errs = append(errs, pkg+": "+e.Error)
			}
		}
	}
	slices.SortFunc(diags, func(a, b diagnostic) int {
		af, al, ac := position(a.Posn)
		bf, bl, bc := position(b.Posn)
		return cmp.Or(cmp.Compare(af, bf), cmp.Compare(al, bl), cmp.Compare(ac, bc), cmp.Compare(a.Message, b.Message))
	})
	slices.Sort(errs)
	return diags, slices.Compact(errs), nil
}

// position splits file:line:col.
func position(posn string) (file string, line, col int) {
	rest, c := cutLast(posn)
	file, l := cutLast(rest)
	line, _ = strconv.Atoi(l)
	col, _ = strconv.Atoi(c)
	return file, line, col
}

// cutLast splits s around its last colon.
func cutLast(s string) (before, after string) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i+1:]
}
