// Package helpers releases and keeps resources for other packages.
package helpers

import (
	"database/sql"

	"github.com/poolguard/poolguard"
)

func CloseRows(rows *sql.Rows) {
	if rows != nil {
		rows.Close()
	}
}

func Release(c *poolguard.Conn) { release(c) }

func release(c *poolguard.Conn) { c.Release() }

func Inspect(c *poolguard.Conn) error { return nil }

type Holder struct{ c *poolguard.Conn }

func Keep(c *poolguard.Conn) *Holder { return &Holder{c: c} }
