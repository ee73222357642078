package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/poolguard/poolguard/analysis/leakcheck"
	"golang.org/x/tools/go/packages"
)

// resourcesFlag returns the value of the -resources flag in args.
func resourcesFlag(args []string) string {
	for i, arg := range args {
		if arg == "--" || !strings.HasPrefix(arg, "-") {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if name != "resources" {
			continue
		}
		if hasValue {
			return value
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// vetTool reports whether go vet is running the command: it then passes
// a single .cfg file, or asks for the flags or the version.
func vetTool(args []string) bool {
	for _, arg := range args {
		if strings.HasSuffix(arg, ".cfg") || arg == "-flags" || strings.HasPrefix(arg, "-V") {
			return true
		}
	}
	return false
}

// checkResources parses the -resources file and checks every line
// against the package it names.
func checkResources(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("leakcheck: %v", err)
	}
	rs, err := leakcheck.ParseResources(path, string(data))
	if err != nil || len(rs) == 0 {
		return err
	}
	var paths []string
	for _, r := range rs {
		paths = append(paths, r.Pkg)
	}
	pkgs, err := packages.Load(&packages.Config{Mode: packages.NeedName | packages.NeedTypes}, paths...)
	if err != nil {
		return fmt.Errorf("leakcheck: %v", err)
	}
	byPath := make(map[string]*packages.Package)
	for _, p := range pkgs {
		byPath[p.PkgPath] = p
	}
	for _, r := range rs {
		p := byPath[r.Pkg]
		if p == nil || len(p.Errors) > 0 || p.Types == nil {
			return fmt.Errorf("leakcheck: %s:%d: unknown package %s", r.File, r.Line, r.Pkg)
		}
		if err := r.Check(p.Types); err != nil {
			return err
		}
	}
	return nil
}
