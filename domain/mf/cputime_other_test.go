//go:build !unix

package mf

import "time"

// cpuTime is unknown here: benchmarks then leave out their per-core rates.
func cpuTime() time.Duration { return 0 }
