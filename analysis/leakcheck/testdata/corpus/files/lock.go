package files

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// writeOwner records this process as the owner of dir.
func writeOwner(dir string) error {
	return os.WriteFile(filepath.Join(dir, "owner"), []byte(fmt.Sprint(os.Getpid())), 0o600)
}

// Claim locks dir for this process and records it as the owner. The
// lock's error is reassigned by the second step, on the path that holds
// the lock, which closes it there.
func Claim(dir string) (*os.File, error) {
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600) // OK
	if err == nil {
		if err = writeOwner(dir); err != nil {
			lock.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("claim %s: %w", dir, err)
	}
	return lock, nil
}

// ClaimExclusive also takes an advisory lock, and keeps the file open
// when that fails.
func ClaimExclusive(dir string) (*os.File, error) {
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600) // LEAK
	if err == nil {
		err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	}
	if err != nil {
		return nil, fmt.Errorf("claim %s: %w", dir, err)
	}
	return lock, nil
}
