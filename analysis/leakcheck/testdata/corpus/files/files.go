package files

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Lines reads a file's lines.
func Lines(name string) ([]string, error) {
	f, err := os.Open(name) // OK
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out, sc.Err()
}

// FirstLine returns after the first line without closing.
func FirstLine(name string) (string, error) {
	f, err := os.Open(name) // LEAK
	if err != nil {
		return "", err
	}
	sc := bufio.NewScanner(f)
	if sc.Scan() {
		return sc.Text(), nil
	}
	f.Close()
	return "", sc.Err()
}

// Write writes data and closes, keeping the first error.
func Write(name string, data []byte) (err error) {
	f, err := os.Create(name) // OK
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	_, err = f.Write(data)
	return err
}

// WriteLeaky closes only when the write succeeds.
func WriteLeaky(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644) // LEAK
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return f.Close()
}

// Append appends a line.
func Append(name, line string) error {
	f, err := os.OpenFile(name, os.O_APPEND|os.O_WRONLY, 0) // OK
	if err != nil {
		return err
	}
	if _, err := io.WriteString(f, line+"\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Temp creates a temporary file for the caller.
func Temp(dir string) (*os.File, error) {
	f, err := os.CreateTemp(dir, "job-*") // OK
	if err != nil {
		return nil, err
	}
	return f, nil
}

// TempName returns only the name of the temporary file.
func TempName(dir string) (string, error) {
	f, err := os.CreateTemp(dir, "job-*") // LEAK
	if err != nil {
		return "", err
	}
	return f.Name(), nil
}

// CSV reads records.
func CSV(name string) ([][]string, error) {
	f, err := os.Open(name) // OK
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return csv.NewReader(f).ReadAll()
}

// Concat copies several files into one.
func Concat(dst string, srcs []string) error {
	out, err := os.Create(dst) // OK
	if err != nil {
		return err
	}
	defer out.Close()
	for _, src := range srcs {
		in, err := os.Open(src) // LEAK
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			return err
		}
		in.Close()
	}
	return nil
}

// ConcatFixed closes each source in a function.
func ConcatFixed(dst string, srcs []string) error {
	out, err := os.Create(dst) // OK
	if err != nil {
		return err
	}
	defer out.Close()
	for _, src := range srcs {
		err := func() error {
			in, err := os.Open(src) // OK
			if err != nil {
				return err
			}
			defer in.Close()
			_, err = io.Copy(out, in)
			return err
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

// Reader wraps the file in a reader and loses it.
func Reader(name string) (io.Reader, error) {
	f, err := os.Open(name) // LEAK
	if err != nil {
		return nil, err
	}
	return bufio.NewReader(f), nil
}

// Handles opens files for a caller that closes them all.
func Handles(names []string) ([]*os.File, error) {
	var fs []*os.File
	for _, n := range names {
		f, err := os.Open(n) // OK
		if err != nil {
			for _, g := range fs {
				g.Close()
			}
			return nil, err
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// Walk counts lines of every .txt file under root.
func Walk(root string) (int, error) {
	total := 0
	err := filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
		if err != nil || !strings.HasSuffix(path, ".txt") {
			return err
		}
		f, err := os.Open(path) // LEAK
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			total++
		}
		if sc.Err() != nil {
			return sc.Err()
		}
		return f.Close()
	})
	return total, err
}

// Lock creates a lock file and keeps it open in a global.
var lockFile *os.File

// Lock takes the process lock.
func Lock(name string) error {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL, 0o600) // OK
	if err != nil {
		return err
	}
	lockFile = f
	return nil
}

// Check opens a file and panics on a bad header.
func Check(name string) {
	f, err := os.Open(name) // LEAK
	if err != nil {
		panic(err)
	}
	var hdr [4]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		panic(fmt.Sprintf("%s: %v", name, err))
	}
	f.Close()
}

// Sniff reads the header and closes via a closure that it calls.
func Sniff(name string) ([]byte, error) {
	f, err := os.Open(name) // OK
	if err != nil {
		return nil, err
	}
	done := func() error { return f.Close() }
	hdr := make([]byte, 4)
	if _, err := io.ReadFull(f, hdr); err != nil {
		return nil, errors.Join(err, done())
	}
	return hdr, done()
}
