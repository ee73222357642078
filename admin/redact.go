package admin

import (
	"strings"
	"unicode/utf8"
)

// RedactSQL returns sql for display: string, numeric, bit-string and
// dollar-quoted literals are replaced with ?, comments are dropped, runs of
// white space become one space, and the result is cut to at most max runes
// (no limit if max <= 0), ending in "…" when cut.
//
// pgx sends arguments separately from the statement text ($1, $2, ...), so
// they are not in the text PostgreSQL shows; but a statement built by hand,
// or sent with the simple protocol, has its values inline, and
// pg_stat_activity cuts long statements in the middle of a literal. An
// unterminated literal is therefore redacted to the end of the text.
// Quoted identifiers and parameter placeholders are kept.
//
// Where a '...' literal ends depends on the session's
// standard_conforming_strings, which pg_stat_activity does not show: when
// it is off, a backslash escapes the next character, so 'it\'s' is one
// literal; when on, 'it\' is. RedactSQL scans such a literal both ways, and
// when the two disagree it cannot tell literal from code: it redacts
// everything from the literal on and ends the result with "…".
func RedactSQL(sql string, max int) string {
	var b strings.Builder
	b.Grow(len(sql))
	space := false // a space is due before the next token
	emit := func(s string) {
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteString(s)
	}
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case isSpace(c):
			space = true
			i++
		case c == '-' && strings.HasPrefix(sql[i:], "--"):
			i = lineEnd(sql, i)
			space = true
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			i = commentEnd(sql, i)
			space = true
		case c == '\'':
			emit("?")
			j, ok := ambiguousQuoteEnd(sql, i)
			if !ok {
				b.WriteString("…")
				return truncate(b.String(), max)
			}
			i = j
		case c == '"':
			j := identEnd(sql, i)
			emit(sql[i:j])
			i = j
		case c == '$' && i+1 < len(sql) && isDigit(sql[i+1]):
			j := i + 1
			for j < len(sql) && isDigit(sql[j]) {
				j++
			}
			emit(sql[i:j])
			i = j
		case c == '$':
			if j, ok := dollarEnd(sql, i); ok {
				emit("?")
				i = j
			} else {
				emit("$")
				i++
			}
		case isDigit(c) || c == '.' && i+1 < len(sql) && isDigit(sql[i+1]):
			emit("?")
			i = numberEnd(sql, i)
		case isIdentStart(c):
			j := i + 1
			for j < len(sql) && isIdentPart(sql[j]) {
				j++
			}
			word := sql[i:j]
			switch {
			case j < len(sql) && sql[j] == '\'' && (word == "e" || word == "E"):
				// E'...': backslashes escape whatever the setting.
				emit("?")
				i = quoteEnd(sql, j, true)
			case j < len(sql) && sql[j] == '\'' && len(word) == 1 && strings.ContainsAny(word, "bBxXnN"),
				(word == "u" || word == "U") && strings.HasPrefix(sql[j:], "&'"):
				// B'...', X'...', N'...', U&'...': one literal, read as
				// '...' is.
				emit("?")
				k, ok := ambiguousQuoteEnd(sql, strings.IndexByte(sql[j:], '\'')+j)
				if !ok {
					b.WriteString("…")
					return truncate(b.String(), max)
				}
				i = k
			default:
				emit(word)
				i = j
			}
		default:
			emit(sql[i : i+1])
			i++
		}
	}
	return truncate(b.String(), max)
}

// truncate cuts s to at most max runes, ending in "…" when cut.
func truncate(s string, max int) string {
	if max <= 0 || utf8.RuneCountInString(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isIdentStart reports whether c starts an identifier or keyword; bytes of
// multi-byte UTF-8 sequences count as letters, as in PostgreSQL's lexer.
func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80
}

func isIdentPart(c byte) bool { return isIdentStart(c) || isDigit(c) || c == '$' }

func lineEnd(s string, i int) int {
	if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
		return i + j + 1
	}
	return len(s)
}

// commentEnd returns the end of the block comment at i; they nest.
func commentEnd(s string, i int) int {
	depth := 0
	for i < len(s) {
		switch {
		case strings.HasPrefix(s[i:], "/*"):
			depth++
			i += 2
		case strings.HasPrefix(s[i:], "*/"):
			depth--
			i += 2
			if depth == 0 {
				return i
			}
		default:
			i++
		}
	}
	return len(s)
}

// quoteEnd returns the end of the single-quoted literal starting at i. A
// doubled quote stands for a quote inside it; with backslashes set
// (E'...'), so does a backslash and a quote.
func quoteEnd(s string, i int, backslashes bool) int {
	for i++; i < len(s); i++ {
		switch {
		case backslashes && s[i] == '\\':
			i++
		case s[i] == '\'':
			if i+1 < len(s) && s[i+1] == '\'' {
				i++
				continue
			}
			return i + 1
		}
	}
	return len(s)
}

// ambiguousQuoteEnd returns the end of the '...' literal starting at i,
// and whether it ends there whether or not backslashes escape (that is,
// whether standard_conforming_strings is on or off).
func ambiguousQuoteEnd(s string, i int) (int, bool) {
	on, off := quoteEnd(s, i, false), quoteEnd(s, i, true)
	return on, on == off
}

// identEnd returns the end of the quoted identifier starting at i.
func identEnd(s string, i int) int {
	for i++; i < len(s); i++ {
		if s[i] == '"' {
			if i+1 < len(s) && s[i+1] == '"' {
				i++
				continue
			}
			return i + 1
		}
	}
	return len(s)
}

// dollarEnd returns the end of the dollar-quoted literal ($$...$$ or
// $tag$...$tag$) starting at i, and whether there is one.
func dollarEnd(s string, i int) (int, bool) {
	j := i + 1
	if j < len(s) && isIdentStart(s[j]) {
		for j++; j < len(s) && isIdentPart(s[j]) && s[j] != '$'; j++ {
		}
	}
	if j >= len(s) || s[j] != '$' {
		return 0, false
	}
	delim := s[i : j+1]
	if k := strings.Index(s[j+1:], delim); k >= 0 {
		return j + 1 + k + len(delim), true
	}
	return len(s), true
}

// numberEnd returns the end of the numeric literal starting at i: decimal,
// with a fraction or exponent, hexadecimal, octal or binary, with
// underscores between digits.
func numberEnd(s string, i int) int {
	for i < len(s) {
		c := s[i]
		switch {
		case isDigit(c) || c == '.' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			i++
		case (c == '+' || c == '-') && (s[i-1] == 'e' || s[i-1] == 'E') && !isHex(s, i):
			i++
		default:
			return i
		}
	}
	return i
}

// isHex reports whether the number ending before i is hexadecimal, where
// e is a digit, not an exponent.
func isHex(s string, i int) bool {
	j := i
	for j > 0 && (isDigit(s[j-1]) || isIdentStart(s[j-1]) || s[j-1] == '_' || s[j-1] == '.') {
		j--
	}
	return strings.HasPrefix(s[j:], "0x") || strings.HasPrefix(s[j:], "0X")
}
