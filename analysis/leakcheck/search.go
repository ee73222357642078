package leakcheck

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/token"
	"go/types"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/tools/go/ast/inspector"
	"golang.org/x/tools/go/cfg"
	"golang.org/x/tools/go/types/typeutil"
)

// A leak is a path end on which the resource is still held.
type leak struct {
	pos  token.Pos
	what string // e.g. "on the return at sync.go:48"
}

// state is what the search knows on a path besides its position.
type state struct {
	errLive bool       // errVar still holds the acquisition's error
	scanErr *types.Var // holds the result of a Scan of the resource
	flag    *types.Var // a bool last set to a constant on this path
	flagVal bool       // flag's value
	// okIfNil is the error of a call that releases or keeps the
	// resource when it succeeds: where it is nil, nothing is held.
	okIfNil *types.Var
	// nilVar is the local variable this path last compared with nil, and
	// isNil the outcome, until the variable is assigned again: after
	// "if err = f(); err != nil { ... }", a later "if err != nil" cannot
	// take its true branch on the path that skipped the first.
	nilVar *types.Var
	isNil  bool
}

type visit struct {
	b  *cfg.Block
	st state
}

// search walks the control-flow graph forward from the acquisition at
// ref and returns the earliest exit reached without a release, or nil.
// Like lostcancel it explores every path, pruning edges on which the
// resource was never acquired or was released by the library itself.
func (t *tracker) search(ref nodeRef) *leak {
	type item struct {
		b    *cfg.Block
		i    int
		st   state
		last token.Pos // end of the last node on the path
	}
	var acq ast.Node // nil when summarizing a parameter from the entry
	if ref.i >= 0 {
		acq = ref.b.Nodes[ref.i]
	}
	seen := make(map[visit]bool)
	work := []item{{ref.b, ref.i + 1, state{errLive: t.errVar != nil}, ref.b.Stmt.Pos()}}
	if acq != nil {
		work[0].last = acq.End()
	}
	var first *leak
	found := func(pos token.Pos, format string, args ...any) {
		if first == nil || pos < first.pos {
			first = &leak{pos, fmt.Sprintf(format, args...)}
		}
	}
	for len(work) > 0 {
		it := work[len(work)-1]
		work = work[:len(work)-1]
		b, st, ended := it.b, it.st, false
		for _, n := range b.Nodes[it.i:] {
			if n == acq {
				found(n.Pos(), "before it is acquired again at %s", t.at(n.Pos()))
				ended = true
				break
			}
			if t.f.sends[n] {
				continue // the graph evaluates every case's send up front
			}
			if t.scan(n) || t.expectsFailure(n, st) || t.endsTest(n) {
				ended = true
				break
			}
			if ret, ok := n.(*ast.ReturnStmt); ok {
				if t.f.isMain || t.successOnly && !t.mayReturnNilError(ret) {
					// The process ends: nothing outlives it.
				} else if ret.Return == t.f.body.Rbrace {
					found(ret.Pos(), "at the end of the function at %s", t.at(ret.Pos()))
				} else {
					found(ret.Pos(), "on the return at %s", t.at(ret.Pos()))
				}
				ended = true
				break
			}
			if len(t.vars) == 1 && n != acq && t.assigns(n, t.root) {
				found(n.Pos(), "before it is overwritten at %s", t.at(n.Pos()))
				ended = true
				break
			}
			st = t.step(n, st)
			it.last = n.End()
		}
		if ended {
			continue
		}
		if len(b.Succs) == 0 {
			if call := lastCall(b); call != nil && t.c.panics(call) {
				found(call.Pos(), "on the panic at %s", t.at(call.Pos()))
			}
			continue
		}
		var cond ast.Expr
		if len(b.Succs) == 2 && len(b.Nodes) > 0 {
			if e, ok := b.Nodes[len(b.Nodes)-1].(ast.Expr); ok && !t.f.tagged[e] {
				cond = e
			}
		}
		for k, s := range b.Succs {
			st := st
			if cond != nil {
				if t.cond(cond, k == 0, st) {
					continue
				}
				st = t.learn(cond, k == 0, st)
			}
			if t.nextIteration(s, it.last, found) {
				continue
			}
			if cc, ok := s.Stmt.(*ast.CommClause); ok && s.Kind == cfg.KindSelectCaseBody && t.f.sends[cc.Comm] && t.scan(cc.Comm) {
				continue // this case sent the resource away
			}
			if !seen[visit{s, st}] {
				seen[visit{s, st}] = true
				work = append(work, item{s, 0, st, it.last})
			}
		}
	}
	return first
}

// endsTest reports whether n is a call that ends the test through
// testing.TB (see checker.endsTest).
func (t *tracker) endsTest(n ast.Node) bool {
	s, ok := n.(*ast.ExprStmt)
	if !ok {
		return false
	}
	call, ok := ast.Unparen(s.X).(*ast.CallExpr)
	return ok && t.c.endsTest(call)
}

// nextIteration reports whether the edge into s starts the next
// iteration of a loop whose body declares the resource variable: the
// variable goes out of scope there, so the resource leaks.
func (t *tracker) nextIteration(s *cfg.Block, last token.Pos, found func(token.Pos, string, ...any)) bool {
	switch s.Kind {
	case cfg.KindForLoop, cfg.KindForPost, cfg.KindRangeLoop:
	default:
		return false
	}
	body := loopBody(s.Stmt)
	if t.root.Pos() < body.Lbrace || t.root.Pos() > body.Rbrace {
		return false
	}
	if br := t.f.continueAt(last, s.Stmt); br != nil {
		found(br.Pos(), "on the continue at %s", t.at(br.Pos()))
	} else {
		found(body.Rbrace, "before the next iteration at %s", t.at(body.Rbrace))
	}
	return true
}

// step updates the path state after node n.
func (t *tracker) step(n ast.Node, st state) state {
	if t.errVar != nil && t.assigns(n, t.errVar) {
		st.errLive = false
	}
	if st.scanErr != nil && t.assigns(n, st.scanErr) {
		st.scanErr = nil
	}
	if t.res.ScanErrCloses {
		if v := t.scanResult(n); v != nil {
			st.scanErr = v
		}
	}
	if st.okIfNil != nil && t.assigns(n, st.okIfNil) {
		st.okIfNil = nil
	}
	if v := t.takesOnSuccess(n); v != nil {
		st.okIfNil = v
	}
	if st.flag != nil && t.assigns(n, st.flag) {
		st.flag = nil
	}
	if st.nilVar != nil && t.assigns(n, st.nilVar) {
		st.nilVar = nil
	}
	if v, val, ok := t.flagSet(n); ok {
		st.flag, st.flagVal = v, val
	}
	return st
}

// flagSet returns the local bool variable n sets to a constant, as in
// "owned = true".
func (t *tracker) flagSet(n ast.Node) (*types.Var, bool, bool) {
	lhs, rhs := assignment(n)
	if len(lhs) != len(rhs) {
		return nil, false, false
	}
	for i, r := range rhs {
		v := t.localVar(lhs[i])
		if tv := t.c.pass.TypesInfo.Types[r]; v != nil && tv.Value != nil && tv.Value.Kind() == constant.Bool {
			return v, constant.BoolVal(tv.Value), true
		}
	}
	return nil, false, false
}

// cond reports whether the branch on which e evaluates to truth can be
// pruned: there the resource was never acquired (err != nil, v == nil)
// or the library has released it (Next returned false, Scan failed).
func (t *tracker) cond(e ast.Expr, truth bool, st state) bool {
	switch e := ast.Unparen(e).(type) {
	case *ast.Ident:
		v := t.varOf(e)
		if v != nil && v == st.flag {
			return st.flagVal != truth
		}
		val, ok := t.guard[v]
		return ok && val != truth
	case *ast.UnaryExpr:
		if e.Op == token.NOT {
			return t.cond(e.X, !truth, st)
		}
	case *ast.BinaryExpr:
		switch e.Op {
		case token.LAND:
			return truth && (t.cond(e.X, true, st) || t.cond(e.Y, true, st))
		case token.LOR:
			return !truth && (t.cond(e.X, false, st) || t.cond(e.Y, false, st))
		case token.EQL, token.NEQ:
			x := t.nilCompared(e)
			if x == nil {
				return false
			}
			nonNil := (e.Op == token.NEQ) == truth
			switch {
			case st.nilVar != nil && t.isObj(x, st.nilVar):
				return nonNil == st.isNil
			case st.errLive && t.isObj(x, t.errVar):
				return nonNil
			case t.isVar(x):
				return !nonNil
			case st.okIfNil != nil && t.isObj(x, st.okIfNil):
				return !nonNil
			case st.scanErr != nil && t.isObj(x, st.scanErr):
				return nonNil
			case t.res.ScanErrCloses && t.methodCall(x, "Scan"):
				return nonNil
			}
		}
	case *ast.CallExpr:
		if truth && st.errLive && t.errorTest(e) {
			return true
		}
		return !truth && t.res.NextCloses && t.methodCall(e, "Next")
	}
	return false
}

// learn returns st with what the branch on which e evaluates to truth
// tells of a local variable compared with nil.
func (t *tracker) learn(e ast.Expr, truth bool, st state) state {
	be, ok := ast.Unparen(e).(*ast.BinaryExpr)
	if !ok || be.Op != token.EQL && be.Op != token.NEQ {
		return st
	}
	x := t.nilCompared(be)
	if x == nil {
		return st
	}
	if v := t.varOf(x); v != nil && t.f.contains(v) && !t.f.unstable[v] {
		st.nilVar, st.isNil = v, (be.Op == token.EQL) == truth
	}
	return st
}

// errorTest reports whether call, such as errors.Is(err, ErrX), is true
// only for a non-nil acquisition error.
func (t *tracker) errorTest(call *ast.CallExpr) bool {
	fn, ok := typeutil.Callee(t.c.pass.TypesInfo, call).(*types.Func)
	if !ok || fn.Pkg() == nil || len(call.Args) == 0 || !t.isObj(call.Args[0], t.errVar) {
		return false
	}
	switch fn.Pkg().Path() {
	case "errors":
		return fn.Name() == "Is" && !t.c.pass.TypesInfo.Types[call.Args[1]].IsNil() || fn.Name() == "As"
	case "os":
		return strings.HasPrefix(fn.Name(), "Is")
	}
	return false
}

// mayReturnNilError reports whether ret may return a nil error, so
// that a summary of a function's success paths must count it: it
// returns the literal nil, or a call (rows.Err(), tx.Commit(ctx)) other
// than one that makes an error. A variable (return nil, err) is taken
// for a failure: that is how functions return the errors they test.
func (t *tracker) mayReturnNilError(ret *ast.ReturnStmt) bool {
	if len(ret.Results) == 0 {
		return false
	}
	last := ast.Unparen(ret.Results[len(ret.Results)-1])
	if t.c.pass.TypesInfo.Types[last].IsNil() {
		return true
	}
	call, ok := last.(*ast.CallExpr)
	if !ok {
		return false
	}
	fn, _ := typeutil.Callee(t.c.pass.TypesInfo, call).(*types.Func)
	return fn == nil || !makesError[t.c.fullName(fn)]
}

// makesError are the functions that return a new, non-nil error.
var makesError = map[string]bool{"errors.New": true, "fmt.Errorf": true}

// takesOnSuccess returns the error variable that n assigns the result
// of a call that releases or keeps the resource only when it succeeds,
// as in "s, err := newSession(conn)".
func (t *tracker) takesOnSuccess(n ast.Node) *types.Var {
	lhs, rhs := assignment(n)
	if len(rhs) != 1 || len(lhs) == 0 {
		return nil
	}
	call, ok := ast.Unparen(rhs[0]).(*ast.CallExpr)
	if !ok {
		return nil
	}
	errVar := t.localVar(lhs[len(lhs)-1])
	if errVar == nil || !types.Identical(errVar.Type(), errorType) {
		return nil
	}
	fn, ok := typeutil.Callee(t.c.pass.TypesInfo, call).(*types.Func)
	if !ok {
		return nil
	}
	for i, arg := range call.Args {
		if !t.flows(arg) {
			continue
		}
		for _, u := range t.c.summary(fn.Origin()) {
			if u.Index == i && u.Partial && u.OnSuccess {
				return errVar
			}
		}
	}
	return nil
}

// nilCompared returns the operand of e compared with nil, or nil.
func (t *tracker) nilCompared(e *ast.BinaryExpr) ast.Expr {
	isNil := func(x ast.Expr) bool {
		return t.c.pass.TypesInfo.Types[x].IsNil()
	}
	switch {
	case isNil(e.Y):
		return e.X
	case isNil(e.X):
		return e.Y
	}
	return nil
}

func (t *tracker) isObj(e ast.Expr, v *types.Var) bool {
	id, ok := ast.Unparen(e).(*ast.Ident)
	return ok && v != nil && t.c.pass.TypesInfo.Uses[id] == v
}

// lastCall returns the call ending block b, if b ends in a call
// statement.
func lastCall(b *cfg.Block) *ast.CallExpr {
	if len(b.Nodes) == 0 {
		return nil
	}
	if s, ok := b.Nodes[len(b.Nodes)-1].(*ast.ExprStmt); ok {
		call, _ := ast.Unparen(s.X).(*ast.CallExpr)
		return call
	}
	return nil
}

// at formats pos as file.go:line.
func (t *tracker) at(pos token.Pos) string {
	p := t.c.pass.Fset.Position(pos)
	return fmt.Sprintf("%s:%d", filepath.Base(p.Filename), p.Line)
}

// guards records the boolean variables whose value is known wherever
// the resource is held: an acquisition inside "if need { ... }" holds
// the resource only where need is true, so a later "if need" cannot
// take its false branch. Only variables that are never assigned after
// their declaration qualify.
func (t *tracker) guards(cur inspector.Cursor, fnNode ast.Node) {
	child := cur.Node()
	for enc := range cur.Enclosing() {
		n := enc.Node()
		if n == fnNode {
			return
		}
		if ifs, ok := n.(*ast.IfStmt); ok && child != ifs.Init && child != ifs.Cond {
			if v, val := t.boolVar(ifs.Cond); v != nil {
				if t.guard == nil {
					t.guard = make(map[*types.Var]bool)
				}
				t.guard[v] = val == (child == ifs.Body)
			}
		}
		child = n
	}
}

// boolVar returns the variable of a condition "v" or "!v", and whether
// the condition is v itself, if v is a bool that is never reassigned.
func (t *tracker) boolVar(e ast.Expr) (*types.Var, bool) {
	val := true
	if u, ok := ast.Unparen(e).(*ast.UnaryExpr); ok && u.Op == token.NOT {
		e, val = u.X, false
	}
	v := t.varOf(e)
	if v == nil || !t.f.contains(v) || !types.Identical(v.Type().Underlying(), types.Typ[types.Bool]) || t.reassigned(v) {
		return nil, false
	}
	return v, val
}

// reassigned reports whether v is assigned, or its address taken,
// anywhere in the function after its declaration.
func (t *tracker) reassigned(v *types.Var) bool {
	found := false
	ast.Inspect(t.f.body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.AssignStmt:
			if n.Tok != token.DEFINE && t.assigns(n, v) {
				found = true
			}
		case *ast.UnaryExpr:
			if n.Op == token.AND && t.varOf(n.X) == v {
				found = true
			}
		}
		return !found
	})
	return found
}

const requirePath = "github.com/stretchr/testify/require"

// expectsFailure reports whether n is a testify require assertion that
// holds only where there is nothing to release: the acquisition failed,
// as in require.Error(t, err) or require.Nil(t, conn), or the library
// released it, as in require.False(t, rows.Next()).
func (t *tracker) expectsFailure(n ast.Node, st state) bool {
	s, ok := n.(*ast.ExprStmt)
	if !ok {
		return false
	}
	call, ok := ast.Unparen(s.X).(*ast.CallExpr)
	if !ok {
		return false
	}
	fn, ok := typeutil.Callee(t.c.pass.TypesInfo, call).(*types.Func)
	if !ok || fn.Pkg() == nil || fn.Pkg().Path() != requirePath {
		return false
	}
	name := strings.TrimSuffix(fn.Name(), "f")
	for _, arg := range call.Args {
		switch name {
		case "Error", "ErrorIs", "ErrorAs", "ErrorContains", "EqualError":
			if st.errLive && t.isObj(arg, t.errVar) {
				return true
			}
		case "NoError":
			if st.okIfNil != nil && t.isObj(arg, st.okIfNil) {
				return true
			}
		case "Nil", "Zero", "Empty":
			if t.isVar(arg) {
				return true
			}
		case "True", "False":
			if t.cond(arg, name == "True", st) {
				return true
			}
		}
	}
	return false
}

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
	// unstable are the variables that may change other than by an
	// assignment in this function's own statements: their address is
	// taken, or a function literal assigns them.
	unstable map[*types.Var]bool
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
	switch n := node.(type) {
	case *ast.FuncDecl:
		f.g = c.cfgs.FuncDecl(n)
	case *ast.FuncLit:
		f.g = c.cfgs.FuncLit(n)
	}
	if f.g == nil { // a function ctrlflow knows without its graph
		f.g = cfg.New(f.body, func(*ast.CallExpr) bool { return true })
	}
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
	f.unstable = c.unstable(f.body)
	c.funcs[node] = f
	return f
}

// unstable returns the variables used in body whose address is taken,
// or which a function literal in body assigns.
func (c *checker) unstable(body *ast.BlockStmt) map[*types.Var]bool {
	vars := make(map[*types.Var]bool)
	mark := func(e ast.Expr) {
		if id, ok := ast.Unparen(e).(*ast.Ident); ok {
			if v, ok := c.pass.TypesInfo.Uses[id].(*types.Var); ok {
				vars[v] = true
			}
		}
	}
	ast.Inspect(body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.UnaryExpr:
			if n.Op == token.AND {
				mark(n.X)
			}
		case *ast.FuncLit:
			ast.Inspect(n.Body, func(n ast.Node) bool {
				lhs, _ := assignment(n)
				for _, l := range lhs {
					mark(l)
				}
				return true
			})
		}
		return true
	})
	return vars
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
