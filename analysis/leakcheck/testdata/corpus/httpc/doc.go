// Package httpc is corpus code that makes HTTP requests. Labels as in
// package pool.
package httpc
