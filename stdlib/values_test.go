package stdlib_test

import (
	"database/sql"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	pgxstdlib "github.com/jackc/pgx/v5/stdlib"

	"github.com/poolguard/poolguard"
)

// pgxDB opens pgx's own database/sql driver on the pool's server and
// schema, to compare with.
func pgxDB(t *testing.T, pool *poolguard.Pool) *sql.DB {
	t.Helper()
	db := pgxstdlib.OpenDB(*pool.Config().ConnConfig)
	t.Cleanup(func() { db.Close() })
	return db
}

// The values database/sql receives are those pgx's own driver gives for
// the same query, of the types listed, in binary and in text (the simple
// protocol).
func TestValuesAsPgx(t *testing.T) {
	t.Parallel()
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			pool, db, _ := newDB(t, setup{configure: func(c *poolguard.Config) { c.ConnConfig.DefaultQueryExecMode = mode }})
			valuesAsPgx(t, db, pgxDB(t, pool))
		})
	}
}

func valuesAsPgx(t *testing.T, db, ref *sql.DB) {
	ts := time.Date(2024, 2, 29, 12, 34, 56, 789000000, time.UTC)
	for _, tc := range []struct {
		name string
		expr string
		want any
	}{
		{"int2", "1::int2", int64(1)},
		{"int4", "-2::int4", int64(-2)},
		{"int8", "9007199254740993::int8", int64(9007199254740993)},
		{"float4", "1.5::float4", 1.5},
		{"float8", "2.25::float8", 2.25},
		{"bool", "true", true},
		{"bytea", `'\x0102ff'::bytea`, []byte{1, 2, 0xff}},
		{"text", "'héllo'::text", "héllo"},
		{"varchar", "'v'::varchar(5)", "v"},
		{"char", "'c'::char(3)", "c  "},
		{"numeric", "1.50::numeric(5,2)", "1.50"},
		{"numeric NaN", "'NaN'::numeric", "NaN"},
		{"uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
		{"json", `'{"a": 1}'::json`, []byte(`{"a": 1}`)},
		{"jsonb", `'{"a": 1}'::jsonb`, []byte(`{"a": 1}`)},
		{"xml", "'<a/>'::xml", []byte("<a/>")},
		{"date", "'2024-02-29'::date", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"date infinity", "'infinity'::date", "infinity"},
		{"timestamp", "'2024-02-29 12:34:56.789'::timestamp", ts},
		{"timestamp -infinity", "'-infinity'::timestamp", "-infinity"},
		{"timestamptz", "'2024-02-29 12:34:56.789+00'::timestamptz", ts},
		{"time", "'12:34:56'::time", "12:34:56"},
		{"interval", "'1 day 02:00:00'::interval", "1 day 02:00:00"},
		{"int array", "'{1,2,3}'::int[]", "{1,2,3}"},
		{"text array", `'{"a b",c,NULL}'::text[]`, `{"a b",c,NULL}`},
		{"oid", "12::oid", int64(12)},
		{"inet", "'10.0.0.1/8'::inet", "10.0.0.1/8"},
		{"range", "int4range(1, 5)", "[1,5)"},
		{"money", "12.34::money", "$12.34"},
		{"null", "NULL::int", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := "SELECT " + tc.expr
			var got, pgxGot any
			if err := db.QueryRowContext(testCtx(t), q).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if err := ref.QueryRowContext(testCtx(t), q).Scan(&pgxGot); err != nil {
				t.Fatal(err)
			}
			if !sameValue(got, tc.want) {
				t.Errorf("%s = %#v (%T), want %#v (%T)", q, got, got, tc.want, tc.want)
			}
			if !sameValue(got, pgxGot) || reflect.TypeOf(got) != reflect.TypeOf(pgxGot) {
				t.Errorf("%s = %#v (%T), pgx's driver gives %#v (%T)", q, got, got, pgxGot, pgxGot)
			}
		})
	}
}

// sameValue compares values, times by instant and zone offset.
func sameValue(a, b any) bool {
	ta, ok := a.(time.Time)
	if tb, okb := b.(time.Time); ok && okb {
		_, oa := ta.Zone()
		_, ob := tb.Zone()
		return ta.Equal(tb) && oa == ob
	}
	return reflect.DeepEqual(a, b)
}

// Arguments are encoded by pgx: database/sql's types, driver.Valuer and
// pgx's own (slices as arrays).
func TestArguments(t *testing.T) {
	t.Parallel()
	_, db, _ := newDB(t, setup{})
	ts := time.Date(2024, 2, 29, 12, 34, 56, 0, time.UTC)
	for _, tc := range []struct {
		name string
		expr string
		arg  any
		want any
	}{
		{"int64", "$1::int8", int64(7), int64(7)},
		{"float64", "$1::float8", 0.5, 0.5},
		{"bool", "$1::bool", true, true},
		{"string", "$1::text", "s", "s"},
		{"bytes", "$1::bytea", []byte{0, 1}, []byte{0, 1}},
		{"time", "$1::timestamptz", ts, ts},
		{"nil", "$1::int", nil, nil},
		{"valuer", "$1::text", sql.NullString{String: "n", Valid: true}, "n"},
		{"null valuer", "$1::text", sql.NullString{}, nil},
		{"slice as array", "array_length($1::int8[], 1)::int8", []int64{1, 2, 3}, int64(3)},
		{"numeric text", "$1::numeric + 1", "1.25", "2.25"},
	} {
		var got any
		if err := db.QueryRowContext(testCtx(t), "SELECT "+tc.expr, tc.arg).Scan(&got); err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !sameValue(got, tc.want) {
			t.Errorf("%s: SELECT %s with %#v = %#v, want %#v", tc.name, tc.expr, tc.arg, got, tc.want)
		}
	}
}

// Column types are those pgx's own driver reports, but for two it gets
// wrong: the length of a varchar declared without one, and the precision of
// a numeric declared without one.
func TestColumnTypes(t *testing.T) {
	t.Parallel()
	pool, db, _ := newDB(t, setup{})
	ref := pgxDB(t, pool)
	const q = `SELECT 1::int4 AS i4, 2::int8 AS i8, 1.5::float4 AS f4, 'x'::varchar(10) AS v, 'y'::char(3) AS c,
		1.5::numeric(6,2) AS n, 'z'::text AS t, '\x00'::bytea AS b, now() AS ts, current_date AS d, true AS bo,
		'{}'::jsonb AS j, '00000000-0000-0000-0000-000000000000'::uuid AS u, B'101'::varbit(8) AS vb`
	ours, theirs := columnTypes(t, db, q), columnTypes(t, ref, q)
	for i := range ours {
		if !reflect.DeepEqual(ours[i], theirs[i]) {
			t.Errorf("column %s: %+v, pgx's driver: %+v", ours[i].name, ours[i], theirs[i])
		}
	}

	got := columnTypes(t, db, `SELECT 'v'::varchar AS v, 2::numeric AS n`)
	if v := got[0]; !v.hasLength || v.length != math.MaxInt64 {
		t.Errorf("varchar without a length: length %d, %v; want unbounded", v.length, v.hasLength)
	}
	if n := got[1]; n.hasDecimal {
		t.Errorf("numeric without a precision: precision %d, scale %d; want none", n.precision, n.scale)
	}
	if got[0].dbType != "VARCHAR" || got[1].dbType != "NUMERIC" {
		t.Errorf("type names %q, %q; want VARCHAR, NUMERIC", got[0].dbType, got[1].dbType)
	}
}

type columnType struct {
	name, dbType                  string
	scanType                      reflect.Type
	length                        int64
	hasLength                     bool
	precision, scale              int64
	hasDecimal, nullable, hasNull bool
}

func columnTypes(t *testing.T, db *sql.DB, q string) []columnType {
	t.Helper()
	rows, err := db.QueryContext(testCtx(t), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cts, err := rows.ColumnTypes()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]columnType, len(cts))
	for i, ct := range cts {
		c := columnType{name: ct.Name(), dbType: ct.DatabaseTypeName(), scanType: ct.ScanType()}
		c.length, c.hasLength = ct.Length()
		c.precision, c.scale, c.hasDecimal = ct.DecimalSize()
		c.nullable, c.hasNull = ct.Nullable()
		out[i] = c
	}
	return out
}
