//go:build unix

package parquet

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time (user and system) the process used so far: on a
// busy machine it measures a benchmark's work better than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
