package leakcheck

import (
	"bufio"
	"fmt"
	"go/token"
	"go/types"
	"os"
	"strings"
	"sync"
)

// resourcesFile is the value of the -resources flag.
var resourcesFile string

// A UserResource is one line of a -resources file.
type UserResource struct {
	File    string // the file it was read from
	Line    int    // its line in File
	Pkg     string // import path of the acquire function's package
	Acquire string // full name of the acquire function
	// Releaser is set for a "release FUNC" line: Acquire then names a
	// function that releases or keeps the resources passed to it.
	Releaser bool
	*Resource
}

func (u *UserResource) errorf(format string, args ...any) error {
	return fmt.Errorf("leakcheck: %s:%d: %s", u.File, u.Line, fmt.Sprintf(format, args...))
}

// ParseResources parses a -resources file. Each line names an acquire
// function, its comma-separated release methods and, optionally, a noun
// for diagnostics, or, after the word release, a function that releases
// or keeps the resources passed to it:
//
//	(*example.com/lease.Manager).Get Put,Discard lease
//	release example.com/lease.Recycle
//
// Blank lines and text after # are ignored.
func ParseResources(name string, data string) ([]*UserResource, error) {
	var out []*UserResource
	sc := bufio.NewScanner(strings.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		u := &UserResource{File: name, Line: line, Acquire: fields[0], Resource: &Resource{Noun: "resource"}}
		if fields[0] == "release" {
			if len(fields) != 2 {
				return nil, u.errorf("want release FUNC, got %q", strings.TrimSpace(text))
			}
			pkg, typ, fn, ok := splitFullName(fields[1])
			if !ok || !token.IsIdentifier(fn) || typ != "" && !token.IsIdentifier(typ) || strings.ContainsAny(pkg, " ()*\"") {
				return nil, u.errorf("bad release function %q: want pkg/path.Func or (*pkg/path.Type).Method", fields[1])
			}
			u.Acquire, u.Pkg, u.Releaser = fields[1], pkg, true
			out = append(out, u)
			continue
		}
		if len(fields) < 2 {
			return nil, u.errorf("want ACQUIRE RELEASE[,RELEASE...] [NOUN], got %q", strings.TrimSpace(text))
		}
		pkg, typ, fn, ok := splitFullName(fields[0])
		if !ok || !token.IsIdentifier(fn) || typ != "" && !token.IsIdentifier(typ) || strings.ContainsAny(pkg, " ()*\"") {
			return nil, u.errorf("bad acquire function %q: want pkg/path.Func or (*pkg/path.Type).Method", fields[0])
		}
		u.Pkg = pkg
		for rel := range strings.SplitSeq(fields[1], ",") {
			for part := range strings.SplitSeq(rel, ".") {
				if !token.IsIdentifier(part) {
					return nil, u.errorf("bad release method %q", rel)
				}
			}
			u.Release = append(u.Release, rel)
		}
		if len(fields) > 2 {
			u.Noun = strings.Join(fields[2:], " ")
		}
		out = append(out, u)
	}
	return out, sc.Err()
}

// Check reports an error unless pkg declares the acquire function and
// its first result has the release methods.
func (u *UserResource) Check(pkg *types.Package) error {
	_, typ, name, _ := splitFullName(u.Acquire)
	var fn *types.Func
	if typ == "" {
		fn, _ = pkg.Scope().Lookup(name).(*types.Func)
		if fn == nil {
			return u.errorf("package %s has no function %s", pkg.Path(), name)
		}
	} else {
		tn, _ := pkg.Scope().Lookup(typ).(*types.TypeName)
		if tn == nil {
			return u.errorf("package %s has no type %s", pkg.Path(), typ)
		}
		obj, _, _ := types.LookupFieldOrMethod(types.NewPointer(tn.Type()), false, pkg, name)
		if fn, _ = obj.(*types.Func); fn == nil {
			return u.errorf("type %s.%s has no method %s", pkg.Path(), typ, name)
		}
	}
	if u.Releaser {
		if fn.Signature().Params().Len() == 0 && fn.Signature().Recv() == nil {
			return u.errorf("%s takes nothing to release", u.Acquire)
		}
		return nil
	}
	res := fn.Signature().Results()
	if res.Len() == 0 {
		return u.errorf("%s returns nothing to release", u.Acquire)
	}
	for _, rel := range u.Release {
		T := res.At(0).Type()
		parts := strings.Split(rel, ".")
		for i, part := range parts {
			obj, _, _ := types.LookupFieldOrMethod(T, true, pkg, part)
			if obj == nil {
				return u.errorf("%s has no method %s", res.At(0).Type(), rel)
			}
			if _, isFunc := obj.(*types.Func); isFunc != (i == len(parts)-1) {
				return u.errorf("%s: %s is not a method path", res.At(0).Type(), rel)
			}
			T = obj.Type()
		}
	}
	return nil
}

var tables struct {
	sync.Mutex
	m map[string]*table
}

// loadTable returns the table for a -resources file ("" for none),
// reading each file once.
func loadTable(path string) (*table, error) {
	tables.Lock()
	defer tables.Unlock()
	if t, ok := tables.m[path]; ok {
		return t, nil
	}
	var user []*UserResource
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("leakcheck: %v", err)
		}
		if user, err = ParseResources(path, string(data)); err != nil {
			return nil, err
		}
	}
	if tables.m == nil {
		tables.m = make(map[string]*table)
	}
	t := newTable(user)
	tables.m[path] = t
	return t, nil
}
