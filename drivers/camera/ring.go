package camera

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anther-robotics/anther/robot"
)

// ring hands frames from one producer (the source goroutine) to any number
// of readers through a fixed set of preallocated slots. The producer fills
// a slot that is neither the newest nor being read, then publishes it; a
// reader pins the newest slot, copies it out and unpins it. Neither side
// ever waits for the other: if every slot is pinned the producer drops the
// frame, and if the producer is refilling the slot a reader just chose the
// reader moves to the newer one.
type ring struct {
	slots  []ringSlot
	latest atomic.Int32  // index of the newest published slot, -1 before the first
	seq    atomic.Uint64 // Seq of the newest published frame

	mu   sync.Mutex    // guards wait
	wait chan struct{} // closed at the next publish; made by Next only when someone waits
}

// ringSlot is one frame buffer. state is the number of readers copying it
// (>0), 0 when free, or -1 while the producer fills it.
type ringSlot struct {
	state atomic.Int32
	idx   int32 // position in ring.slots
	f     robot.Frame
}

// newRing returns a ring of n slots (at least 3: the newest, one being
// filled, one being read).
func newRing(n int) *ring {
	r := &ring{slots: make([]ringSlot, max(n, 3))}
	for i := range r.slots {
		r.slots[i].idx = int32(i)
	}
	r.latest.Store(-1)
	return r
}

// acquire returns the oldest slot that is neither the newest nor pinned,
// sized for w×h pixels of format f and marked as being filled, or nil if
// every slot is in use. Producer only.
func (r *ring) acquire(w, h int, f robot.PixelFormat) *ringSlot {
	best := r.take()
	if best == nil {
		return nil
	}
	n := w * h * f.BytesPerPixel()
	if cap(best.f.Pix) < n {
		best.f.Pix = make([]byte, n)
	}
	best.f.Pix = best.f.Pix[:n]
	best.f.Width, best.f.Height, best.f.Format = w, h, f
	return best
}

// take marks the oldest free slot other than the newest as being filled.
// A reader may pin a slot between the scan and the claim: then it scans
// again, a bounded number of times.
func (r *ring) take() *ringSlot {
	for range len(r.slots) {
		latest := r.latest.Load()
		var best *ringSlot
		for i := range r.slots {
			s := &r.slots[i]
			if s.idx == latest || s.state.Load() != 0 {
				continue
			}
			if best == nil || s.f.Seq < best.f.Seq {
				best = s
			}
		}
		if best == nil {
			return nil
		}
		if best.state.CompareAndSwap(0, -1) {
			return best
		}
	}
	return nil
}

// abandon returns a slot taken by acquire without publishing it.
func (r *ring) abandon(s *ringSlot) { s.state.Store(0) }

// publish makes s, filled by the producer, the newest frame, stamping its
// sequence number and arrival time, and wakes Next callers. Producer only.
func (r *ring) publish(s *ringSlot, capture, arrival time.Time) uint64 {
	seq := r.seq.Load() + 1
	s.f.Seq, s.f.Capture, s.f.Arrival = seq, capture, arrival
	s.state.Store(0)
	r.latest.Store(s.idx)
	r.seq.Store(seq)
	r.mu.Lock()
	if r.wait != nil {
		close(r.wait)
		r.wait = nil
	}
	r.mu.Unlock()
	return seq
}

// read copies the newest frame into dst and reports whether there was one.
// It never waits: a slot being refilled is skipped for the newer one.
func (r *ring) read(dst *robot.Frame) bool {
	for range 64 {
		i := r.latest.Load()
		if i < 0 {
			return false
		}
		s := &r.slots[i]
		n := s.state.Load()
		if n < 0 || !s.state.CompareAndSwap(n, n+1) {
			continue // the producer took it back after publishing a newer one
		}
		copyFrame(dst, &s.f)
		s.state.Add(-1)
		return true
	}
	return false
}

// next waits until a frame newer than dst.Seq is published and copies the
// newest into dst.
func (r *ring) next(ctx context.Context, dst *robot.Frame, done <-chan struct{}) error {
	for {
		have := dst.Seq
		if r.seq.Load() > have && r.read(dst) && dst.Seq > have {
			return nil
		}
		r.mu.Lock()
		if r.wait == nil {
			r.wait = make(chan struct{})
		}
		ch := r.wait
		r.mu.Unlock()
		if r.seq.Load() > have {
			continue // published between the check and the registration
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			return ErrStopped
		}
	}
}

// copyFrame copies src into dst, reusing dst.Pix when it is large enough.
func copyFrame(dst, src *robot.Frame) {
	if cap(dst.Pix) < len(src.Pix) {
		dst.Pix = make([]byte, len(src.Pix))
	}
	dst.Pix = dst.Pix[:len(src.Pix)]
	copy(dst.Pix, src.Pix)
	dst.Seq, dst.Capture, dst.Arrival = src.Seq, src.Capture, src.Arrival
	dst.Width, dst.Height, dst.Format = src.Width, src.Height, src.Format
}
