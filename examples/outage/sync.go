package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/poolguard/poolguard"
)

// errValidation is the outage's DataValidationError.
var errValidation = errors.New("validation failed")

// syncUserDataBuggy is the outage's sync job, ported to Go line for line:
// on a validation error it logs and returns without releasing the
// connection.
func syncUserDataBuggy(ctx context.Context, sync *poolguard.Partition, id int) error {
	conn, err := sync.Acquire(ctx) //leakcheck:ignore the outage's bug, kept on purpose
	if err != nil {
		return err
	}
	var email string
	if err := conn.QueryRow(ctx, "SELECT email FROM users WHERE id = $1", id).Scan(&email); err != nil {
		conn.Release()
		return err
	}
	if err := validate(id, email); err != nil {
		slog.Error("sync: validation failed", "user", id, "error", err)
		return err // the connection is never released
	}
	conn.Release()
	return nil
}

// syncUserData is the fix: With releases the connection on every path.
func syncUserData(ctx context.Context, sync *poolguard.Partition, id int) error {
	return sync.With(ctx, func(conn *poolguard.Conn) error {
		var email string
		if err := conn.QueryRow(ctx, "SELECT email FROM users WHERE id = $1", id).Scan(&email); err != nil {
			return err
		}
		if err := validate(id, email); err != nil {
			slog.Error("sync: validation failed", "user", id, "error", err)
			return err
		}
		return nil
	})
}

func validate(id int, email string) error {
	if !strings.Contains(email, "@") {
		return fmt.Errorf("user %d: email %q has no @: %w", id, email, errValidation)
	}
	return nil
}
