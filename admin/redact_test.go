package admin

import (
	"strings"
	"testing"
)

func TestRedactSQL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"SELECT * FROM users WHERE id = $1", "SELECT * FROM users WHERE id = $1"},
		{"SELECT * FROM users WHERE email = 'alice@example.com'", "SELECT * FROM users WHERE email = ?"},
		{"SELECT 'it''s', 'x'", "SELECT ?, ?"},
		{"SELECT E'a\\'b', 'c'", "SELECT ?, ?"},
		{"SELECT e'\\\\', 1", "SELECT ?, ?"},
		{"SELECT B'1010', X'FF', N'nat', U&'d\\0061t'", "SELECT ?, ?, ?, ?"},
		{"SELECT $$secret$$, $tag$it's $$ here$tag$", "SELECT ?, ?"},
		{"SELECT 42, -7, 3.14, .5, 1e10, 2.5E-3, 0x1F, 0o17, 0b101, 1_000_000", "SELECT ?, -?, ?, ?, ?, ?, ?, ?, ?, ?"},
		{"SELECT t1.c2 FROM t1 JOIN \"Table 9\" ON a$1 = b", "SELECT t1.c2 FROM t1 JOIN \"Table 9\" ON a$1 = b"},
		{"SELECT \"we\"\"ird 5\" FROM x", "SELECT \"we\"\"ird 5\" FROM x"},
		{"SELECT 1 -- card 4111111111111111\nFROM x", "SELECT ? FROM x"},
		{"SELECT /* token=abc /* nested */ still */ 2", "SELECT ?"},
		{"SELECT  a,\n\t b\r\n FROM   x  ", "SELECT a, b FROM x"},
		{"UPDATE users SET password = 'hunter2", "UPDATE users SET password = ?"}, // cut by track_activity_query_size
		{"SELECT $tag$never closed", "SELECT ?"},
		{"SELECT interval '1 day', ARRAY[1,2]", "SELECT interval ?, ARRAY[?,?]"},
		{"SELECT naïve, 'ünïcode'", "SELECT naïve, ?"},
		{"SELECT $", "SELECT $"},
		{"", ""},

		// A backslash in a '...' literal: where the literal ends depends
		// on standard_conforming_strings. When both readings agree, the
		// literal alone is redacted; when not, everything from it on.
		{`SELECT 'C:\dir\file', 2`, "SELECT ?, ?"},
		{`SELECT 'a\\', 'b'`, "SELECT ?, ?"},
		{`SELECT 'it\'s secret' FROM t`, "SELECT ?…"}, // off: one literal
		{`SELECT 'a\', 'secret' FROM t`, "SELECT ?…"}, // on: two literals
		{`SELECT 'a''b\'' , 'secret'`, "SELECT ?…"},   // on ends later than off
		{`SELECT 'a\' -- secret'`, "SELECT ?…"},       // on: a comment; off: a literal
		{`SELECT x FROM t WHERE a = 'b\' OR c = 1`, "SELECT x FROM t WHERE a = ?…"},
		{`SELECT N'it\'s secret', 1`, "SELECT ?…"},
		{`SELECT U&'d\0061t\+000061', 1`, "SELECT ?, ?"},
		{`SELECT U&'a\' || 'secret'`, "SELECT ?…"},
		{`SELECT B'10\', 'secret'`, "SELECT ?…"},
		{"SELECT E'a'\n'b\\'secret'", "SELECT ? ?…"}, // a continued E'...' keeps its escapes
		{`SELECT E'it\'s', 'b\\'`, "SELECT ?, ?"},
		{`SELECT $q$it's \ secret$q$, 'x'`, "SELECT ?, ?"},
		{`SELECT 'unterminated \' secret`, "SELECT ?…"},
	} {
		if got := RedactSQL(tc.in, 0); got != tc.want {
			t.Errorf("RedactSQL(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestRedactSQLTruncates(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"SELECT a FROM b", 15, "SELECT a FROM b"},
		{"SELECT a FROM b", 10, "SELECT a …"},
		{"SELECT ééé FROM b", 10, "SELECT éé…"},
		{"SELECT 'long secret value' FROM b", 9, "SELECT ?…"},
		{"SELECT a", 1, "…"},
	} {
		if got := RedactSQL(tc.in, tc.max); got != tc.want {
			t.Errorf("RedactSQL(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

// FuzzRedactSQL checks that redaction is stable and that a literal's
// content never survives, whatever follows it.
func FuzzRedactSQL(f *testing.F) {
	f.Add("FROM t WHERE a = 'x'")
	f.Add("$$ $a$ --")
	f.Add("E'\\' /* */ 1e+5")
	f.Add(`'a\' , 'b'`)
	f.Add("'\\'\n'x\\''")
	f.Fuzz(func(t *testing.T, s string) {
		r := RedactSQL(s, 0)
		if again := RedactSQL(r, 0); again != r {
			t.Fatalf("RedactSQL is not stable on %q: %q, then %q", s, r, again)
		}
		const secret = "Zq9Zq9"
		if strings.Contains(s, secret) {
			return
		}
		for _, lit := range []string{"'" + secret + "'", "$$" + secret + "$$", "E'" + secret + "'", "1" + secret,
			`'it\'s ` + secret + "'", `'a\', '` + secret + "'"} {
			in := "SELECT " + lit + " " + s
			if got := RedactSQL(in, 0); strings.Contains(got, secret) {
				t.Fatalf("RedactSQL(%q) kept the literal: %q", in, got)
			}
		}
	})
}
