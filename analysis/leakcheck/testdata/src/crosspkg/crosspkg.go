// Cases for helpers in another package, seen through facts.
package crosspkg

import (
	"context"
	"database/sql"

	"github.com/poolguard/poolguard"
	"helpers"
)

func closesViaFact(db *sql.DB) error {
	rows, err := db.Query("select 1")
	if err != nil {
		return err
	}
	defer helpers.CloseRows(rows)
	return nil
}

func releasesViaFact(ctx context.Context, p *poolguard.Pool) {
	conn, _ := p.Acquire(ctx)
	helpers.Release(conn)
}

func keptViaFact(ctx context.Context, p *poolguard.Pool) *helpers.Holder {
	conn, _ := p.Acquire(ctx)
	return helpers.Keep(conn)
}

func notReleasedByInspect(ctx context.Context, p *poolguard.Pool) error {
	conn, err := p.Acquire(ctx) // want `connection acquired here is not released on the return`
	if err != nil {
		return err
	}
	return helpers.Inspect(conn)
}
