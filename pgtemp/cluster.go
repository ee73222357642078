package pgtemp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const howToGetBinaries = "install PostgreSQL (on Debian or Ubuntu: apt-get install -y postgresql), " +
	"set " + EnvPGBin + " to the directory holding initdb and postgres, " +
	"or set " + EnvDatabaseURL + " to the URL of an existing server"

// findBinaries returns the directory holding initdb and postgres.
func findBinaries() (string, error) {
	if dir := os.Getenv(EnvPGBin); dir != "" {
		abs, err := filepath.Abs(dir)
		if err == nil && hasBinaries(abs) {
			return abs, nil
		}
		return "", fmt.Errorf("%w in %s=%s: %s", ErrNoBinaries, EnvPGBin, dir, howToGetBinaries)
	}
	var dirs []string
	if path, err := exec.LookPath("postgres"); err == nil {
		if abs, err := filepath.Abs(filepath.Dir(path)); err == nil {
			dirs = append(dirs, abs)
		}
	}
	installed, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(installed, func(a, b string) int {
		return slices.Compare(binVersion(b), binVersion(a)) // newest first
	})
	for _, dir := range append(dirs, installed...) {
		if hasBinaries(dir) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("%w on PATH or in /usr/lib/postgresql/*/bin: %s", ErrNoBinaries, howToGetBinaries)
}

// binVersion parses the version in /usr/lib/postgresql/VERSION/bin.
func binVersion(dir string) []int {
	var v []int
	for _, part := range strings.Split(filepath.Base(filepath.Dir(dir)), ".") {
		n, err := strconv.Atoi(part)
		if err != nil {
			return nil
		}
		v = append(v, n)
	}
	return v
}

func hasBinaries(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// serverCredential returns the user to run initdb and postgres as: nil
// for this process's user, or the postgres system user when running as
// root, which PostgreSQL refuses.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtemp: running as root, which PostgreSQL refuses, and there is no \"postgres\" system user to run it as instead (%w): "+
			"create one (useradd --system postgres), run as an ordinary user, or set %s to the URL of an existing server", err, EnvDatabaseURL)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("pgtemp: user postgres has a non-numeric uid %q or gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func chown(path string, cred *syscall.Credential) error {
	if cred == nil {
		return nil
	}
	if err := os.Lchown(path, int(cred.Uid), int(cred.Gid)); err != nil {
		return fmt.Errorf("pgtemp: give %s to the postgres user: %w", path, err)
	}
	return nil
}

// templateFormat changes whenever the initdb arguments do, so that old
// templates are not reused.
const templateFormat = 1

// templateDir returns a data directory freshly made by initdb, to be
// copied for each server. It is built once per set of binaries and user,
// in a temporary directory that is then renamed into place, so that every
// process sees either a complete template or none. A lock file keeps
// processes starting at the same moment from each running initdb.
func templateDir(ctx context.Context, bins string, cred *syscall.Credential, logf func(string, ...any)) (string, error) {
	uid := os.Geteuid()
	if cred != nil {
		uid = int(cred.Uid)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%d %s %d\n", templateFormat, bins, uid)
	for _, name := range []string{"initdb", "postgres"} {
		info, err := os.Stat(filepath.Join(bins, name))
		if err != nil {
			return "", fmt.Errorf("pgtemp: %w", err)
		}
		// A new build of the binaries gets a new template.
		fmt.Fprintf(h, "%s %d %d\n", name, info.Size(), info.ModTime().UnixNano())
	}
	root := filepath.Join(os.TempDir(), "pgtemp-template-"+hex.EncodeToString(h.Sum(nil))[:16])
	if usableTemplate(root, uid) {
		return filepath.Join(root, "data"), nil
	}
	lock, err := waitLock(ctx, root+".lock")
	switch {
	case err == nil:
		defer lock.Close()
	case ctx.Err() != nil:
		return "", fmt.Errorf("pgtemp: wait for another process to build the template cluster: %w", err)
	default:
		// The lock only saves work, and may be out of reach: a sticky
		// temporary directory can refuse to open another user's file.
		// The rename below is what keeps the template whole.
	}
	if usableTemplate(root, uid) { // built while we waited
		return filepath.Join(root, "data"), nil
	}

	build, err := os.MkdirTemp("", "pgtemp-build-")
	if err != nil {
		return "", fmt.Errorf("pgtemp: create temporary directory: %w", err)
	}
	defer os.RemoveAll(build) // gone already if the rename succeeded
	if err := chown(build, cred); err != nil {
		return "", err
	}
	logf("pgtemp: running initdb for the template cluster %s", root)
	cmd := exec.CommandContext(ctx, filepath.Join(bins, "initdb"),
		"-D", filepath.Join(build, "data"),
		"-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C",
		"--no-sync", "--no-instructions")
	cmd.Dir = build
	cmd.SysProcAttr = sysProcAttr(cred)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	childDone, err := startChild(cmd)
	if err == nil {
		err = cmd.Wait()
		childDone()
	}
	if err != nil {
		return "", fmt.Errorf("pgtemp: initdb: %w\n%s", err, out.Bytes())
	}
	// If another process got there first, its template serves as well.
	if err := os.Rename(build, root); err != nil && !usableTemplate(root, uid) {
		return "", fmt.Errorf("pgtemp: store template cluster (remove %s if it is stale): %w", root, err)
	}
	return filepath.Join(root, "data"), nil
}

// usableTemplate reports whether root holds a complete template owned by
// uid; a directory of another owner in a shared temporary directory is not
// to be trusted.
func usableTemplate(root string, uid int) bool {
	info, err := os.Stat(root)
	if err != nil {
		return false
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok || int(st.Uid) != uid {
		return false
	}
	_, err = os.Stat(filepath.Join(root, "data", "PG_VERSION"))
	return err == nil
}

// copyTree copies the directory src to dst, keeping permissions, which
// PostgreSQL checks, and giving everything to cred.
func copyTree(src, dst string, cred *syscall.Credential) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			err = os.Mkdir(target, info.Mode().Perm())
		case d.Type()&fs.ModeSymlink != 0:
			var link string
			if link, err = os.Readlink(path); err == nil {
				err = os.Symlink(link, target)
			}
		default:
			err = copyFile(path, target, info.Mode().Perm())
		}
		if err != nil {
			return err
		}
		return chown(target, cred)
	})
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// lockName is a file in each server's directory that its owner keeps
// locked; the kernel drops the lock when the owner dies, however it dies.
const lockName = "pgtemp.lock"

func lockDir(dir string) (*os.File, error) {
	return tryLock(filepath.Join(dir, lockName))
}

// waitLock is tryLock retried until it succeeds or ctx is done.
func waitLock(ctx context.Context, path string) (*os.File, error) {
	for {
		lock, err := tryLock(path)
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return lock, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// tryLock takes an exclusive lock on the file path, creating it, or fails
// at once with an error wrapping EWOULDBLOCK if another holds it. Locks
// taken by separate calls exclude each other even in one process.
func tryLock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pgtemp: create lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("pgtemp: lock %s: %w", path, err)
	}
	return f, nil
}

// ownerName is a file in each server's directory naming the process
// that owns it: "PID STARTTIME\n", the start time as in /proc/PID/stat
// (0 where unknown), so that a process that reuses the PID is not taken
// for the owner.
const ownerName = "pgtemp.owner"

// An owner is the process that created a server's directory.
type owner struct {
	pid   int
	start uint64
}

// self is this process as an owner.
var self = sync.OnceValue(func() owner {
	o := owner{pid: os.Getpid()}
	o.start, _, _ = procStat(o.pid)
	return o
})

// writeOwner records this process as the owner of dir. It is called once
// dir is locked, so a directory with an owner file had its lock taken.
func writeOwner(dir string) error {
	o := self()
	if err := os.WriteFile(filepath.Join(dir, ownerName), fmt.Appendf(nil, "%d %d\n", o.pid, o.start), 0o644); err != nil {
		return fmt.Errorf("pgtemp: record the owner of %s: %w", dir, err)
	}
	return nil
}

func readOwner(dir string) (owner, error) {
	b, err := os.ReadFile(filepath.Join(dir, ownerName))
	if err != nil {
		return owner{}, err
	}
	var o owner
	if _, err := fmt.Sscanf(string(b), "%d %d\n", &o.pid, &o.start); err != nil || o.pid <= 0 {
		return owner{}, fmt.Errorf("pgtemp: malformed %s in %s", ownerName, dir)
	}
	return o, nil
}

// alive reports whether the owner is still running: its PID exists, is
// not a zombie, and (where known) started when the owner did.
func (o owner) alive() bool {
	if err := syscall.Kill(o.pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	start, zombie, ok := procStat(o.pid)
	switch {
	case !ok:
		return true // EPERM, or no /proc: assume the worst
	case zombie:
		return false
	default:
		return o.start == 0 || start == o.start
	}
}

// sweepStale removes the directories of servers whose owners died without
// closing them (the servers themselves died with their owners), and runs
// at every Start, so a directory left by a killed process goes at the next
// Start in any process. A directory whose owner file names a process that
// is gone is removed at once; one without an owner file (an older pgtemp's,
// or one whose owner died before writing it) only when older than a
// minute, since its owner may be about to lock it. Either way the
// directory's lock must be free: a live owner holds it, which also covers
// an owner in another PID namespace that shares the temporary directory.
func sweepStale(logf func(string, ...any)) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "pgtemp-*"))
	for _, dir := range dirs {
		if base := filepath.Base(dir); strings.HasPrefix(base, "pgtemp-template-") || strings.HasPrefix(base, "pgtemp-build-") {
			continue
		}
		why := ""
		o, err := readOwner(dir)
		switch {
		case err == nil:
			if o.alive() {
				continue
			}
			why = fmt.Sprintf("process %d, which has exited", o.pid)
		case errors.Is(err, fs.ErrNotExist):
			info, err := os.Stat(filepath.Join(dir, lockName))
			if err != nil || time.Since(info.ModTime()) < time.Minute {
				continue
			}
			why = "a process that died"
		default:
			continue // not a directory, another user's, or being written
		}
		lock, err := lockDir(dir)
		if err != nil {
			continue // in use, or not ours to remove
		}
		if os.RemoveAll(dir) == nil {
			logf("pgtemp: removed %s, left behind by %s", dir, why)
		}
		lock.Close()
	}
}
