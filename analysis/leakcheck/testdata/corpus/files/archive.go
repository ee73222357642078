package files

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Archive writes a .tar.gz of the named files.
func Archive(dst string, names []string) (err error) {
	out, err := os.Create(dst) // OK
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	gz := gzip.NewWriter(out)
	defer gz.Close()
	tw := tar.NewWriter(gz)
	defer tw.Close()
	for _, name := range names {
		if err := addFile(tw, name); err != nil {
			return err
		}
	}
	return nil
}

func addFile(tw *tar.Writer, name string) error {
	f, err := os.Open(name) // OK
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	hdr, err := tar.FileInfoHeader(info, "")
	if err != nil {
		return err
	}
	hdr.Name = filepath.Base(name)
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}

// Extract unpacks a .tar.gz, opening one file per entry.
func Extract(src, dir string) error {
	in, err := os.Open(src) // OK
	if err != nil {
		return err
	}
	defer in.Close()
	gz, err := gzip.NewReader(in)
	if err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		f, err := os.Create(filepath.Join(dir, filepath.Base(hdr.Name))) // LEAK
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, tr); err != nil {
			return fmt.Errorf("extract %s: %w", hdr.Name, err)
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
}

// Size returns a file's size using Stat on an open handle.
func Size(name string) (int64, error) {
	f, err := os.Open(name) // LEAK
	if err != nil {
		return 0, err
	}
	info, err := f.Stat()
	if err != nil {
		return 0, err
	}
	f.Close()
	return info.Size(), nil
}

// Touch creates a file and closes it at once.
func Touch(name string) error {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY, 0o644) // OK
	if err != nil {
		return err
	}
	return f.Close()
}
