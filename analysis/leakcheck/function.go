package leakcheck

import (
	"go/ast"
	"go/token"
	"go/types"
	"slices"

	"golang.org/x/tools/go/cfg"
)

// A function holds what the acquisitions in one function body share:
// its control-flow graph and a few indexes over it.
type function struct {
	node    ast.Node // *ast.FuncDecl or *ast.FuncLit
	body    *ast.BlockStmt
	g       *cfg.CFG
	where   map[ast.Node]nodeRef         // cfg node to its place in the graph
	results []*types.Var                 // named results, for bare returns
	tagged  map[ast.Expr]bool            // case values of tagged switches: not conditions
	loops   map[*ast.BranchStmt]ast.Stmt // continue statements to their loop
	sends   map[ast.Node]bool            // sends of select cases: see search
	starts  []token.Pos                  // sorted start positions of all nodes
	isMain  bool                         // main.main: its returns end the process
}

// A nodeRef locates a node in the graph.
type nodeRef struct {
	b *cfg.Block
	i int
}

// function returns the shared data of the function node, building it on
// first use: most functions acquire nothing and never need a graph.
func (c *checker) function(node ast.Node) *function {
	if f, ok := c.funcs[node]; ok {
		return f
	}
	f := &function{node: node, where: make(map[ast.Node]nodeRef), tagged: make(map[ast.Expr]bool), loops: make(map[*ast.BranchStmt]ast.Stmt), sends: make(map[ast.Node]bool)}
	var ftype *ast.FuncType
	switch n := node.(type) {
	case *ast.FuncDecl:
		f.body, ftype = n.Body, n.Type
		f.isMain = n.Name.Name == "main" && n.Recv == nil && c.pass.Pkg.Name() == "main"
	case *ast.FuncLit:
		f.body, ftype = n.Body, n.Type
	}
	if ftype.Results != nil {
		for _, field := range ftype.Results.List {
			for _, name := range field.Names {
				if v, ok := c.pass.TypesInfo.Defs[name].(*types.Var); ok {
					f.results = append(f.results, v)
				}
			}
		}
	}
	f.g = cfg.New(f.body, func(call *ast.CallExpr) bool { return c.exitKind(call) == "" })
	for _, b := range f.g.Blocks {
		if !b.Live {
			continue
		}
		for i, n := range b.Nodes {
			f.where[n] = nodeRef{b, i}
			f.starts = append(f.starts, n.Pos())
		}
	}
	slices.Sort(f.starts)
	f.index()
	c.funcs[node] = f
	return f
}

// index records tagged switch cases and the loop of each continue.
func (f *function) index() {
	var loops []ast.Stmt
	labels := make(map[string]ast.Stmt)
	var visit func(n ast.Node) bool
	visit = func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncLit:
			return false
		case *ast.SwitchStmt:
			if n.Tag != nil {
				for _, cc := range n.Body.List {
					for _, e := range cc.(*ast.CaseClause).List {
						f.tagged[e] = true
					}
				}
			}
		case *ast.CommClause:
			if send, ok := n.Comm.(*ast.SendStmt); ok {
				f.sends[send] = true
			}
		case *ast.LabeledStmt:
			labels[n.Label.Name] = n.Stmt
		case *ast.ForStmt, *ast.RangeStmt:
			loops = append(loops, n.(ast.Stmt))
			ast.Inspect(loopBody(n), visit)
			loops = loops[:len(loops)-1]
			return false
		case *ast.BranchStmt:
			if n.Tok == token.CONTINUE {
				if n.Label != nil {
					f.loops[n] = labels[n.Label.Name]
				} else if len(loops) > 0 {
					f.loops[n] = loops[len(loops)-1]
				}
			}
		}
		return true
	}
	ast.Inspect(f.body, visit)
}

func loopBody(n ast.Node) *ast.BlockStmt {
	if n, ok := n.(*ast.ForStmt); ok {
		return n.Body
	}
	return n.(*ast.RangeStmt).Body
}

// continueAt returns the continue statement, if any, that takes the
// path from just after pos to the head of loop: the first continue for
// that loop after pos with no node in between.
func (f *function) continueAt(pos token.Pos, loop ast.Stmt) *ast.BranchStmt {
	var best *ast.BranchStmt
	for br, l := range f.loops {
		if l == loop && br.Pos() > pos && (best == nil || br.Pos() < best.Pos()) {
			best = br
		}
	}
	if best == nil {
		return nil
	}
	i, _ := slices.BinarySearch(f.starts, pos+1)
	if i < len(f.starts) && f.starts[i] < best.Pos() {
		return nil
	}
	return best
}

// contains reports whether the variable is declared inside the function
// (parameters included), so that the function alone decides its fate.
func (f *function) contains(v *types.Var) bool {
	return v.Pos() >= f.node.Pos() && v.Pos() < f.node.End()
}
