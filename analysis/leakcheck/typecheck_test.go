package leakcheck_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
)

// typecheck type-checks a single file with no imports.
func typecheck(filename string) (*types.Package, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filename, nil, 0)
	if err != nil {
		return nil, err
	}
	conf := types.Config{}
	return conf.Check("example.com/lease", fset, []*ast.File{f}, nil)
}
