// Package pgxq is corpus code that queries through pgx: rows, single
// rows, transactions and batches. Labels as in package pool.
package pgxq
