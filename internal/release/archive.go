package main

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"time"
)

// archiveFile is one entry of an archive: read from path, or data.
type archiveFile struct {
	name string
	path string
	data []byte
	mode os.FileMode
}

// modTime is every entry's time, so that the same binaries give the same
// archives (and checksums) whenever they are packed.
var modTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// writeArchive writes out/base.tar.gz (or base.zip) holding files under the
// directory base/, and returns its path.
func writeArchive(out, base string, asZip bool, files []archiveFile) (path string, err error) {
	path = filepath.Join(out, base+".tar.gz")
	if asZip {
		path = filepath.Join(out, base+".zip")
	}
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	if asZip {
		return path, writeZip(f, base, files)
	}
	return path, writeTarGz(f, base, files)
}

func writeTarGz(w io.Writer, base string, files []archiveFile) error {
	gz, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: base + "/", Mode: 0o755, ModTime: modTime, Format: tar.FormatPAX}); err != nil {
		return err
	}
	for _, af := range files {
		data, err := af.read()
		if err != nil {
			return err
		}
		h := &tar.Header{Typeflag: tar.TypeReg, Name: base + "/" + af.name, Mode: int64(af.mode), Size: int64(len(data)), ModTime: modTime, Format: tar.FormatPAX}
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

func writeZip(w io.Writer, base string, files []archiveFile) error {
	zw := zip.NewWriter(w)
	for _, af := range files {
		data, err := af.read()
		if err != nil {
			return err
		}
		h := &zip.FileHeader{Name: base + "/" + af.name, Method: zip.Deflate, Modified: modTime}
		h.SetMode(af.mode)
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		if _, err := fw.Write(data); err != nil {
			return err
		}
	}
	return zw.Close()
}

func (af archiveFile) read() ([]byte, error) {
	if af.path == "" {
		return af.data, nil
	}
	return os.ReadFile(af.path)
}

// sha256File returns the hex SHA-256 and the size of the file at path.
func sha256File(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
