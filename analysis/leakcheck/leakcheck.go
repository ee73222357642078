package leakcheck

import (
	_ "embed"
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"strings"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/ctrlflow"
	"golang.org/x/tools/go/analysis/passes/inspect"
	"golang.org/x/tools/go/ast/inspector"
	"golang.org/x/tools/go/types/typeutil"
)

//go:embed doc.go
var doc string

// Analyzer reports pooled connections, rows, transactions, files and
// response bodies that can reach a function exit without being released.
var Analyzer = &analysis.Analyzer{
	Name:      "leakcheck",
	Doc:       docText(doc),
	URL:       "https://pkg.go.dev/github.com/poolguard/poolguard/analysis/leakcheck",
	Requires:  []*analysis.Analyzer{inspect.Analyzer, ctrlflow.Analyzer},
	Run:       run,
	FactTypes: []analysis.Fact{new(takesFact), new(acquiresFact)},
}

func init() {
	Analyzer.Flags.StringVar(&resourcesFile, "resources", "",
		"file of extra resources, one per line: ACQUIRE RELEASE[,RELEASE...] [NOUN], or release FUNC")
}

// A checker holds the state of one pass.
type checker struct {
	pass       *analysis.Pass
	cfgs       *ctrlflow.CFGs
	names      map[*types.Func]string // see fullName
	table      *table
	decls      map[*types.Func]*ast.FuncDecl
	summaries  map[*types.Func][]paramUse
	acquirers  map[*types.Func]acquirer // functions that acquire for their caller
	fieldUses  map[fieldsKey]bool       // see disposesOfFields
	freshening map[*types.Var]bool      // variables being checked by freshVar
	funcs      map[ast.Node]*function
	ignores    map[string]*fileIgnores
	closeables map[types.Type]bool
	anyRelease map[types.Type]*resource // see releasesOf
}

func run(pass *analysis.Pass) (any, error) {
	t, err := loadTable(resourcesFile)
	if err != nil {
		return nil, err
	}
	if err := t.validate(pass.Pkg); err != nil {
		return nil, err
	}
	c := &checker{
		pass:       pass,
		cfgs:       pass.ResultOf[ctrlflow.Analyzer].(*ctrlflow.CFGs),
		table:      t,
		names:      make(map[*types.Func]string),
		decls:      make(map[*types.Func]*ast.FuncDecl),
		summaries:  make(map[*types.Func][]paramUse),
		acquirers:  make(map[*types.Func]acquirer),
		fieldUses:  make(map[fieldsKey]bool),
		freshening: make(map[*types.Var]bool),
		funcs:      make(map[ast.Node]*function),
		ignores:    make(map[string]*fileIgnores),
		closeables: make(map[types.Type]bool),
		anyRelease: make(map[types.Type]*resource),
	}
	for _, f := range pass.Files {
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Body != nil {
				if fn, ok := pass.TypesInfo.Defs[fd.Name].(*types.Func); ok {
					c.decls[fn] = fd
				}
			}
		}
	}
	c.exportFacts()
	ins := pass.ResultOf[inspect.Analyzer].(*inspector.Inspector)
	for cur := range ins.Root().Preorder((*ast.CallExpr)(nil)) {
		c.checkCall(cur)
	}
	return nil, nil
}

// checkCall checks one call: if it acquires a resource bound to a local
// variable, it searches for a path on which the resource leaks.
func (c *checker) checkCall(cur inspector.Cursor) {
	call := cur.Node().(*ast.CallExpr)
	res := c.acquired(call)
	if res == nil {
		return
	}
	var fnNode ast.Node
	for enc := range cur.Enclosing((*ast.FuncDecl)(nil), (*ast.FuncLit)(nil)) {
		fnNode = enc.Node()
		break
	}
	if fnNode == nil {
		return
	}
	parent := cur.Parent()
	for {
		if _, ok := parent.Node().(*ast.ParenExpr); !ok {
			break
		}
		parent = parent.Parent()
	}
	var lhs []ast.Expr
	switch p := parent.Node().(type) {
	case *ast.ExprStmt:
		c.report(call, res, "%s acquired here is discarded without being released", res.Noun)
		return
	case *ast.AssignStmt, *ast.ValueSpec:
		l, rhs := assignment(p)
		switch {
		case len(rhs) == 1:
			lhs = l
		case len(l) == len(rhs):
			for i, r := range rhs {
				if ast.Unparen(r) == call {
					lhs = l[i : i+1]
				}
			}
		}
	default:
		return // used in place or handed on
	}
	if len(lhs) == 0 {
		return
	}
	f := c.function(fnNode)
	ref, ok := f.where[parent.Node()]
	if !ok {
		return // dead code
	}
	t := &tracker{c: c, f: f}
	root := t.localVar(lhs[0])
	blank := false
	if id, ok := lhs[0].(*ast.Ident); ok && id.Name == "_" {
		// Follow a variable nobody uses: only the error checks can
		// show that there was nothing to release.
		root, blank = types.NewVar(id.Pos(), c.pass.Pkg, "_", c.pass.TypesInfo.TypeOf(call)), true
	}
	if root == nil {
		return // stored outside the function
	}
	t = newTracker(c, res, f, root)
	if len(lhs) > 1 {
		if v := t.localVar(lhs[len(lhs)-1]); v != nil && types.Identical(v.Type(), types.Universe.Lookup("error").Type()) {
			t.errVar = v
		}
	}
	if fn, ok := typeutil.Callee(c.pass.TypesInfo, call).(*types.Func); ok && !isInterfaceMethod(fn) {
		// A func returned with the resource releases it when called.
		if k := c.acquirer(fn).release; k > 0 && k < len(lhs) {
			if v := t.localVar(lhs[k]); v != nil {
				t.funcs[v] = true
			}
		}
	}
	t.guards(cur, fnNode)
	t.parent = c.table.savepointOf(c.pass.TypesInfo, call, t)
	if t.deferredBefore(call.Pos()) {
		return // a deferred closure registered earlier releases it at exit
	}
	if blank {
		if t.errVar == nil || t.search(ref) != nil {
			c.report(call, res, "%s acquired here is discarded without being released", res.Noun)
		}
		return
	}
	if l := t.search(ref); l != nil {
		c.report(call, res, "%s acquired here is not released %s", res.Noun, l.what)
	}
}

// acquired returns the resource that call acquires, or nil: a function
// of the table, an interface method shaped like one, or a function that
// returns what one of those acquired (see acquires).
func (c *checker) acquired(call *ast.CallExpr) *resource {
	info := c.pass.TypesInfo
	fn, ok := typeutil.Callee(info, call).(*types.Func)
	if !ok {
		return nil
	}
	if r := c.table.acquire[c.fullName(fn)]; r != nil {
		return r
	}
	var results *types.Tuple
	switch T := info.TypeOf(call).(type) {
	case nil:
		return nil
	case *types.Tuple:
		results = T
	default:
		results = types.NewTuple(types.NewVar(call.Pos(), nil, "", T))
	}
	if results.Len() == 0 || !c.closeable(results.At(0).Type()) {
		return nil
	}
	if isInterfaceMethod(fn) {
		return c.table.acquiredByShape(fn, results)
	}
	return c.acquires(fn)
}

// fullName returns the full name of fn's generic origin, the key of the
// table. Names are kept: every call is looked up.
func (c *checker) fullName(fn *types.Func) string {
	fn = fn.Origin()
	name, ok := c.names[fn]
	if !ok {
		name = fn.FullName()
		c.names[fn] = name
	}
	return name
}

// deferredBefore reports whether a closure deferred before pos releases
// the resource: it reads the variable when the function returns, so it
// releases whatever the variable then holds.
func (t *tracker) deferredBefore(pos token.Pos) bool {
	found := false
	ast.Inspect(t.f.body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncLit:
			return false
		case *ast.DeferStmt:
			if lit, ok := ast.Unparen(n.Call.Fun).(*ast.FuncLit); ok && n.Pos() < pos && t.scan(lit.Body) {
				found = true
			}
			return false
		}
		return !found
	})
	return found
}

const directive = "//leakcheck:ignore"

// fileIgnores holds the ignore directives of one file by line.
type fileIgnores struct {
	byLine map[int]*ast.Comment
	warned map[*ast.Comment]bool
}

// report reports a finding at the acquisition unless an ignore
// directive with a reason covers it.
func (c *checker) report(call *ast.CallExpr, res *resource, format string, args ...any) {
	pos := c.pass.Fset.Position(call.Pos())
	ig := c.fileIgnores(call.Pos(), pos.Filename)
	for _, line := range []int{pos.Line, pos.Line - 1} {
		com := ig.byLine[line]
		if com == nil {
			continue
		}
		if strings.TrimSpace(strings.TrimPrefix(com.Text, directive)) != "" {
			return
		}
		if !ig.warned[com] {
			ig.warned[com] = true
			c.pass.Reportf(com.Pos(), "leakcheck:ignore needs a reason")
		}
	}
	c.pass.Report(analysisDiagnostic(call, fmt.Sprintf(format, args...)))
}

func (c *checker) fileIgnores(pos token.Pos, name string) *fileIgnores {
	if ig := c.ignores[name]; ig != nil {
		return ig
	}
	ig := &fileIgnores{byLine: make(map[int]*ast.Comment), warned: make(map[*ast.Comment]bool)}
	for _, f := range c.pass.Files {
		if f.FileStart <= pos && pos < f.FileEnd {
			for _, g := range f.Comments {
				for _, com := range g.List {
					if com.Text == directive || strings.HasPrefix(com.Text, directive+" ") {
						ig.byLine[c.pass.Fset.Position(com.Pos()).Line] = com
					}
				}
			}
		}
	}
	c.ignores[name] = ig
	return ig
}

func analysisDiagnostic(call *ast.CallExpr, msg string) analysis.Diagnostic {
	return analysis.Diagnostic{Pos: call.Pos(), End: call.End(), Message: msg}
}

// docText extracts the analyzer's help text from the package comment:
// everything after the "# Analyzer leakcheck" heading.
func docText(src string) string {
	const heading = "# Analyzer leakcheck"
	var b strings.Builder
	in := false
	for line := range strings.SplitSeq(src, "\n") {
		if line == "package leakcheck" {
			break
		}
		text := strings.TrimPrefix(strings.TrimPrefix(line, "//"), " ")
		if strings.HasPrefix(text, "\t") {
			text = "    " + text[1:]
		}
		if text == heading {
			in = true
			continue
		}
		if in {
			b.WriteString(text)
			b.WriteByte('\n')
		}
	}
	return strings.TrimSpace(b.String())
}
