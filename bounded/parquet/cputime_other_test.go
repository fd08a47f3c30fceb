//go:build !unix

package parquet

import "time"

func cpuTime() time.Duration { return 0 }
