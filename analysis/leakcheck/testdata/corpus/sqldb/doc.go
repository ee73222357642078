// Package sqldb is corpus code on database/sql. Labels as in package pool.
package sqldb
