package camera

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/anther-robotics/anther/robot"
)

// fill writes v into every byte of s's frame (a recognisable picture).
func fill(s *ringSlot, v byte) {
	for i := range s.f.Pix {
		s.f.Pix[i] = v
	}
}

func TestRingLatestAndDrops(t *testing.T) {
	r := newRing(3)
	var f robot.Frame
	if r.read(&f) {
		t.Fatal("read from an empty ring")
	}
	base := time.Unix(1000, 0)
	for i := range 5 {
		s := r.acquire(4, 2, robot.PixelBGR24)
		if s == nil {
			t.Fatalf("frame %d: no free slot with no readers", i)
		}
		fill(s, byte(i))
		if seq := r.publish(s, base.Add(time.Duration(i)), base.Add(time.Duration(i)+1)); seq != uint64(i+1) {
			t.Fatalf("seq %d, want %d", seq, i+1)
		}
	}
	if !r.read(&f) || f.Seq != 5 || f.Pix[0] != 4 || len(f.Pix) != 24 || f.Width != 4 || f.Height != 2 {
		t.Fatalf("read %+v", f)
	}
	if !f.Capture.Equal(base.Add(4)) || !f.Arrival.Equal(base.Add(5)) {
		t.Fatalf("times %v %v", f.Capture, f.Arrival)
	}

	// Pin every slot but the newest: the producer has nowhere to write.
	var pinned []*ringSlot
	for i := range r.slots {
		if r.slots[i].idx != r.latest.Load() {
			r.slots[i].state.Add(1)
			pinned = append(pinned, &r.slots[i])
		}
	}
	if s := r.acquire(4, 2, robot.PixelBGR24); s != nil {
		t.Fatal("acquired a pinned slot")
	}
	for _, s := range pinned {
		s.state.Add(-1)
	}
	if s := r.acquire(4, 2, robot.PixelBGR24); s == nil {
		t.Fatal("no slot after unpinning")
	} else {
		r.abandon(s)
	}
}

func TestRingReadAllocatesOnlyWhenSmall(t *testing.T) {
	r := newRing(4)
	s := r.acquire(64, 48, robot.PixelBGR24)
	r.publish(s, time.Now(), time.Now())
	var f robot.Frame
	r.read(&f) // sizes f.Pix
	if n := testing.AllocsPerRun(100, func() { r.read(&f) }); n != 0 {
		t.Errorf("read allocates %v times per call with a large enough buffer", n)
	}
}

// TestRingConcurrent runs a fast producer against several readers and
// checks that no reader ever sees a torn frame (every byte of a frame
// equals its Seq mod 256) or a sequence going back.
func TestRingConcurrent(t *testing.T) {
	r := newRing(4)
	const frames = 3000
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var f robot.Frame
			var last uint64
			for {
				select {
				case <-done:
					return
				default:
				}
				if !r.read(&f) {
					continue
				}
				if f.Seq < last {
					t.Errorf("seq went back from %d to %d", last, f.Seq)
					return
				}
				last = f.Seq
				want := byte(f.Seq)
				for i, b := range f.Pix {
					if b != want {
						t.Errorf("torn frame %d: byte %d is %d", f.Seq, i, b)
						return
					}
				}
			}
		}()
	}
	dropped := 0
	for i := 1; i <= frames; {
		s := r.acquire(32, 32, robot.PixelBGR24)
		if s == nil {
			dropped++
			continue
		}
		fill(s, byte(r.seq.Load()+1))
		r.publish(s, time.Now(), time.Now())
		i++
	}
	close(done)
	wg.Wait()
	t.Logf("%d frames, %d acquire misses", frames, dropped)
}

func TestRingNext(t *testing.T) {
	r := newRing(3)
	stop := make(chan struct{})
	var f robot.Frame
	got := make(chan error, 1)
	go func() { got <- r.next(context.Background(), &f, stop) }()
	time.Sleep(10 * time.Millisecond)
	s := r.acquire(2, 2, robot.PixelGray8)
	fill(s, 7)
	r.publish(s, time.Now(), time.Now())
	if err := <-got; err != nil || f.Seq != 1 || f.Pix[0] != 7 {
		t.Fatalf("next: %v, %+v", err, f)
	}
	// Nothing newer than f: Next waits until ctx ends.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := r.next(ctx, &f, stop); err != context.DeadlineExceeded {
		t.Fatalf("next with nothing new: %v", err)
	}
	close(stop)
	if err := r.next(context.Background(), &f, stop); err != ErrStopped {
		t.Fatalf("next after stop: %v", err)
	}
	// A consumer that has seen nothing gets the newest at once.
	f.Seq = 0
	if err := r.next(context.Background(), &f, stop); err != nil || f.Seq != 1 {
		t.Fatalf("next from zero: %v seq %d", err, f.Seq)
	}
}

func TestPTSClock(t *testing.T) {
	var c ptsClock
	t0 := time.Unix(5000, 0)
	const hz = 90000
	// Frames every 1/30 s arriving with 5..25 ms of jitter: capture times
	// follow the timestamps exactly, from the least delayed frame.
	jitter := []time.Duration{20, 5, 25, 10, 15, 5, 22}
	var prev time.Time
	for i, j := range jitter {
		pts := int64(i) * 3000
		arr := t0.Add(time.Duration(i)*time.Second/30 + j*time.Millisecond)
		got := c.capture(pts, hz, arr)
		if got.After(arr) {
			t.Fatalf("frame %d: capture %v after arrival %v", i, got, arr)
		}
		if i > 0 && !got.After(prev) {
			t.Fatalf("frame %d: capture not increasing", i)
		}
		prev = got
	}
	// After the 5 ms frame the offset is that frame's.
	want := t0.Add(6*time.Second/30 + 5*time.Millisecond)
	if got := c.capture(6*3000, hz, want.Add(3*time.Millisecond)); got.Sub(want).Abs() > time.Millisecond {
		t.Fatalf("capture %v, want %v", got, want)
	}
}
