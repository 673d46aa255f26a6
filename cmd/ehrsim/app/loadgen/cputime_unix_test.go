//go:build unix

package loadgen_test

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time (user and system, every thread: the collector's
// too) this process has used. On a machine shared with other work, CPU
// time per operation varies far less than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
