// Package clean closes what it opens.
package clean

import "os"

// Read opens and closes a file.
func Read(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	return f.Close()
}
