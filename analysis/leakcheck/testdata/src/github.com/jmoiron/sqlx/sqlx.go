// Package sqlx is a minimal stand-in for github.com/jmoiron/sqlx: its
// wrappers embed the database/sql types they extend.
package sqlx

import (
	"context"
	"database/sql"
)

type DB struct {
	*sql.DB
}

type Rows struct {
	*sql.Rows
	unsafe bool
}

func (r *Rows) StructScan(dest any) error { return nil }

type Tx struct {
	*sql.Tx
}

func (db *DB) Queryx(query string, args ...any) (*Rows, error) {
	r, err := db.DB.Query(query, args...)
	if err != nil {
		return nil, err
	}
	return &Rows{Rows: r}, err
}

func (db *DB) Beginx() (*Tx, error) {
	tx, err := db.DB.Begin()
	if err != nil {
		return nil, err
	}
	return &Tx{Tx: tx}, nil
}

func (db *DB) MustBegin() *Tx {
	tx, err := db.Beginx()
	if err != nil {
		panic(err)
	}
	return tx
}

func (tx *Tx) Queryx(query string, args ...any) (*Rows, error) {
	r, err := tx.Tx.Query(query, args...)
	if err != nil {
		return nil, err
	}
	return &Rows{Rows: r}, err
}

// Queryer is implemented by DB and Tx.
type Queryer interface {
	Queryx(query string, args ...any) (*Rows, error)
}

// Select runs the query and closes its rows.
func Select(q Queryer, dest any, query string, args ...any) error {
	rows, err := q.Queryx(query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return nil
}

// Tx lends the transaction the context carries: it does not acquire.
func TxFrom(ctx context.Context) (*Tx, error) {
	tx, _ := ctx.Value("tx").(*Tx)
	return tx, nil
}
