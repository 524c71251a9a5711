//go:build !unix

package workerhost

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
