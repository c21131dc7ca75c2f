package sim_test

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/drivers/feetech"
	"github.com/anther-robotics/anther/firmware/sts3215"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
)

// fhost is a minimal Feetech master for the tests.
type fhost struct {
	t    testing.TB
	port port
	dec  feetech.Decoder
	rx   [1024]byte
}

func newFHost(t testing.TB, p port) *fhost {
	if err := p.SetReadTimeout(hostTimeout); err != nil {
		t.Fatal(err)
	}
	return &fhost{t: t, port: p, dec: feetech.Decoder{Status: true}}
}

// txrx sends req and collects up to want status packets (copies).
func (h *fhost) txrx(req []byte, want int) []feetech.Packet {
	h.t.Helper()
	if _, err := h.port.Write(req); err != nil {
		h.t.Fatal(err)
	}
	var got []feetech.Packet
	for len(got) < want {
		n, err := h.port.Read(h.rx[:])
		if err != nil {
			h.t.Fatal(err)
		}
		if n == 0 {
			break
		}
		h.dec.Write(h.rx[:n])
		for {
			p, err := h.dec.Next()
			if err == feetech.ErrNeedMore {
				break
			}
			if err != nil {
				continue
			}
			p.Params = bytes.Clone(p.Params)
			got = append(got, p)
		}
	}
	return got
}

func so101Bus(t testing.TB, cfg sim.FeetechConfig) *sim.FeetechBus {
	t.Helper()
	d, err := robot.Load("so101-follower")
	if err != nil {
		t.Fatal(err)
	}
	fb, err := sim.NewFeetechBus(d, "arm", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return fb
}

func TestFeetechBusWireTime(t *testing.T) {
	fb := so101Bus(t, sim.FeetechConfig{})
	clk := control.NewSteppedClock(time.Unix(0, 0))
	h := newFHost(t, fb.Port(clk))
	if got := fb.IDs(); !bytes.Equal(got, []byte{1, 2, 3, 4, 5, 6}) || fb.Baud() != 1000000 || fb.Name() != "arm" {
		t.Fatalf("ids %v baud %d", got, fb.Baud())
	}
	// The per-tick SYNC_READ: 14 B out, 6 × 14 B back, 6 × 10 µs processing.
	t0 := clk.Now()
	rs := h.txrx(feetech.AppendSyncRead(nil, 56, 8, []byte{1, 2, 3, 4, 5, 6}), 6)
	if len(rs) != 6 {
		t.Fatalf("%d replies", len(rs))
	}
	for i, r := range rs {
		if r.ID != byte(i+1) || len(r.Params) != 8 || feetech.PresentPosition.Decode(r.Params) != 2048 {
			t.Errorf("reply %d: %+v", i, r)
		}
	}
	if got, want := clk.Now().Sub(t0), (14+6*14)*10*time.Microsecond+6*10*time.Microsecond; got != want {
		t.Errorf("sync read took %v, want %v", got, want)
	}
	// Broadcast PING: every servo, in ID order.
	if rs := h.txrx(feetech.AppendPing(nil, feetech.BroadcastID), 6); len(rs) != 6 || rs[5].ID != 6 {
		t.Errorf("broadcast ping: %+v", rs)
	}
	// A damaged instruction gets no reply.
	bad := feetech.AppendPing(nil, 1)
	bad[len(bad)-1] ^= 1
	if rs := h.txrx(bad, 1); len(rs) != 0 {
		t.Errorf("reply to a damaged instruction: %+v", rs)
	}
	// Faults: a dropped reply, a corrupt one, garbage, a silent servo.
	fb.DropNextReply(2)
	fb.CorruptNextReply(3)
	fb.InjectGarbage([]byte{0xFF, 0x00, 0xFF})
	fb.Silence(5, true)
	rs = h.txrx(feetech.AppendSyncRead(nil, 56, 2, []byte{1, 2, 3, 4, 5, 6}), 3)
	ids := []byte{}
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	if !bytes.Equal(ids, []byte{1, 4, 6}) {
		t.Errorf("replies from %v, want 1, 4, 6", ids)
	}
	st := fb.Stats()
	if st.Instructions == 0 || st.Replies == 0 || st.BytesIn == 0 || st.BytesOut == 0 {
		t.Errorf("stats %+v", st)
	}
	// Another rate: deaf.
	if err := fb.SetBaud(500000); err != nil {
		t.Fatal(err)
	}
	if rs := h.txrx(feetech.AppendPing(nil, 1), 1); len(rs) != 0 {
		t.Error("servo answered at the wrong rate")
	}
	if err := fb.SetBaud(12345); err == nil {
		t.Error("odd baud accepted")
	}
}

func TestFeetechBusHandAndServo(t *testing.T) {
	fb := so101Bus(t, sim.FeetechConfig{})
	clk := control.NewSteppedClock(time.Unix(0, 0))
	h := newFHost(t, fb.Port(clk))
	// The hand moves the limp arm.
	fb.SetHand(&sim.Hand{Target: func(tt time.Duration, j robot.JointIndex) (float64, bool) {
		if j != 1 {
			return 0, false
		}
		return 0.8 * min(1, tt.Seconds()), true
	}})
	fb.AdvanceTo(1500 * time.Millisecond)
	var s robot.State
	fb.Snapshot(&s)
	if math.Abs(s.Position[1]-0.8) > 0.03 || s.Position[0] != 0 {
		t.Errorf("hand: joints %v", s.Position[:6])
	}
	fb.SetHand(nil)
	// The servo firmware holds joint 2 against nothing and moves it.
	clk.SleepUntil(clk.Now().Add(1500 * time.Millisecond))
	h.txrx(feetech.AppendWrite(nil, 3, feetech.TorqueEnable.Addr(), []byte{1}), 1)
	h.txrx(feetech.AppendWrite(nil, 3, feetech.GoalPosition.Addr(), feetech.GoalPosition.Append(nil, 2048+512)), 1)
	fb.AdvanceTo(3500 * time.Millisecond)
	fb.Snapshot(&s)
	if math.Abs(s.Position[2]-math.Pi/4) > 0.01 {
		t.Errorf("servo to π/4: %.4f", s.Position[2])
	}
	var temp float64
	fb.WithDevice(3, fb.Physics(), func(d *sts3215.Device) { temp = d.Temperature() })
	if s.Temperature[2] != temp || temp < 20 {
		t.Errorf("temperature %v %v", s.Temperature[2], temp)
	}
	// A power cycle drops the torque; an injected fault shows in the status.
	if !fb.PowerCycle(3, fb.Physics()) || !fb.InjectFault(4, feetech.StatusOverheat, fb.Physics()) {
		t.Fatal("no device")
	}
	rs := h.txrx(feetech.AppendPing(nil, 4), 1)
	if len(rs) != 1 || feetech.StatusError(rs[0].Err) != feetech.StatusOverheat {
		t.Errorf("fault: %+v", rs)
	}
}

func TestFeetechBusErrors(t *testing.T) {
	d, _ := robot.Load("so101-follower")
	if _, err := sim.NewFeetechBus(d, "nope", sim.FeetechConfig{}); err == nil {
		t.Error("unknown bus accepted")
	}
	if _, err := sim.NewFeetechBus(d, "arm", sim.FeetechConfig{Baud: 12345}); err == nil {
		t.Error("odd baud accepted")
	}
	r, _ := robot.Load("reachy-mini")
	if _, err := sim.NewFeetechBus(r, "main", sim.FeetechConfig{}); err == nil {
		t.Error("dynamixel bus accepted")
	}
	for _, tc := range []struct {
		d   *robot.Description
		bus string
	}{{d, "arm"}, {r, "main"}} {
		h, err := sim.NewHosted(tc.d, tc.bus, 0)
		if err != nil || h.Name() != tc.bus {
			t.Errorf("NewHosted %s: %v", tc.bus, err)
		}
	}
}
