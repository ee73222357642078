// Package poolguard is a PostgreSQL connection pool for Go that makes a
// leaked connection impossible to miss and impossible to spread.
package poolguard
