package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/poolguard/poolguard/pooltest"
)

// TestSizeRules checks the sizing rules on plans whose arithmetic is done
// here by hand.
func TestSizeRules(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		maxConns map[string]int
		warn     string
	}{
		{
			// 100 - 3 - 5 = 92. cron keeps 4 on 1+1 replicas (8); 84 left, 3:1.
			// userapi: 63 / (6+2) = 7; reports: 21 / (2+1) = 7.
			name: "weights and a fixed service",
			args: []string{"--max-connections", "100", "--service", "userapi:6:3", "--service", "reports:2:1", "--service", "cron:1:=4"},
			code: exitOK, maxConns: map[string]int{"userapi": 7, "reports": 7, "cron": 4},
		},
		{
			// The postmortem's fix on a fleet of 4: 4 x 200 on a server of 300.
			name: "the pool raised from 100 to 200",
			args: []string{"--max-connections", "300", "--service", "userapi:4:=200"},
			code: exitFailed, maxConns: map[string]int{"userapi": 200}, warn: "the replicas may open 800 connections; the server gives 292",
		},
		{
			// 4 x 20 = 80 fits in 92, but 5 x 20 during a rollout does not.
			name: "fits until the rollout",
			args: []string{"--max-connections", "100", "--service", "userapi:4:=20"},
			code: exitTrouble, warn: "during a rollout the replicas may open 100",
		},
		{
			// (4+1) x 17 = 85 of 92: one more replica needs 17 more.
			name: "no room for one more replica",
			args: []string{"--max-connections", "100", "--service", "userapi:4:=17"},
			code: exitTrouble, warn: "one more replica of userapi",
		},
		{
			name: "a replica would get no connection",
			args: []string{"--max-connections", "20", "--service", "userapi:40"},
			code: exitFailed, warn: "cannot give each of its 40 replicas",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := cli(t, nil, append([]string{"size", "--json"}, tc.args...)...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", r.code, tc.code, r)
			}
			var plan struct {
				Services []struct {
					Name     string
					MaxConns int
				}
				Warnings []string
			}
			if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil {
				t.Fatalf("JSON: %v\n%s", err, r)
			}
			for _, s := range plan.Services {
				if want, ok := tc.maxConns[s.Name]; ok && s.MaxConns != want {
					t.Errorf("%s: MaxConns %d, want %d", s.Name, s.MaxConns, want)
				}
			}
			if tc.warn != "" && !strings.Contains(strings.Join(plan.Warnings, "\n"), tc.warn) {
				t.Errorf("warnings %q, want one saying %q", plan.Warnings, tc.warn)
			}
			if tc.warn == "" && len(plan.Warnings) > 0 {
				t.Errorf("unexpected warnings %q", plan.Warnings)
			}
		})
	}
}

// TestSizeFromServer reads the limits from a real server and gives the
// partitions their shares.
func TestSizeFromServer(t *testing.T) {
	dsn := pooltest.Server(t).DSN()
	r := cli(t, nil, "size", "--dsn", dsn, "--service", "userapi:3", "--partition", "userapi/api:80", "--partition", "userapi/sync:0:10")
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s", r.code, r)
	}
	// pooltest's server: max_connections 300, 3 reserved for superusers;
	// 292 available over 3 + 1 replicas is 73 each.
	for _, want := range []string{"max_connections 300 - reserved 3 - headroom 5 = 292", "73", "Guaranteed 58, Max 73", "Guaranteed 0, Max 7"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
}
