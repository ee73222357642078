// Package resources reads the file of extra resources that leakcheck's
// -resources flag names.
//
// Each line names an acquire function as types.Func.FullName prints it,
// its comma-separated release methods (a field path such as Body.Close
// is allowed) and, optionally, a noun for diagnostics; or, after the
// word release, a function that releases or keeps the resources passed
// to it. Blank lines and text after # are ignored:
//
//	(*example.com/lease.Manager).Get Put,Discard lease
//	release example.com/lease.Recycle
package resources

import (
	"bufio"
	"fmt"
	"go/token"
	"go/types"
	"strings"
)

// A Line is one line of a resources file.
type Line struct {
	File string // the file it was read from
	Line int    // its line in File
	Pkg  string // import path of Func's package
	Func string // full name of the acquire or release function
	// Releaser is set for a "release FUNC" line: Func releases or keeps
	// the resources passed to it, and Release and Noun are empty.
	Releaser bool
	Release  []string // release methods of what Func returns
	Noun     string   // the resource's name in diagnostics
}

func (l *Line) errorf(format string, args ...any) error {
	return fmt.Errorf("leakcheck: %s:%d: %s", l.File, l.Line, fmt.Sprintf(format, args...))
}

// Parse parses the resources file name, whose contents are data.
func Parse(name, data string) ([]*Line, error) {
	var out []*Line
	sc := bufio.NewScanner(strings.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		l := &Line{File: name, Line: n, Func: fields[0], Noun: "resource"}
		if fields[0] == "release" {
			if len(fields) != 2 {
				return nil, l.errorf("want release FUNC, got %q", strings.TrimSpace(text))
			}
			l.Func, l.Releaser, l.Noun = fields[1], true, ""
			if l.Pkg = pkgOf(fields[1]); l.Pkg == "" {
				return nil, l.errorf("bad release function %q: want pkg/path.Func or (*pkg/path.Type).Method", fields[1])
			}
			out = append(out, l)
			continue
		}
		if len(fields) < 2 {
			return nil, l.errorf("want ACQUIRE RELEASE[,RELEASE...] [NOUN], got %q", strings.TrimSpace(text))
		}
		if l.Pkg = pkgOf(fields[0]); l.Pkg == "" {
			return nil, l.errorf("bad acquire function %q: want pkg/path.Func or (*pkg/path.Type).Method", fields[0])
		}
		for rel := range strings.SplitSeq(fields[1], ",") {
			for part := range strings.SplitSeq(rel, ".") {
				if !token.IsIdentifier(part) {
					return nil, l.errorf("bad release method %q", rel)
				}
			}
			l.Release = append(l.Release, rel)
		}
		if len(fields) > 2 {
			l.Noun = strings.Join(fields[2:], " ")
		}
		out = append(out, l)
	}
	return out, sc.Err()
}

// pkgOf returns the package path of a well-formed full name, or "".
func pkgOf(name string) string {
	pkg, typ, fn, ok := SplitFullName(name)
	if !ok || !token.IsIdentifier(fn) || typ != "" && !token.IsIdentifier(typ) || strings.ContainsAny(pkg, " ()*\"") {
		return ""
	}
	return pkg
}

// Lookup returns the line's function, declared in pkg.
func (l *Line) Lookup(pkg *types.Package) (*types.Func, error) {
	_, typ, name, _ := SplitFullName(l.Func)
	if typ == "" {
		fn, _ := pkg.Scope().Lookup(name).(*types.Func)
		if fn == nil {
			return nil, l.errorf("package %s has no function %s", pkg.Path(), name)
		}
		return fn, nil
	}
	tn, _ := pkg.Scope().Lookup(typ).(*types.TypeName)
	if tn == nil {
		return nil, l.errorf("package %s has no type %s", pkg.Path(), typ)
	}
	obj, _, _ := types.LookupFieldOrMethod(types.NewPointer(tn.Type()), false, pkg, name)
	fn, _ := obj.(*types.Func)
	if fn == nil {
		return nil, l.errorf("type %s.%s has no method %s", pkg.Path(), typ, name)
	}
	return fn, nil
}

// Check reports an error unless pkg declares the line's function and,
// for an acquire function, its first result has the release methods.
func (l *Line) Check(pkg *types.Package) error {
	fn, err := l.Lookup(pkg)
	if err != nil {
		return err
	}
	if l.Releaser {
		if fn.Signature().Params().Len() == 0 && fn.Signature().Recv() == nil {
			return l.errorf("%s takes nothing to release", l.Func)
		}
		return nil
	}
	res := fn.Signature().Results()
	if res.Len() == 0 {
		return l.errorf("%s returns nothing to release", l.Func)
	}
	for _, rel := range l.Release {
		T := res.At(0).Type()
		parts := strings.Split(rel, ".")
		for i, part := range parts {
			obj, _, _ := types.LookupFieldOrMethod(T, true, pkg, part)
			if obj == nil {
				return l.errorf("%s has no method %s", res.At(0).Type(), rel)
			}
			if _, isFunc := obj.(*types.Func); isFunc != (i == len(parts)-1) {
				return l.errorf("%s: %s is not a method path", res.At(0).Type(), rel)
			}
			T = obj.Type()
		}
	}
	return nil
}

// SplitFullName splits "(*pkg.T).M", "(pkg.T).M" or "pkg.F" into its
// package path, type name (empty for a function) and function name.
func SplitFullName(s string) (pkg, typ, name string, ok bool) {
	if rest, found := strings.CutPrefix(s, "("); found {
		recv, method, found := strings.Cut(rest, ").")
		if !found {
			return "", "", "", false
		}
		recv = strings.TrimPrefix(recv, "*")
		i := strings.LastIndexByte(recv, '.')
		if i <= 0 {
			return "", "", "", false
		}
		return recv[:i], recv[i+1:], method, true
	}
	i := strings.LastIndexByte(s, '.')
	if i <= 0 || strings.LastIndexByte(s, '/') > i {
		return "", "", "", false
	}
	return s[:i], "", s[i+1:], true
}
