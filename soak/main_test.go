package soak

import (
	"flag"
	"testing"
	"time"

	"github.com/poolguard/poolguard/pooltest"
)

// duration is how long the workload and the chaos run, setup and the
// final checks aside.
var duration = flag.Duration("soak.duration", time.Minute, "how long the soak's workload and faults run")

// VerifyTestMain fails the run on a goroutine left behind once the tests
// are done, the pool's included.
func TestMain(m *testing.M) { pooltest.VerifyTestMain(m) }
