package leakcheck

import (
	"go/ast"
	"go/types"
	"strings"

	"golang.org/x/tools/go/types/typeutil"
)

// exitKind classifies calls that do not return: "panic" for panics,
// "exit" for calls that end the process or goroutine, "" otherwise.
func (c *checker) exitKind(call *ast.CallExpr) string {
	switch fn := typeutil.Callee(c.pass.TypesInfo, call).(type) {
	case *types.Builtin:
		if fn.Name() == "panic" {
			return "panic"
		}
	case *types.Func:
		if fn.Pkg() == nil {
			return ""
		}
		name := fn.Name()
		switch fn.Pkg().Path() {
		case "log":
			if strings.HasPrefix(name, "Panic") {
				return "panic"
			}
			if strings.HasPrefix(name, "Fatal") {
				return "exit"
			}
		case "os", "syscall":
			if name == "Exit" {
				return "exit"
			}
		case "runtime":
			if name == "Goexit" {
				return "exit"
			}
		case "testing":
			switch name {
			case "Fatal", "Fatalf", "FailNow", "Skip", "Skipf", "SkipNow":
				return "exit"
			}
		}
	}
	return ""
}
