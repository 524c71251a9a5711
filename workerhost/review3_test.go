package workerhost

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestReview3IdleTasksEnd: the goroutines a burst of concurrent tasks
// started must end once tasks come one at a time, as the pool's comment
// says ("kept for taskIdle after their task"). Idle goroutines waited on
// one channel, which hands a value to the receiver that has waited
// longest: tasks one after the other went round all of them, so that
// after a burst of 100 tasks a trickle of one task each millisecond kept
// 100 goroutines (and their grown stacks) for good.
func TestReview3IdleTasksEnd(t *testing.T) {
	defer taskIdle.Store(taskIdle.Load())
	const idle = 300 * time.Millisecond
	taskIdle.Store(int64(idle))
	before := runtime.NumGoroutine()
	var wg sync.WaitGroup
	release := make(chan struct{})
	for range 100 {
		wg.Add(1)
		runTask(func() { <-release; wg.Done() })
	}
	close(release)
	wg.Wait()
	// Tasks one at a time, for over three times taskIdle.
	end := time.Now().Add(3*idle + 100*time.Millisecond)
	for time.Now().Before(end) {
		done := make(chan struct{})
		runTask(func() { close(done) })
		<-done
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine() - before; n > 10 {
		t.Errorf("%d task goroutines after %v of tasks one at a time, want at most a few", n, 3*idle)
	}
}

// TestReview3NoTaskLost: a task handed to an idle goroutine as its idle
// timer fires still runs, exactly once.
func TestReview3NoTaskLost(t *testing.T) {
	defer taskIdle.Store(taskIdle.Load())
	taskIdle.Store(int64(50 * time.Microsecond))
	var wg sync.WaitGroup
	var ran sync.Map
	for i := range 20000 {
		wg.Add(1)
		runTask(func() {
			if _, dup := ran.LoadOrStore(i, true); dup {
				t.Errorf("task %d ran twice", i)
			}
			wg.Done()
		})
		if i%7 == 0 {
			time.Sleep(time.Duration(i%3) * 30 * time.Microsecond)
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("tasks lost")
	}
}
