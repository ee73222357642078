// Package pool is corpus code that borrows pooled connections.
//
// Every acquisition line ends in a label: LEAK when some path reaches a
// function exit holding the resource, OK when none does.
package pool
