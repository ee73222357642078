package pgtemp

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"syscall"

	"github.com/jackc/pgx/v5"
)

// hbaConf is the server's pg_hba.conf. The Unix socket lives in the
// server's own directory, which checkPrivate has found closed to every
// user but the server's (and root), so trust there lets pgtemp set the
// password without knowing one first. Over TCP, which any local user can
// reach, the password is required.
const hbaConf = `# Written by pgtemp.
local all all trust
host  all all 127.0.0.1/32 scram-sha-256
host  all all ::1/128      scram-sha-256
`

// newPassword returns a random password for one server: 128 bits, in hex
// so that it needs no escaping in any form of connection string.
func newPassword() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails: see crypto/rand.Read
	return hex.EncodeToString(b)
}

// scramVerifier returns the SCRAM-SHA-256 verifier that PostgreSQL stores
// for password (RFC 5802, RFC 7677). Handing PostgreSQL the verifier
// rather than the password keeps the password out of its log, whatever
// the logging settings.
func scramVerifier(password string) (string, error) {
	const iterations = 4096 // PostgreSQL's default
	salt := make([]byte, 16)
	rand.Read(salt)
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("pgtemp: derive the password verifier: %w", err)
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	stored := sha256.Sum256(mac(salted, "Client Key"))
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iterations, b64(salt), b64(stored[:]), b64(mac(salted, "Server Key"))), nil
}

// checkPrivate makes sure that dir, which holds the Unix socket reached
// with trust authentication, is a directory that only uid can enter.
func checkPrivate(dir string, uid int) error {
	info, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("pgtemp: %w", err)
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !info.IsDir() || !ok || int(st.Uid) != uid || info.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("pgtemp: the server directory %s is not private to uid %d (mode %v): "+
			"its Unix socket accepts connections without a password, so it must be; "+
			"set TMPDIR to a directory on a file system that keeps Unix permissions", dir, uid, info.Mode())
	}
	return nil
}

// setPassword gives the superuser the server's password, over the Unix
// socket, and checks that the URL handed out by DSN then connects.
func (s *Server) setPassword(ctx context.Context) error {
	password, _ := s.base.User.Password()
	verifier, err := scramVerifier(password)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, s.socketDSN())
	if err != nil {
		return fmt.Errorf("pgtemp: connect over the Unix socket to set the password: %w", err)
	}
	// The verifier holds only base64 and punctuation: nothing to quote.
	_, err = conn.Exec(ctx, "ALTER ROLE postgres PASSWORD '"+verifier+"'")
	conn.Close(context.WithoutCancel(ctx))
	if err != nil {
		return fmt.Errorf("pgtemp: set the password: %w", err)
	}
	tcp, err := pgx.Connect(ctx, s.DSN())
	if err != nil {
		return fmt.Errorf("pgtemp: connect over TCP with the password: %w", err)
	}
	return tcp.Close(context.WithoutCancel(ctx))
}
