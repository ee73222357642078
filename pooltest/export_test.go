package pooltest

import (
	"context"
	"time"

	"github.com/poolguard/poolguard"
)

// VerifyMain is verifyMain, for the tests.
var VerifyMain = verifyMain

// IdleInTx runs the server check for backends idle in a transaction on
// pids, as first seen now.
func IdleInTx(pool *poolguard.Pool, pids []int64) (int, error) {
	seen := make([]time.Time, len(pids))
	for i := range seen {
		seen[i] = time.Now()
	}
	bs, admin, err := (&check{pool: pool}).idleInTx(nil, pids, seen)
	if admin != nil {
		admin.Close(context.Background())
	}
	return len(bs), err
}
