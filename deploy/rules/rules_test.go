package rules

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

const runbookURL = "https://github.com/poolguard/poolguard/blob/main/docs/runbook.md#"

// TestRunbook checks that every alert points to its own section of
// docs/runbook.md, and that the section exists.
func TestRunbook(t *testing.T) {
	runbook, err := os.ReadFile("../../docs/runbook.md")
	if err != nil {
		t.Fatal(err)
	}
	urls := regexp.MustCompile(`runbook_url: '([^']*)'`).FindAllStringSubmatch(Rules, -1)
	names := alertNames(t)
	if len(urls) != len(names) {
		t.Fatalf("%d alerts but %d runbook_url annotations", len(names), len(urls))
	}
	for i, name := range names {
		if want := runbookURL + strings.ToLower(name); urls[i][1] != want {
			t.Errorf("alert %s: runbook_url %s, want %s", name, urls[i][1], want)
		}
		if !regexp.MustCompile(`(?m)^#+ ` + name + `$`).Match(runbook) {
			t.Errorf("docs/runbook.md has no section headed %q", name)
		}
	}
}

// TestEveryAlertTested checks that tests/alerts.test.yml has a unit test
// of every alert.
func TestEveryAlertTested(t *testing.T) {
	tests, err := os.ReadFile("tests/alerts.test.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range alertNames(t) {
		if !strings.Contains(string(tests), "alertname: "+name+"\n") {
			t.Errorf("tests/alerts.test.yml does not test alert %s", name)
		}
	}
}
