//go:build unix

package fhirstore

import (
	"os"
	"syscall"
)

// mapFile maps path read-only. The index of a large imported set lives
// there rather than in the Go heap: the collector then paces itself on the
// small heap that changes, instead of letting it grow by the index's size
// (700 MB at 100,000 patients) between collections, touching fresh memory
// on every allocation; and a restart does not copy it. unmap releases it.
func mapFile(path string) (data []byte, unmap func() error, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if fi.Size() == 0 {
		return nil, func() error { return nil }, nil
	}
	data, err = syscall.Mmap(int(f.Fd()), 0, int(fi.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return data, func() error { return syscall.Munmap(data) }, nil
}
