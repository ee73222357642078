//go:build !linux

package soak

import (
	"context"
	"errors"
)

// quitPostmaster is not available without /proc: the soak's immediate
// restarts fail, and say so.
func quitPostmaster(ctx context.Context, backend int) error {
	return errors.New("an immediate shutdown needs Linux's /proc to find the postmaster")
}
