package otel_test

import (
	"testing"

	"github.com/poolguard/poolguard/pooltest"
)

func TestMain(m *testing.M) { pooltest.VerifyTestMain(m) }
