package leakcheck

import (
	"fmt"
	"go/types"
	"slices"
	"strings"
)

// A paramUse says what a function does with one of its parameters.
type paramUse struct {
	Index   int      // parameter index, -1 for the receiver
	Methods []string // release methods it calls on it (or "Next" in a loop)
	Taken   bool     // it returns, stores or passes the value on
	Partial bool     // some path returns without doing either
}

// takesFact is exported for functions that release or keep a
// parameter, so that callers in other packages see the release.
type takesFact struct {
	Params []paramUse
}

// AFact marks takesFact as an analysis fact.
func (*takesFact) AFact() {}

func (f *takesFact) String() string {
	var parts []string
	for _, u := range f.Params {
		s := fmt.Sprintf("%d:%s", u.Index, strings.Join(u.Methods, ","))
		if u.Taken {
			s += ":taken"
		}
		if u.Partial {
			s += ":partial"
		}
		parts = append(parts, s)
	}
	return "takes(" + strings.Join(parts, " ") + ")"
}

// summary returns what fn does with its parameters, from its body when
// it is declared in this package and from its fact otherwise.
func (c *checker) summary(fn *types.Func) []paramUse {
	if uses, ok := c.summaries[fn]; ok {
		return uses
	}
	decl := c.decls[fn]
	if decl == nil {
		var fact takesFact
		if fn.Pkg() != c.pass.Pkg && c.pass.ImportObjectFact(fn, &fact) {
			return fact.Params
		}
		return nil
	}
	c.summaries[fn] = nil // recursion: assume nothing until known
	var uses []paramUse
	sig := fn.Signature()
	f := c.function(decl)
	for i := -1; i < sig.Params().Len(); i++ {
		p := sig.Recv()
		if i >= 0 {
			p = sig.Params().At(i)
		}
		if p == nil || !c.closeable(p.Type()) {
			continue
		}
		t := newTracker(c, nil, f, p)
		t.scan(decl.Body)
		if t.taken || len(t.used) > 0 {
			methods := make([]string, 0, len(t.used))
			for m := range t.used {
				methods = append(methods, m)
			}
			slices.Sort(methods)
			uses = append(uses, paramUse{Index: i, Methods: methods, Taken: t.taken, Partial: c.partial(f, p)})
		}
	}
	c.summaries[fn] = uses
	return uses
}

// partial reports whether some path through f returns without
// releasing or handing over parameter p, as in a helper that releases
// only when an error is nil: callers must not count on it.
func (c *checker) partial(f *function, p *types.Var) bool {
	if c.anyRelease == nil {
		c.anyRelease = &Resource{Noun: "parameter", NextCloses: true}
		for name := range c.table.names {
			c.anyRelease.Release = append(c.anyRelease.Release, name)
		}
	}
	t := newTracker(c, c.anyRelease, f, p)
	return t.search(nodeRef{f.g.Blocks[0], -1}) != nil
}

// exportFacts summarizes the exported functions of the package.
func (c *checker) exportFacts() {
	for fn := range c.decls {
		if !fn.Exported() {
			continue
		}
		var params []paramUse
		for _, u := range c.summary(fn) {
			if u.Index >= 0 { // receivers are trusted only in their own package
				params = append(params, u)
			}
		}
		if len(params) > 0 {
			c.pass.ExportObjectFact(fn, &takesFact{Params: params})
		}
	}
}

// closeable reports whether a value of type T could be a resource: it
// has a release method or an owning field. Only such parameters are
// summarized.
func (c *checker) closeable(T types.Type) bool {
	if ok, seen := c.closeables[T]; seen {
		return ok
	}
	ok := false
	for name := range c.table.names {
		first, _, _ := strings.Cut(name, ".")
		if obj, _, _ := types.LookupFieldOrMethod(T, true, nil, first); obj != nil {
			ok = true
			break
		}
	}
	c.closeables[T] = ok
	return ok
}
