// Package leaky forgets a file on one path.
package leaky

import (
	"errors"
	"os"
)

// Read leaks the file when name is short.
func Read(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	if len(name) < 3 {
		return errors.New("short name")
	}
	return f.Close()
}

// Opener opens files that must be closed.
type Opener struct{}

// Open opens a file.
func (Opener) Open(name string) (*os.File, error) { return os.Open(name) }
