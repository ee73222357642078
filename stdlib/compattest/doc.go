// Package compattest runs libraries built on database/sql (sqlx, and the
// goose migration tool) on a poolguard pool through package stdlib, against
// a real server. It is a module of its own so that the library's module
// does not require them.
package compattest
