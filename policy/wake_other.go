//go:build !linux

package policy

import (
	"sync/atomic"
	"time"
)

// wakeWord is the portable stand-in for the Linux futex: the sleeper polls.
type wakeWord struct{ v atomic.Uint32 }

func (w *wakeWord) load() uint32 { return w.v.Load() }

func (w *wakeWord) wake() { w.v.Add(1) }

func (w *wakeWord) wait(seen uint32, d time.Duration) {
	end := time.Now().Add(d)
	for w.v.Load() == seen && time.Now().Before(end) {
		time.Sleep(100 * time.Microsecond)
	}
}

// setThreadNice is a no-op where threads have no niceness of their own.
func setThreadNice(int) error { return nil }
