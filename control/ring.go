package control

import (
	"sync/atomic"
	"time"

	"github.com/anther-robotics/anther/robot"
)

// Step is what one tick publishes: the state read, the command actually
// written (after limits), the target it came from, and the tick's timing.
type Step struct {
	Seq       uint64          // tick number since the loop started
	Time      time.Time       // the tick's deadline
	Lifecycle robot.Lifecycle // robot lifecycle during the tick
	Mode      Mode            // source of intent
	State     robot.State     // joints as read
	Target    [robot.MaxJoints]float64
	Command   robot.Command // as written, after limits
	Faults    uint64        // bit i: joint i reported a fault this tick
	BusErr    bool          // the bus returned an error this tick
	Lateness  time.Duration // how late the tick woke
	Trip      Trip          // last safety trip
}

// Sink receives Steps from the loop. Push must never block; it returns false
// when the step was dropped (and the sink counts it).
type Sink interface {
	Push(s *Step) bool
}

// Ring is a bounded single-producer single-consumer queue of Steps with
// preallocated slots. The loop pushes (never blocks, drops when full, counts
// drops); one reader pops. No locks, no allocation.
type Ring struct {
	slots   []Step
	mask    uint64
	head    atomic.Uint64 // next slot to write (producer)
	tail    atomic.Uint64 // next slot to read (consumer)
	dropped atomic.Uint64
}

// NewRing returns a ring with room for size steps (rounded up to a power of two).
func NewRing(size int) *Ring {
	n := 1
	for n < size {
		n <<= 1
	}
	return &Ring{slots: make([]Step, n), mask: uint64(n - 1)}
}

// Push copies s into the ring, or drops it if the ring is full.
func (r *Ring) Push(s *Step) bool {
	h := r.head.Load()
	if h-r.tail.Load() > r.mask {
		r.dropped.Add(1)
		return false
	}
	r.slots[h&r.mask] = *s
	r.head.Store(h + 1)
	return true
}

// Pop copies the oldest step into dst and reports whether there was one.
func (r *Ring) Pop(dst *Step) bool {
	t := r.tail.Load()
	if t == r.head.Load() {
		return false
	}
	*dst = r.slots[t&r.mask]
	r.tail.Store(t + 1)
	return true
}

// Len is the number of steps waiting.
func (r *Ring) Len() int { return int(r.head.Load() - r.tail.Load()) }

// Dropped is the number of steps dropped because the ring was full.
func (r *Ring) Dropped() uint64 { return r.dropped.Load() }
