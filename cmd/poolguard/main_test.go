package main

import (
	"bytes"
	"errors"
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, ""},
		{[]string{"rewind"}, `unknown subcommand "rewind"`},
		{[]string{"replay", "-min-success", "101"}, "between 0 and 100"},
		{[]string{"replay", "-duration", "soon"}, `invalid value "soon"`},
		{[]string{"replay", "extra"}, "no arguments"},
	} {
		var out, errOut bytes.Buffer
		err := run(t.Context(), tc.args, &out, &errOut)
		if err == nil || !strings.Contains(err.Error()+errOut.String(), tc.want) {
			t.Errorf("run(%q) = %v (stderr %q), want an error mentioning %q", tc.args, err, errOut.String(), tc.want)
		}
	}
	if err := run(t.Context(), []string{"-h"}, new(bytes.Buffer), new(bytes.Buffer)); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("run(-h) = %v, want flag.ErrHelp", err)
	}
}

// TestReplayPoolguard runs the command end to end on poolguard alone, the
// pool whose run the check is about, briefly.
func TestReplayPoolguard(t *testing.T) {
	report := filepath.Join(t.TempDir(), "report.html")
	var out bytes.Buffer
	err := run(t.Context(), []string{"replay", "-duration", "4s", "-pool-size", "6", "-rate", "20", "-pools", "poolguard",
		"-min-success", "0", "-report", report}, &out, new(bytes.Buffer))
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, out.String())
	}
	for _, want := range []string{"API success", "users/job.go:", "report: " + report} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
