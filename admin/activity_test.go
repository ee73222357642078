package admin

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// A server that accepts connections but never answers costs a snapshot
// at most the timeout, and the error says so without the password.
func TestActivityTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, silent, until the listener closes
		}
	}()
	cfg, err := pgx.ParseConfig("postgres://app:pw-Hidden-42@" + ln.Addr().String() + "/app?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	a := newActivityReader(cfg, 200*time.Millisecond)
	_, err = a.get(context.Background(), []uint32{1})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer within 200ms") {
		t.Errorf("activity from a silent server: %v", err)
	}
	if strings.Contains(err.Error(), "pw-Hidden-42") {
		t.Errorf("the error shows the password: %v", err)
	}
}

func TestScrubbed(t *testing.T) {
	inner := errors.New("connect to user=app password=s3cret failed")
	err := scrubbed{inner, "s3cret"}
	if err.Error() != "connect to user=app password=xxxxx failed" || !errors.Is(err, inner) {
		t.Errorf("scrubbed: %q, unwraps to the error: %v", err, errors.Is(err, inner))
	}
	if got := (scrubbed{inner, ""}).Error(); got != inner.Error() {
		t.Errorf("without a password: %q", got)
	}
}
