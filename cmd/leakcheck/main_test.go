package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// build compiles the command once per test run.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "leakcheck")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// run runs a command in the test module and returns its exit code and
// combined output.
func run(t *testing.T, name string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = filepath.Join("testdata", "mod")
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, string(out)
}

func TestCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	bin := build(t)
	// A file beside the module, named relatively: go vet runs the tool in
	// each package's directory, so the command makes the path absolute.
	if err := os.WriteFile(filepath.Join("testdata", "resources.txt"), []byte("(example.com/m/leaky.Opener).Open Shut\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(filepath.Join("testdata", "resources.txt")) })
	resources := func(text string) string {
		path := filepath.Join(t.TempDir(), "resources.txt")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"clean", []string{bin, "./clean"}, 0, ""},
		{"findings", []string{bin, "./..."}, 3, "file acquired here is not released on the return at leaky.go:16"},
		{"standalone findings", []string{bin, "-standalone", "./..."}, 3, "file acquired here is not released on the return at leaky.go:16"},
		{"json", []string{bin, "-json", "./..."}, 0, `"message": "file acquired here is not released`},
		{"broken package", []string{bin, "./_broken"}, 1, "cannot use"},
		{"vet clean", []string{"go", "vet", "-vettool=" + bin, "./clean"}, 0, ""},
		{"vet findings", []string{"go", "vet", "-vettool=" + bin, "./..."}, 1, "file acquired here is not released"},
		{"malformed file", []string{bin, "-resources=" + resources("(*example.com/m/leaky.Opener).Open\n"), "./..."}, 1, "resources.txt:1: want ACQUIRE RELEASE"},
		{"missing file", []string{bin, "-resources=/nonexistent/resources.txt", "./..."}, 1, "no such file"},
		{"package imported nowhere", []string{bin, "-resources=" + resources("example.com/nope.Open Close\n"), "./clean"}, 0, ""},
		{"unknown method", []string{bin, "-resources=" + resources("(example.com/m/leaky.Opener).Open Shut\n"), "./..."}, 1, "has no method Shut"},
		{"unknown function", []string{bin, "-resources=" + resources("example.com/m/leaky.Create Close\n"), "./..."}, 1, "has no function Create"},
		{"vet unknown method", []string{"go", "vet", "-vettool=" + bin, "-resources=" + resources("(example.com/m/leaky.Opener).Open Shut\n"), "./..."}, 1, "has no method Shut"},
		{"relative resources file", []string{bin, "-resources", "../resources.txt", "./..."}, 1, "has no method Shut"},
		{"user resource", []string{bin, "-resources=" + resources("(example.com/m/leaky.Opener).Open Close handle\n"), "./clean"}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := run(t, tc.args[0], tc.args[1:]...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d, want %d; output:\n%s\nwant it to contain %q", code, tc.code, out, tc.want)
			}
			if strings.Contains(out, "panic") {
				t.Errorf("crashed:\n%s", out)
			}
		})
	}
}
