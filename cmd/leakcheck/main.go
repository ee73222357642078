// Command leakcheck reports pooled connections, rows, transactions,
// files and response bodies that can reach a function exit without
// being released.
//
// Run it on its own:
//
//	leakcheck ./...
//
// or through go vet:
//
//	go vet -vettool=$(which leakcheck) ./...
//
// Exit codes are go vet's: 0 when clean, 1 for errors (including a bad
// -resources file), and 3 (standalone) or 1 (go vet) for findings.
package main

import (
	"github.com/poolguard/poolguard/analysis/leakcheck"
	"golang.org/x/tools/go/analysis/singlechecker"
)

func main() { singlechecker.Main(leakcheck.Analyzer) }
