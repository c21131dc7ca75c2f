//go:build linux

package sim_test

import (
	"bytes"
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"go.bug.st/serial"

	"github.com/anther-robotics/anther/drivers/dynamixel"
	"github.com/anther-robotics/anther/firmware/actuator"
	"github.com/anther-robotics/anther/sim"
)

// servePty starts Reachy Mini's bus on a pty and opens its slave as a host
// would open /dev/ttyUSB0 (no modem bits: ptys refuse them).
func servePty(t testing.TB, baud int) (*sim.VirtualBus, *sim.Pty, serial.Port) {
	t.Helper()
	vb, err := sim.NewVirtualBus(reachy(t), "main", sim.VirtualConfig{Baud: baud})
	if err != nil {
		t.Fatal(err)
	}
	pt, err := sim.NewPty(vb, sim.PtyConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pt.Run(ctx) }()
	sp, err := serial.Open(pt.Path(), &serial.Mode{BaudRate: baud})
	if err != nil {
		cancel()
		t.Fatalf("open %s: %v", pt.Path(), err)
	}
	t.Cleanup(func() {
		sp.Close()
		cancel()
		if err := <-done; err != nil && err != sim.ErrUnplugged {
			t.Errorf("Run: %v", err)
		}
	})
	return vb, pt, sp
}

// newPtyHost is newHost with a long read timeout: on a loaded machine
// (the race detector, CI running packages in parallel) the wall clock
// serves the pty late now and then.
func newPtyHost(t testing.TB, sp serial.Port) *host {
	h := newHost(t, sp)
	if err := sp.SetReadTimeout(time.Second); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestPtyReachyMini(t *testing.T) {
	vb, _, sp := servePty(t, 1000000)
	h := newPtyHost(t, sp)
	for i, id := range reachyIDs {
		rs := h.txrx(dynamixel.AppendPing(nil, id), 1)
		if len(rs) != 1 || rs[0].ID != id || dynamixel.Uint16(rs[0].Params) != reachyModels[i] {
			t.Fatalf("PING %d: %+v", id, rs)
		}
	}
	if rs := h.txrx(dynamixel.AppendPing(nil, dynamixel.BroadcastID), 9); len(rs) != 9 {
		t.Fatalf("broadcast PING: %d replies", len(rs))
	}
	// SYNC READ of the 126..135 block, timed against the wire model.
	rd := dynamixel.AppendSyncRead(nil, 126, 10, reachyIDs)
	model := 212*10*time.Microsecond + 90*time.Microsecond
	var took []time.Duration
	for range 30 {
		t0 := time.Now()
		rs := h.txrx(rd, 9)
		took = append(took, time.Since(t0))
		if len(rs) != 9 {
			t.Fatalf("SYNC READ: %d replies", len(rs))
		}
		for i, r := range rs {
			if r.ID != reachyIDs[i] || dynamixel.Int32(r.Params[6:]) != 2048 {
				t.Fatalf("reply %d: %+v", i, r)
			}
		}
	}
	slices.Sort(took)
	med := took[len(took)/2]
	t.Logf("SYNC READ 10 B × 9 at 1 Mbps: model %v, median %v, min %v, max %v", model, med, took[0], took[len(took)-1])
	if med < model-100*time.Microsecond || med > model+10*time.Millisecond {
		t.Errorf("median %v outside the model %v (−100 µs, +10 ms)", med, model)
	}
	// Torque on, goals: the joints move.
	h.txrx(dynamixel.AppendSyncWrite(nil, actuator.AddrTorqueEnable, 1, reachyIDs, bytes.Repeat([]byte{1}, 9)), 0)
	target := []int32{2348, 2248, 1848, 2148, 1948, 2098, 1998, 2648, 1448}
	h.txrx(dynamixel.AppendSyncWrite(nil, actuator.AddrGoalPosition, 4, reachyIDs, goals(target...)), 0)
	// The joints get there (within 1 s; longer on a machine so loaded that
	// the physics skips time).
	var rs []dynamixel.Packet
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		rs = h.txrx(rd, 9)
		arrived := len(rs) == 9
		for i := 0; arrived && i < 9; i++ {
			arrived = math.Abs(float64(dynamixel.Int32(rs[i].Params[6:])-target[i])) <= 15
		}
		if arrived {
			t.Logf("joints at their goals after %v (physics skipped %v)", time.Since(start).Round(time.Millisecond), vb.Stats().Skipped)
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("joints not at their goals after 10 s: %+v", rs)
		}
	}
	if st := vb.Stats(); st.Instructions < 40 {
		t.Errorf("stats %+v", st)
	}
}

func TestPtyFaultsAndUnplug(t *testing.T) {
	vb, pt, sp := servePty(t, 1000000)
	h := newPtyHost(t, sp)
	rd := dynamixel.AppendSyncRead(nil, 132, 4, reachyIDs)
	vb.CorruptNextReply(dynamixel.BroadcastID)
	if rs := h.txrx(rd, 9); len(rs) != 8 || h.bad != 1 {
		t.Errorf("corrupt: %d replies, %d bad", len(rs), h.bad)
	}
	vb.InjectHardwareError(18, actuator.ErrorOverheating, pt.Now())
	if rs := h.txrx(rd, 9); len(rs) != 9 || !rs[8].Alert() {
		t.Errorf("overheat: %+v", rs)
	}
	if err := pt.Unplug(); err != nil {
		t.Fatal(err)
	}
	// The host notices: its reads or writes fail (or stay silent).
	var failed bool
	for range 3 {
		if _, err := sp.Write(rd); err != nil {
			failed = true
			break
		}
		if n, err := sp.Read(h.rx[:]); err != nil {
			failed = true
			break
		} else if n > 0 {
			t.Fatalf("%d bytes after unplug", n)
		}
	}
	t.Logf("host saw an I/O error after unplug: %v", failed)
}

// BenchmarkPtyTick is one Reachy Mini tick over a pty: SYNC WRITE of 9
// goals, then SYNC READ of 10 B from 9 motors. It reports the wire-time
// limit of §3.9 (271 B) and limit/measured.
func BenchmarkPtyTick(b *testing.B) {
	for _, baud := range []int{1000000, 4000000} {
		b.Run(map[int]string{1000000: "1Mbps", 4000000: "4Mbps"}[baud], func(b *testing.B) {
			_, _, sp := servePty(b, baud)
			h := newHost(b, sp)
			wr := dynamixel.AppendSyncWrite(nil, actuator.AddrGoalPosition, 4, reachyIDs, goals(2048, 2048, 2048, 2048, 2048, 2048, 2048, 2048, 2048))
			rd := dynamixel.AppendSyncRead(nil, 126, 10, reachyIDs)
			limit := time.Duration((len(wr) + len(rd) + 9*21) * 10 * int(time.Second) / baud)
			b.ResetTimer()
			for b.Loop() {
				sp.Write(wr)
				if rs := h.txrx(rd, 9); len(rs) != 9 {
					b.Fatalf("%d replies", len(rs))
				}
			}
			per := b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(float64(limit.Microseconds()), "limit-µs")
			b.ReportMetric(float64(limit)/float64(per), "limit/measured")
		})
	}
}
