package control

import (
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Clock is the loop's source of time. The loop asks it for the time and to
// wait until an absolute deadline; it never sleeps by itself.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// SleepUntil returns at or after deadline (at once if it has passed).
	SleepUntil(deadline time.Time)
}

// WallClock is the real clock. SleepUntil sleeps with
// clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) until Spin before the
// deadline and busy-waits the rest: Go's own timers round sub-millisecond
// sleeps up to about a millisecond. Use it from a goroutine locked to its OS
// thread (the loop does this). Not safe for concurrent SleepUntil calls.
type WallClock struct {
	// Spin is how long before the deadline the kernel sleep ends and the
	// busy-wait starts. 0 sleeps in the kernel to the deadline.
	Spin time.Duration
	// KeepP sleeps without telling the Go scheduler (a raw system call), so
	// the loop's thread keeps its P and never waits for one on wake-up; the
	// rest of the program then has one P fewer.
	KeepP bool

	t0 time.Time // wall/monotonic reference
	m0 int64     // CLOCK_MONOTONIC at t0, ns
	ts unix.Timespec
}

// NewWallClock returns a wall clock that spins for the last spin of every wait.
func NewWallClock(spin time.Duration) *WallClock {
	c := &WallClock{Spin: spin}
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	c.t0 = time.Now()
	c.m0 = ts.Nano()
	return c
}

// Now returns time.Now (with its monotonic reading).
func (c *WallClock) Now() time.Time { return time.Now() }

// SleepUntil waits until deadline without allocating.
func (c *WallClock) SleepUntil(deadline time.Time) {
	wake := c.m0 + int64(deadline.Sub(c.t0)) - int64(c.Spin)
	if time.Until(deadline) > c.Spin {
		c.ts = unix.NsecToTimespec(wake)
		for {
			var err error
			if c.KeepP {
				_, _, e := unix.RawSyscall6(unix.SYS_CLOCK_NANOSLEEP, unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME,
					uintptr(unsafe.Pointer(&c.ts)), 0, 0, 0)
				if e != 0 {
					err = e
				}
			} else {
				err = unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &c.ts, nil)
			}
			if err != unix.EINTR {
				break
			}
		}
	}
	// Spin without yielding: runtime.Gosched here would hand the P to
	// another goroutine, which may keep it for a whole 10 ms time slice.
	for time.Now().Before(deadline) {
	}
}

// SteppedClock is a clock that only moves when asked: SleepUntil jumps to
// the deadline at once. The simulator and tests use it to run the same loop
// faster than real time, deterministically. Safe for concurrent use.
type SteppedClock struct {
	ns atomic.Int64
	t0 time.Time
}

// NewSteppedClock returns a stepped clock that reads start.
func NewSteppedClock(start time.Time) *SteppedClock {
	return &SteppedClock{t0: start}
}

// Now returns the clock's current time.
func (c *SteppedClock) Now() time.Time { return c.t0.Add(time.Duration(c.ns.Load())) }

// SleepUntil moves the clock forward to deadline (never backward).
func (c *SteppedClock) SleepUntil(deadline time.Time) {
	d := int64(deadline.Sub(c.t0))
	for {
		cur := c.ns.Load()
		if d <= cur || c.ns.CompareAndSwap(cur, d) {
			return
		}
	}
}

// Advance moves the clock forward by d, as if that much time had passed
// (tests use it to model a slow tick or a clock jump).
func (c *SteppedClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
