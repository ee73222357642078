package grafana

// promqlWords are PromQL's keywords and aggregation operators: words that
// are never metric names where they appear.
var promqlWords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"bool": true, "and": true, "or": true, "unless": true, "offset": true, "inf": true, "nan": true, "atan2": true,
	"sum": true, "min": true, "max": true, "avg": true, "count": true, "stddev": true, "stdvar": true,
	"topk": true, "bottomk": true, "quantile": true, "count_values": true, "group": true,
}

// labelLists are the keywords followed by a parenthesised list of label
// names.
var labelLists = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

// metricNames returns the metric names a PromQL expression selects, in
// order: the identifiers that are not functions, keywords, label names or
// durations. It is a scanner, not a parser, enough for checking the
// dashboard's queries.
func metricNames(expr string) []string {
	var names []string
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = skipString(expr, i)
		case c == '{':
			i = skipTo(expr, i, '}') // label matchers
		case c == '[':
			i = skipTo(expr, i, ']') // ranges and subqueries
		case c == '$' || c >= '0' && c <= '9' || c == '.':
			i = skipWord(expr, i+1) // Grafana variables, numbers, durations
		case isIdentStart(c):
			j := skipWord(expr, i)
			word := expr[i:j]
			k := j
			for k < len(expr) && expr[k] == ' ' {
				k++
			}
			switch {
			case labelLists[word] && k < len(expr) && expr[k] == '(':
				j = skipTo(expr, k, ')')
			case promqlWords[word], k < len(expr) && expr[k] == '(':
				// a keyword, or a function whose arguments come next
			default:
				names = append(names, word)
			}
			i = j
		default:
			i++
		}
	}
	return names
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// skipWord returns the index after the identifier-like run at i.
func skipWord(s string, i int) int {
	for i < len(s) && (isIdentStart(s[i]) || s[i] >= '0' && s[i] <= '9' || s[i] == '.' || s[i] == '{' && i > 0 && s[i-1] == '$') {
		i++
	}
	return i
}

// skipString returns the index after the quoted string at i.
func skipString(s string, i int) int {
	q := s[i]
	for i++; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if q != '`' {
				i++
			}
		case q:
			return i + 1
		}
	}
	return i
}

// skipTo returns the index after the first close at or after i that is
// not inside a string.
func skipTo(s string, i int, close byte) int {
	for i < len(s) {
		switch s[i] {
		case '"', '\'', '`':
			i = skipString(s, i)
		case close:
			return i + 1
		default:
			i++
		}
	}
	return i
}
