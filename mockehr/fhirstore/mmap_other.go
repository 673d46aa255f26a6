//go:build !unix

package fhirstore

import "os"

// mapFile reads path (no mmap here); see mmap_unix.go.
func mapFile(path string) ([]byte, func() error, error) {
	data, err := os.ReadFile(path)
	return data, func() error { return nil }, err
}
