package leakcheck

import (
	_ "embed"
	"go/ast"
	"go/types"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/inspect"
	"golang.org/x/tools/go/ast/inspector"
)

//go:embed doc.go
var doc string

// Analyzer reports pooled connections, rows, transactions, files and
// response bodies that can reach a function exit without being released.
var Analyzer = &analysis.Analyzer{
	Name:      "leakcheck",
	Doc:       docText(doc),
	URL:       "https://pkg.go.dev/github.com/poolguard/poolguard/analysis/leakcheck",
	Requires:  []*analysis.Analyzer{inspect.Analyzer},
	Run:       run,
	FactTypes: []analysis.Fact{new(takesFact), new(acquiresFact)},
}

func init() {
	Analyzer.Flags.StringVar(&resourcesFile, "resources", "",
		"file of extra resources, one per line: ACQUIRE RELEASE[,RELEASE...] [NOUN]")
}

// A checker holds the state of one pass.
type checker struct {
	pass       *analysis.Pass
	table      *table
	decls      map[*types.Func]*ast.FuncDecl
	summaries  map[*types.Func][]paramUse
	acquirers  map[*types.Func]*Resource // functions that acquire for their caller
	fieldUses  map[fieldsKey]bool        // see disposesOfFields
	funcs      map[ast.Node]*function
	ignores    map[string]*fileIgnores
	closeables map[types.Type]bool
	anyRelease map[types.Type]*Resource // see releasesOf
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
		table:      t,
		decls:      make(map[*types.Func]*ast.FuncDecl),
		summaries:  make(map[*types.Func][]paramUse),
		acquirers:  make(map[*types.Func]*Resource),
		fieldUses:  make(map[fieldsKey]bool),
		funcs:      make(map[ast.Node]*function),
		ignores:    make(map[string]*fileIgnores),
		closeables: make(map[types.Type]bool),
		anyRelease: make(map[types.Type]*Resource),
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
