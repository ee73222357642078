package replay

import (
	"os"
	"runtime"
	"strings"
)

// Machine describes where a replay ran, so that its numbers can be judged.
type Machine struct {
	CPUs     int    // logical CPUs the process may use
	CPUModel string // from /proc/cpuinfo, where there is one
	OS, Arch string
	Go       string
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, Go: runtime.Version(), CPUModel: "unknown"}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(data)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}
