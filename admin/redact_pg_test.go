package admin_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"

	"github.com/poolguard/poolguard/admin"
	"github.com/poolguard/poolguard/pooltest"
)

// The server says what each statement's literals hold, under each
// standard_conforming_strings setting that accepts the statement; no word
// of them may show in the redacted text, since pg_stat_activity does not
// tell which setting a session had.
func TestRedactSQLBothSettings(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	conn, err := pgx.Connect(ctx, pooltest.Server(t).DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, tc := range []struct {
		valid string // the settings under which the statement is valid
		sql   string
		want  string
	}{
		{"off", `SELECT 'it\'s secret'`, "SELECT ?…"},
		{"on", `SELECT 'a\', 'hidden'`, "SELECT ?…"},
		{"on off", `SELECT 'a\' -- concealed'`, "SELECT ?…"},
		{"off", `SELECT 'x\'' || 'covert'`, "SELECT ?…"},
		{"off", `SELECT 'a''b\'' , 'private'`, "SELECT ?…"},
		{"off", `SELECT N'it\'s classified'`, "SELECT ?…"},
		{"on off", "SELECT E'a'\n'b\\'confidential'", "SELECT ? ?…"},
		{"on off", `SELECT 'C:\path\file', 'plain'`, "SELECT ?, ?"},
		{"on off", `SELECT 'double\\', 'backslash'`, "SELECT ?, ?"},
		{"on off", `SELECT E'escaped\'quote', 'after'`, "SELECT ?, ?"},
		{"on", `SELECT U&'d\0061t\+000061'`, "SELECT ?"},
		{"on off", `SELECT $q$it's a \ dollar$q$, 'quoted'`, "SELECT ?, ?"},
	} {
		got := admin.RedactSQL(tc.sql, 0)
		if got != tc.want {
			t.Errorf("RedactSQL(%q)\n got %q\nwant %q", tc.sql, got, tc.want)
		}
		for _, setting := range []string{"on", "off"} {
			if _, err := conn.Exec(ctx, "SET standard_conforming_strings = "+setting); err != nil {
				t.Fatal(err)
			}
			values, err := literals(ctx, conn, tc.sql)
			if err != nil {
				if strings.Contains(tc.valid, setting) {
					t.Errorf("%q with standard_conforming_strings %s: %v", tc.sql, setting, err)
				}
				continue
			}
			if !strings.Contains(tc.valid, setting) {
				t.Errorf("%q is valid with standard_conforming_strings %s too: %q", tc.sql, setting, values)
			}
			for _, v := range values {
				for _, w := range strings.FieldsFunc(v, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
					if len(w) >= 3 && strings.Contains(got, w) {
						t.Errorf("RedactSQL(%q) = %q shows %q, from the literal %q (standard_conforming_strings %s)", tc.sql, got, w, v, setting)
					}
				}
			}
		}
	}
}

// literals runs sql, a SELECT of literals, and returns the values.
func literals(ctx context.Context, conn *pgx.Conn, sql string) ([]string, error) {
	rows, err := conn.Query(ctx, sql, pgx.QueryExecModeExec)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, err
		}
		for _, v := range vals {
			out = append(out, fmt.Sprint(v))
		}
	}
	return out, rows.Err()
}
