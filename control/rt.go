package control

import (
	"fmt"
	"runtime/debug"

	"golang.org/x/sys/unix"
)

// RealTime asks the OS to treat the loop's thread as real-time. Each knob is
// optional; each one the OS refuses is reported, not fatal (a loop that runs
// late is better than no loop), and the report says what it cost.
type RealTime struct {
	Priority  int   // SCHED_FIFO priority 1..99 for the loop thread (0: leave the policy)
	CPU       int   // pin the loop thread to this CPU (-1: any)
	LockMem   bool  // mlockall(MCL_CURRENT|MCL_FUTURE): no page faults on the loop's memory
	GCPercent int   // debug.SetGCPercent (0: leave; -1: off, collect only near MemLimit)
	MemLimit  int64 // debug.SetMemoryLimit in bytes (0: leave)
}

// DefaultRealTime is what `--rt` asks for: SCHED_FIFO 80, mlockall, and the
// garbage collector run only as the heap nears 512 MiB (GOGC=off with
// GOMEMLIMIT), so collections — whose stop-the-world phases and mark
// workers delay the loop's thread — become rare.
func DefaultRealTime() RealTime {
	return RealTime{Priority: 80, CPU: -1, LockMem: true, GCPercent: -1, MemLimit: 512 << 20}
}

// RTResult says what each knob did.
type RTResult struct {
	Applied  []string `json:"applied"`
	Refused  []string `json:"refused"`
	Disabled bool     `json:"disabled"`
}

// apply sets the knobs for the calling thread (which must be locked to it).
func (rt *RealTime) apply() RTResult {
	var r RTResult
	note := func(what string, err error) {
		if err != nil {
			r.Refused = append(r.Refused, fmt.Sprintf("%s: %v", what, err))
		} else {
			r.Applied = append(r.Applied, what)
		}
	}
	if rt.LockMem {
		note("mlockall", unix.Mlockall(unix.MCL_CURRENT|unix.MCL_FUTURE))
	}
	if rt.CPU >= 0 {
		var set unix.CPUSet
		set.Set(rt.CPU)
		note(fmt.Sprintf("affinity cpu %d", rt.CPU), unix.SchedSetaffinity(0, &set))
	}
	if rt.Priority > 0 {
		attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: uint32(rt.Priority)}
		note(fmt.Sprintf("SCHED_FIFO priority %d", rt.Priority), unix.SchedSetAttr(0, &attr, 0))
	}
	switch {
	case rt.GCPercent > 0:
		debug.SetGCPercent(rt.GCPercent)
		note(fmt.Sprintf("GOGC=%d", rt.GCPercent), nil)
	case rt.GCPercent < 0 && rt.MemLimit > 0:
		debug.SetGCPercent(-1)
		note("GOGC=off", nil)
	}
	if rt.MemLimit > 0 {
		debug.SetMemoryLimit(rt.MemLimit)
		note(fmt.Sprintf("GOMEMLIMIT=%dMiB", rt.MemLimit>>20), nil)
	}
	return r
}

// restore returns the calling thread to normal scheduling, so that a thread
// handed back to Go's scheduler does not stay real-time.
func (rt *RealTime) restore() {
	if rt.Priority > 0 {
		attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL}
		_ = unix.SchedSetAttr(0, &attr, 0)
	}
	if rt.CPU >= 0 {
		var set unix.CPUSet
		for i := 0; i < 1024; i++ {
			set.Set(i)
		}
		_ = unix.SchedSetaffinity(0, &set)
	}
}
