// Package files is corpus code that opens files. Labels as in package
// pool.
package files
