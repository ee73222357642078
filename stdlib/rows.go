package stdlib

import (
	"database/sql/driver"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// resultFormats asks for binary results only for the types whose Go value
// database/sql receives is not their text (numbers, booleans, bytea, dates
// and times, object identifiers); every other type arrives as text and is
// handed over as a string, as pgx's own driver does, so that a database/sql
// user of either driver reads the same values.
var resultFormats = pgx.QueryResultFormatsByOID{
	pgtype.BoolOID:        pgx.BinaryFormatCode,
	pgtype.ByteaOID:       pgx.BinaryFormatCode,
	pgtype.CIDOID:         pgx.BinaryFormatCode,
	pgtype.DateOID:        pgx.BinaryFormatCode,
	pgtype.Float4OID:      pgx.BinaryFormatCode,
	pgtype.Float8OID:      pgx.BinaryFormatCode,
	pgtype.Int2OID:        pgx.BinaryFormatCode,
	pgtype.Int4OID:        pgx.BinaryFormatCode,
	pgtype.Int8OID:        pgx.BinaryFormatCode,
	pgtype.OIDOID:         pgx.BinaryFormatCode,
	pgtype.TimestampOID:   pgx.BinaryFormatCode,
	pgtype.TimestamptzOID: pgx.BinaryFormatCode,
	pgtype.XIDOID:         pgx.BinaryFormatCode,
}

// rows is a result read through the lease: the lease stays busy until the
// pgx rows are closed or read to the end.
type rows struct {
	rows      pgx.Rows
	preloaded bool // QueryContext read the first row already
	more      bool // what that read returned
	names     []string
	decode    []decodeFunc
}

func (r *rows) Columns() []string {
	if r.names == nil {
		fds := r.rows.FieldDescriptions()
		r.names = make([]string, len(fds))
		for i, fd := range fds {
			r.names[i] = fd.Name
		}
	}
	return r.names
}

func (r *rows) Close() error {
	r.rows.Close()
	return connErr(r.rows.Err())
}

func (r *rows) Next(dest []driver.Value) error {
	more := r.more
	if r.preloaded {
		r.preloaded = false
	} else {
		more = r.rows.Next()
	}
	if !more {
		if err := r.rows.Err(); err != nil {
			return connErr(err)
		}
		return io.EOF
	}
	if r.decode == nil {
		r.decode = decoders(r.typeMap(), r.rows.FieldDescriptions())
	}
	for i, raw := range r.rows.RawValues() {
		if raw == nil {
			dest[i] = nil
			continue
		}
		v, err := r.decode[i](raw)
		if err != nil {
			return fmt.Errorf("poolguard/stdlib: column %d (%s): %w", i, r.rows.FieldDescriptions()[i].Name, err)
		}
		dest[i] = v
	}
	return nil
}

// typeMap is the connection's type map, which knows the types registered
// on it (AfterConnect) as well as the built-in ones.
func (r *rows) typeMap() *pgtype.Map {
	if c := r.rows.Conn(); c != nil {
		return c.TypeMap()
	}
	return pgtype.NewMap()
}

// ColumnTypeDatabaseTypeName returns the column's type name in upper case,
// or its OID in decimal for a type the connection does not know.
func (r *rows) ColumnTypeDatabaseTypeName(i int) string {
	oid := r.rows.FieldDescriptions()[i].DataTypeOID
	if t, ok := r.typeMap().TypeForOID(oid); ok {
		return strings.ToUpper(t.Name)
	}
	return strconv.FormatUint(uint64(oid), 10)
}

// ColumnTypeScanType returns the type pgx's own driver names, so that code
// that builds scan targets from it behaves the same on both.
func (r *rows) ColumnTypeScanType(i int) reflect.Type {
	switch r.rows.FieldDescriptions()[i].DataTypeOID {
	case pgtype.Float8OID, pgtype.NumericOID:
		return reflect.TypeFor[float64]()
	case pgtype.Float4OID:
		return reflect.TypeFor[float32]()
	case pgtype.Int8OID:
		return reflect.TypeFor[int64]()
	case pgtype.Int4OID:
		return reflect.TypeFor[int32]()
	case pgtype.Int2OID:
		return reflect.TypeFor[int16]()
	case pgtype.BoolOID:
		return reflect.TypeFor[bool]()
	case pgtype.DateOID, pgtype.TimestampOID, pgtype.TimestamptzOID:
		return reflect.TypeFor[time.Time]()
	case pgtype.ByteaOID:
		return reflect.TypeFor[[]byte]()
	}
	return reflect.TypeFor[string]()
}

// typmodHeader is the part of a type modifier that is not the length, for
// character and numeric types.
const typmodHeader = 4

// ColumnTypeLength returns the declared length of a variable-length column:
// math.MaxInt64 for text, bytea and the unbounded varchar and bit varying.
func (r *rows) ColumnTypeLength(i int) (int64, bool) {
	fd := r.rows.FieldDescriptions()[i]
	switch fd.DataTypeOID {
	case pgtype.TextOID, pgtype.ByteaOID:
		return math.MaxInt64, true
	case pgtype.VarcharOID, pgtype.BPCharOID:
		if fd.TypeModifier < typmodHeader {
			return math.MaxInt64, true // no length given
		}
		return int64(fd.TypeModifier - typmodHeader), true
	case pgtype.VarbitOID:
		if fd.TypeModifier < 0 {
			return math.MaxInt64, true
		}
		return int64(fd.TypeModifier), true
	}
	return 0, false
}

// ColumnTypePrecisionScale returns a numeric column's declared precision
// and scale. A numeric with none declared has neither: ok is false.
func (r *rows) ColumnTypePrecisionScale(i int) (precision, scale int64, ok bool) {
	fd := r.rows.FieldDescriptions()[i]
	if fd.DataTypeOID != pgtype.NumericOID || fd.TypeModifier < typmodHeader {
		return 0, 0, false
	}
	mod := fd.TypeModifier - typmodHeader
	return int64(mod >> 16 & 0xffff), int64(mod & 0xffff), true
}

// decodeFunc turns a column's raw value, valid only until the next row,
// into the driver.Value database/sql receives.
type decodeFunc func(raw []byte) (driver.Value, error)

func decoders(m *pgtype.Map, fds []pgconn.FieldDescription) []decodeFunc {
	out := make([]decodeFunc, len(fds))
	for i, fd := range fds {
		out[i] = decoder(m, fd)
	}
	return out
}

// decoder returns the decoding of one column: driver.Value's own types
// where one fits, the text of the value otherwise.
func decoder(m *pgtype.Map, fd pgconn.FieldDescription) decodeFunc {
	switch fd.DataTypeOID {
	case pgtype.BoolOID:
		return scanAs(m, fd, func(v bool) (driver.Value, error) { return v, nil })
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID:
		return scanAs(m, fd, func(v int64) (driver.Value, error) { return v, nil })
	case pgtype.Float4OID:
		// Widened from the float32 the server sent, not parsed from its text.
		return scanAs(m, fd, func(v float32) (driver.Value, error) { return float64(v), nil })
	case pgtype.Float8OID:
		return scanAs(m, fd, func(v float64) (driver.Value, error) { return v, nil })
	case pgtype.OIDOID, pgtype.XIDOID, pgtype.CIDOID:
		return scanAs(m, fd, func(v uint32) (driver.Value, error) { return int64(v), nil })
	case pgtype.DateOID:
		return scanAs(m, fd, pgtype.Date.Value)
	case pgtype.TimestampOID:
		return scanAs(m, fd, pgtype.Timestamp.Value)
	case pgtype.TimestamptzOID:
		return scanAs(m, fd, pgtype.Timestamptz.Value)
	case pgtype.ByteaOID, pgtype.JSONOID, pgtype.JSONBOID, pgtype.XMLOID:
		// A fresh slice per value: the raw bytes are reused by the next row.
		return scanAs(m, fd, func(v []byte) (driver.Value, error) { return v, nil })
	}
	return scanAs(m, fd, func(v string) (driver.Value, error) { return v, nil })
}

// scanAs decodes into a T with pgx's scan plan for the column, planned
// once, then converts the T.
func scanAs[T any](m *pgtype.Map, fd pgconn.FieldDescription, conv func(T) (driver.Value, error)) decodeFunc {
	plan := m.PlanScan(fd.DataTypeOID, fd.Format, new(T))
	return func(raw []byte) (driver.Value, error) {
		var v T
		if err := plan.Scan(raw, &v); err != nil {
			return nil, err
		}
		return conv(v)
	}
}
