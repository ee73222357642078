package files

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// openData opens a regular file under dir for its caller to close.
func openData(dir, name string) (*os.File, error) {
	f, err := os.Open(filepath.Join(dir, name)) // OK
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	return f, nil
}

// Digest hashes a data file.
func Digest(dir, name string) (string, error) {
	f, err := openData(dir, name) // OK
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Header returns the first line of a data file, and forgets the file
// when the file is empty.
func Header(dir, name string) (string, error) {
	f, err := openData(dir, name) // LEAK
	if err != nil {
		return "", err
	}
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return "", fmt.Errorf("%s: empty", name)
	}
	line := sc.Text()
	f.Close()
	return line, nil
}

// Source opens files by name.
type Source interface {
	Open(name string) (*os.File, error)
}

// SourceSize reads a whole file from a source.
func SourceSize(src Source, name string) (int64, error) {
	f, err := src.Open(name) // OK
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return io.Copy(io.Discard, f)
}

// SourceSizeOrZero returns early for an empty name with the file open.
func SourceSizeOrZero(src Source, name string) (int64, error) {
	f, err := src.Open(name) // LEAK
	if err != nil {
		return 0, err
	}
	if filepath.Ext(name) == ".empty" {
		return 0, nil
	}
	defer f.Close()
	return io.Copy(io.Discard, f)
}

// Stdio lends the files of the process.
type Stdio interface {
	Stdout() *os.File
}

// Say writes to a lent file, which it does not own.
func Say(s Stdio, msg string) error {
	out := s.Stdout() // OK
	_, err := fmt.Fprintln(out, msg)
	return err
}
