// Cases for tests written with testify's require.
package testifycases

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/poolguard/poolguard"
	"github.com/stretchr/testify/require"
)

var errWant = errors.New("want")

func TestExpectError(t *testing.T) {
	var db *sql.DB
	_, err := db.Query("select 'broken")
	require.Error(t, err)
}

func TestExpectErrorIs(t *testing.T) {
	var p *poolguard.Pool
	conn, err := p.Acquire(context.Background())
	require.ErrorIs(t, err, errWant)
	require.Nil(t, conn)
}

func TestExpectNil(t *testing.T) {
	var p *poolguard.Pool
	conn, _ := p.Acquire(context.Background())
	require.Nil(t, conn)
}

func TestNextFalse(t *testing.T) {
	var c *pgx.Conn
	rows, err := c.Query(context.Background(), "select 1")
	require.NoError(t, err)
	require.True(t, rows.Next())
	require.False(t, rows.Next())
}

func TestNoErrorLeaks(t *testing.T) {
	var c *pgx.Conn
	rows, err := c.Query(context.Background(), "select 1") // want `rows acquired here is not released at the end of the function`
	require.NoError(t, err)
	require.True(t, rows.Next())
}

func TestDiscardedSuccess(t *testing.T) {
	var db *sql.DB
	_, err := db.Query("insert into t values (1)") // want `rows acquired here is discarded`
	require.NoError(t, err)
}

func TestFatal(t *testing.T) {
	var p *poolguard.Pool
	conn, err := p.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if conn == nil {
		t.Fatal("nil")
	}
	conn.Release()
}
