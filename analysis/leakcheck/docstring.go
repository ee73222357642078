package leakcheck

import "strings"

// docText extracts the analyzer's help text from the package comment:
// everything after the "# Analyzer leakcheck" heading.
func docText(src string) string {
	const heading = "# Analyzer leakcheck"
	var b strings.Builder
	in := false
	for line := range strings.SplitSeq(src, "\n") {
		if line == "package leakcheck" {
			break
		}
		text := strings.TrimPrefix(strings.TrimPrefix(line, "//"), " ")
		if strings.HasPrefix(text, "\t") {
			text = "    " + text[1:]
		}
		if text == heading {
			in = true
			continue
		}
		if in {
			b.WriteString(text)
			b.WriteByte('\n')
		}
	}
	return strings.TrimSpace(b.String())
}
