package release

import (
	"archive/tar"
	"archive/zip"
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Pack writes the named files of dir (flat, no directories) into the archive out,
// a .tar.gz or a .zip, reproducibly: entries sorted by name, every mtime set to
// mtime, owner 0, mode 0755 for a file with any execute bit and 0644 otherwise.
func Pack(out, dir string, names []string, mtime time.Time) (err error) {
	names = slices.Sorted(slices.Values(names))
	if len(names) == 0 {
		return errors.New("pack: no files")
	}
	for i, n := range names {
		if n == "" || strings.ContainsAny(n, `/\`) || n == "." || n == ".." {
			return fmt.Errorf("pack: %q must be a plain file name", n)
		}
		if i > 0 && names[i-1] == n {
			return fmt.Errorf("pack: %q given twice", n)
		}
	}
	isZip := strings.HasSuffix(out, ".zip")
	if !isZip && !strings.HasSuffix(out, ".tar.gz") {
		return fmt.Errorf("pack: %s: want a .tar.gz or .zip name", out)
	}
	mtime = mtime.UTC()

	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(out)
		}
	}()

	if isZip {
		zw := zip.NewWriter(f)
		zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
			return flate.NewWriter(w, flate.BestCompression)
		})
		for _, n := range names {
			data, mode, err := readRegular(filepath.Join(dir, n))
			if err != nil {
				return err
			}
			h := &zip.FileHeader{Name: n, Method: zip.Deflate, Modified: mtime}
			h.SetMode(mode)
			w, err := zw.CreateHeader(h)
			if err != nil {
				return err
			}
			if _, err := w.Write(data); err != nil {
				return err
			}
		}
		return zw.Close()
	}

	gz, err := gzip.NewWriterLevel(f, gzip.BestCompression) // no name, zero time in the gzip header
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	for _, n := range names {
		data, mode, err := readRegular(filepath.Join(dir, n))
		if err != nil {
			return err
		}
		h := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     n,
			Mode:     int64(mode.Perm()),
			Size:     int64(len(data)),
			ModTime:  mtime,
			Format:   tar.FormatUSTAR,
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

// readRegular reads a regular file and gives the mode it is packed with.
func readRegular(path string) ([]byte, os.FileMode, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, 0, fmt.Errorf("pack: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("pack: %s is not a regular file", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, fmt.Errorf("pack: %w", err)
	}
	mode := os.FileMode(0o644)
	if st.Mode()&0o111 != 0 {
		mode = 0o755
	}
	return data, mode, nil
}
