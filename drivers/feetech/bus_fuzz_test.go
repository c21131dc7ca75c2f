package feetech_test

import (
	"sync"
	"testing"
	"time"

	"github.com/anther-robotics/anther/drivers/feetech"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
)

// replayPort serves a configured Bus from the simulator, then, once
// replay is set, answers every request with the replay bytes (whatever
// they are) and then silence.
type replayPort struct {
	inner  *sim.Port
	mu     sync.Mutex
	replay []byte
	active bool
	left   []byte
}

func (p *replayPort) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.active {
		return p.inner.Read(b)
	}
	n := copy(b, p.left)
	p.left = p.left[n:]
	return n, nil
}

func (p *replayPort) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.active {
		return p.inner.Write(b)
	}
	p.left = p.replay
	return len(b), nil
}

func (p *replayPort) SetReadTimeout(d time.Duration) error { return p.inner.SetReadTimeout(d) }
func (p *replayPort) ResetInputBuffer() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.active {
		p.left = nil
		return nil
	}
	return p.inner.ResetInputBuffer()
}

// FuzzBusRead answers the bus's per-tick SYNC_READ with arbitrary bytes:
// Read must never panic, must end (within its budget but for scheduling
// stalls), must report
// each joint either with fresh values or with a fault, and must classify
// every error it returns.
func FuzzBusRead(f *testing.F) {
	var good []byte
	for id := byte(1); id <= 6; id++ {
		good = feetech.AppendStatus(good, id, 0, []byte{0x00, 0x08, 0x10, 0x00, 0x05, 0x04, 74, 30})
	}
	f.Add(good)
	f.Add(good[:40])
	bad := append([]byte{}, good...)
	bad[13] ^= 0xFF
	f.Add(bad)
	f.Add(append([]byte{0xFF, 0xFF, 0x01, 0xFE, 0x00}, good...))
	f.Add(feetech.AppendStatus(nil, 3, byte(feetech.StatusOverload), []byte{1, 2, 3, 4, 5, 6, 7, 8}))
	f.Add([]byte{0xFF, 0xFF, 0xFE, 0x0A, 0x82, 0x38, 0x08, 1, 2, 3, 4, 5, 6, 0x1C})

	d, err := robot.Load("so101-follower")
	if err != nil {
		f.Fatal(err)
	}
	fb, err := sim.NewFeetechBus(d, "arm", sim.FeetechConfig{})
	if err != nil {
		f.Fatal(err)
	}
	port := &replayPort{inner: fb.Port(nil)}
	cfg, _ := feetech.ConfigFromDescription(d, "arm", nil)
	cfg.Logger = quiet()
	cfg.Latency = 100 * time.Microsecond
	cfg.Budget = 2 * time.Millisecond
	bus := feetech.NewBus(port, cfg)
	if err := bus.Configure(f.Context()); err != nil {
		f.Fatal(err)
	}
	port.mu.Lock()
	port.active = true
	port.mu.Unlock()
	var s robot.State
	f.Fuzz(func(t *testing.T, reply []byte) {
		port.mu.Lock()
		port.replay = reply
		port.mu.Unlock()
		for j := range 6 {
			s.Position[j] = -100
		}
		t0 := time.Now()
		err := bus.Read(t0, &s)
		// Bounded: the budget, plus slack for a loaded machine (fuzzing
		// workers share it) — what this catches is a Read that never ends.
		if took := time.Since(t0); took > bus.Budget()+time.Second {
			t.Fatalf("Read took %v, budget %v", took, bus.Budget())
		}
		if err != nil && !feetech.IsTransient(err) && err != feetech.ErrHardware {
			t.Fatalf("unclassified error %v", err)
		}
		for j := range 6 {
			fresh := s.Position[j] != -100
			lost := s.Fault[j]&(robot.FaultNoReply|robot.FaultCorrupt) != 0
			if fresh == lost {
				t.Fatalf("joint %d: fresh %v, faults %v", j, fresh, s.Fault[j])
			}
		}
	})
}
