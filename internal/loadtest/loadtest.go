// Package loadtest loads the machine, for the tests of what must hold on
// a busy one (CPU time accounting that waiting for a core must not trip).
package loadtest

import (
	"runtime"
	"sync"
)

// Saturate keeps every core busy with 2×GOMAXPROCS spinning goroutines,
// which compete for the scheduler with the code under test, until stop is
// called; stop returns once they have ended.
func Saturate() (stop func()) {
	done := make(chan struct{})
	var spinners sync.WaitGroup
	for range 2 * runtime.GOMAXPROCS(0) {
		spinners.Add(1)
		go func() {
			defer spinners.Done()
			x := 0
			for {
				select {
				case <-done:
					return
				default:
				}
				for i := range 100000 {
					x += i
				}
			}
		}()
	}
	return func() {
		close(done)
		spinners.Wait()
	}
}
