// Cases for the ignore directive.
package ignore

import (
	"context"

	"github.com/poolguard/poolguard"
)

func above(ctx context.Context, p *poolguard.Pool) {
	//leakcheck:ignore the pool reclaims it when the job ends
	conn, _ := p.Acquire(ctx)
	_ = conn
}

func sameLine(ctx context.Context, p *poolguard.Pool) {
	conn, _ := p.Acquire(ctx) //leakcheck:ignore released by the supervisor
	_ = conn
}

func noReason(ctx context.Context, p *poolguard.Pool) {
	conn, _ := p.Acquire(ctx) /* want `leakcheck:ignore needs a reason` `connection acquired here is not released` */ //leakcheck:ignore
	_ = conn
}

func tooFar(ctx context.Context, p *poolguard.Pool) {
	//leakcheck:ignore two lines up does not count

	conn, _ := p.Acquire(ctx) // want `connection acquired here is not released`
	_ = conn
}
