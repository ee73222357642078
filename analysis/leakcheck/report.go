package leakcheck

import (
	"fmt"
	"go/ast"
	"go/token"
	"strings"

	"golang.org/x/tools/go/analysis"
)

const directive = "//leakcheck:ignore"

// fileIgnores holds the ignore directives of one file by line.
type fileIgnores struct {
	byLine map[int]*ast.Comment
	warned map[*ast.Comment]bool
}

// report reports a finding at the acquisition unless an ignore
// directive with a reason covers it.
func (c *checker) report(call *ast.CallExpr, res *Resource, format string, args ...any) {
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
