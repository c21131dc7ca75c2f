package sim_test

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/drivers/dynamixel"
	"github.com/anther-robotics/anther/firmware/actuator"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
)

// reachyIDs are Reachy Mini's motor IDs, and reachyModels their model
// numbers (hardware.md §1.1).
var (
	reachyIDs    = []byte{10, 11, 12, 13, 14, 15, 16, 17, 18}
	reachyModels = []uint16{1240, 1200, 1200, 1200, 1200, 1200, 1200, 1190, 1190}
)

// port is the host driver's view of a serial port.
type port interface {
	Read([]byte) (int, error)
	Write([]byte) (int, error)
	SetReadTimeout(time.Duration) error
	ResetInputBuffer() error
}

// host is a minimal Protocol 2.0 master for the tests.
type host struct {
	t    testing.TB
	port port
	dec  dynamixel.Decoder
	rx   [1024]byte
	bad  int // damaged packets seen
}

func newHost(t testing.TB, p port) *host {
	if err := p.SetReadTimeout(hostTimeout); err != nil {
		t.Fatal(err)
	}
	return &host{t: t, port: p}
}

// txrx sends req and collects up to want status packets (copies), stopping
// at a read timeout.
func (h *host) txrx(req []byte, want int) []dynamixel.Packet {
	h.t.Helper()
	if _, err := h.port.Write(req); err != nil {
		h.t.Fatal(err)
	}
	var got []dynamixel.Packet
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
			if err == dynamixel.ErrNeedMore {
				break
			}
			if err != nil {
				h.bad++
				continue
			}
			p.Params = bytes.Clone(p.Params)
			got = append(got, p)
		}
	}
	return got
}

func reachy(t testing.TB) *robot.Description {
	d, err := robot.Load("reachy-mini")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// stepped returns a virtual bus on Reachy Mini's bus and an in-process port
// on a stepped clock.
func stepped(t testing.TB, cfg sim.VirtualConfig) (*sim.VirtualBus, *sim.Port, *control.SteppedClock) {
	vb, err := sim.NewVirtualBus(reachy(t), "main", cfg)
	if err != nil {
		t.Fatal(err)
	}
	clk := control.NewSteppedClock(time.Unix(0, 0))
	return vb, vb.Port(clk), clk
}

func TestVirtualBusPing(t *testing.T) {
	vb, p, clk := stepped(t, sim.VirtualConfig{})
	h := newHost(t, p)
	for i, id := range reachyIDs {
		rs := h.txrx(dynamixel.AppendPing(nil, id), 1)
		if len(rs) != 1 || rs[0].ID != id || dynamixel.Uint16(rs[0].Params) != reachyModels[i] {
			t.Fatalf("PING %d: %+v", id, rs)
		}
	}
	// Broadcast: every motor, in ID order; 10 B out, 9 × 14 B back at 1 Mbps.
	t0 := clk.Now()
	rs := h.txrx(dynamixel.AppendPing(nil, dynamixel.BroadcastID), 9)
	if len(rs) != 9 {
		t.Fatalf("%d replies to broadcast PING", len(rs))
	}
	for i, r := range rs {
		if r.ID != reachyIDs[i] {
			t.Errorf("reply %d from %d", i, r.ID)
		}
	}
	if got, want := clk.Now().Sub(t0), (10+9*14)*10*time.Microsecond+9*10*time.Microsecond; got != want {
		t.Errorf("broadcast PING took %v, want %v", got, want)
	}
	h.txrx(dynamixel.AppendPing(nil, 1), 1) // nobody: times out
	if vb.Stats().Replies != 18 {
		t.Errorf("stats %+v", vb.Stats())
	}
}

func TestVirtualBusSyncReadTiming(t *testing.T) {
	for _, baud := range []int{57600, 1000000, 4000000} {
		_, p, clk := stepped(t, sim.VirtualConfig{Baud: baud})
		h := newHost(t, p)
		h.port.SetReadTimeout(100 * time.Millisecond)
		t0 := clk.Now()
		rs := h.txrx(dynamixel.AppendSyncRead(nil, 126, 10, reachyIDs), 9)
		if len(rs) != 9 {
			t.Fatalf("%d bps: %d replies", baud, len(rs))
		}
		for i, r := range rs {
			pos := dynamixel.Int32(r.Params[6:])
			if r.ID != reachyIDs[i] || r.Err != 0 || len(r.Params) != 10 || pos != 2048 {
				t.Errorf("%d bps: reply %d: %+v, position %d", baud, i, r, pos)
			}
		}
		// §3.9: SYNC READ 10 B × 9 is 212 B; plus 10 µs processing each.
		want := time.Duration(212*10*int64(time.Second)/int64(baud)) + 90*time.Microsecond
		if got := clk.Now().Sub(t0); got < want-2*time.Microsecond || got > want+2*time.Microsecond {
			t.Errorf("%d bps: SYNC READ took %v, want %v", baud, got, want)
		}
	}
}

// goals encodes Goal Position ticks for the nine motors.
func goals(ticks ...int32) []byte {
	var b []byte
	for _, v := range ticks {
		b = dynamixel.AppendUint32(b, uint32(v))
	}
	return b
}

func TestVirtualBusSyncWriteMovesJoints(t *testing.T) {
	vb, p, clk := stepped(t, sim.VirtualConfig{})
	h := newHost(t, p)
	h.txrx(dynamixel.AppendSyncWrite(nil, actuator.AddrTorqueEnable, 1, reachyIDs, bytes.Repeat([]byte{1}, 9)), 0)
	target := []int32{2048 + 300, 2048 + 200, 2048 - 200, 2048 + 100, 2048 - 100, 2048 + 50, 2048 - 50, 2048 + 600, 2048 - 600}
	t0 := clk.Now()
	h.txrx(dynamixel.AppendSyncWrite(nil, actuator.AddrGoalPosition, 4, reachyIDs, goals(target...)), 0)
	// SYNC WRITE 4 B × 9 is 59 B (§3.9): 590 µs of wire time at 1 Mbps,
	// spent by the next transaction, which waits for the line.
	var rs []dynamixel.Packet
	for range 100 { // 1 s of 10 ms ticks
		clk.SleepUntil(clk.Now().Add(10 * time.Millisecond))
		rs = h.txrx(dynamixel.AppendSyncRead(nil, 126, 10, reachyIDs), 9)
	}
	if len(rs) != 9 {
		t.Fatalf("%d replies", len(rs))
	}
	var s robot.State
	vb.Snapshot(&s)
	d := reachy(t)
	for i, r := range rs {
		pos := dynamixel.Int32(r.Params[6:])
		if math.Abs(float64(pos-target[i])) > 15 {
			t.Errorf("motor %d at %d, want %d", r.ID, pos, target[i])
		}
		j := d.Joints[i]
		want := float64(j.Direction)*float64(target[i]-2048)*2*math.Pi/4096 + float64(j.Offset)
		if math.Abs(s.Position[i]-want) > 0.03 {
			t.Errorf("joint %s at %.3f rad, want %.3f", j.Name, s.Position[i], want)
		}
	}
	if el := clk.Now().Sub(t0); el < time.Second {
		t.Errorf("elapsed %v", el)
	}
}

func TestVirtualBusFast(t *testing.T) {
	vb, p, _ := stepped(t, sim.VirtualConfig{})
	h := newHost(t, p)
	rs := h.txrx(dynamixel.AppendFastSyncRead(nil, 132, 4, reachyIDs), 1)
	if len(rs) != 1 || rs[0].ID != dynamixel.BroadcastID {
		t.Fatalf("FAST SYNC READ: %+v", rs)
	}
	fr := dynamixel.NewFastReader(rs[0])
	for _, id := range reachyIDs {
		rec, err := fr.Next(4)
		if err != nil || rec.ID != id || dynamixel.Int32(rec.Data) != 2048 {
			t.Fatalf("record %d: %+v, %v", id, rec, err)
		}
	}
	if !fr.Done() {
		t.Error("extra bytes in the fast reply")
	}
	// A dropped device truncates the combined reply: the host gets nothing
	// whole.
	vb.DropNextReply(13)
	if rs := h.txrx(dynamixel.AppendFastSyncRead(nil, 132, 4, reachyIDs), 1); len(rs) != 0 {
		t.Errorf("truncated fast reply decoded: %+v", rs)
	}
	h.dec.Reset()
	rs = h.txrx(dynamixel.AppendFastBulkRead(nil, []dynamixel.BulkReadReq{{ID: 17, Addr: 0, Size: 2}, {ID: 10, Addr: 146, Size: 1}}), 1)
	if len(rs) != 1 {
		t.Fatalf("FAST BULK READ: %+v", rs)
	}
	fr = dynamixel.NewFastReader(rs[0])
	if rec, _ := fr.Next(2); dynamixel.Uint16(rec.Data) != 1190 {
		t.Errorf("model of 17: %+v", rec)
	}
	if rec, _ := fr.Next(1); rec.ID != 10 || rec.Data[0] != 25 {
		t.Errorf("temperature of 10: %+v", rec)
	}
}

func TestVirtualBusFaults(t *testing.T) {
	vb, p, clk := stepped(t, sim.VirtualConfig{})
	h := newHost(t, p)
	read := func() []dynamixel.Packet {
		return h.txrx(dynamixel.AppendSyncRead(nil, 132, 4, reachyIDs), 9)
	}
	vb.CorruptNextReply(12)
	if rs := read(); len(rs) != 8 || h.bad != 1 {
		t.Errorf("corrupt: %d replies, %d bad", len(rs), h.bad)
	}
	vb.DropNextReply(15)
	if rs := read(); len(rs) != 8 || rs[5].ID != 16 {
		t.Errorf("drop: %d replies", len(rs))
	}
	vb.InjectGarbage([]byte{0xFF, 0xFF, 0x00, 0x55, 0xFD})
	if rs := read(); len(rs) != 9 || h.dec.Stats().Garbage < 5 {
		t.Errorf("garbage: %d replies, stats %+v", len(rs), h.dec.Stats())
	}
	// Reboot mid-run: torque of 11 off again.
	h.txrx(dynamixel.AppendSyncWrite(nil, actuator.AddrTorqueEnable, 1, reachyIDs, bytes.Repeat([]byte{1}, 9)), 0)
	vb.Reboot(11, p.Now())
	rs := h.txrx(dynamixel.AppendSyncRead(nil, actuator.AddrTorqueEnable, 1, reachyIDs), 9)
	for _, r := range rs {
		if want := byte(1); r.ID == 11 {
			want = 0
			if r.Params[0] != want {
				t.Errorf("torque of 11 after reboot = %d", r.Params[0])
			}
		} else if r.Params[0] != want {
			t.Errorf("torque of %d = %d", r.ID, r.Params[0])
		}
	}
	// Overheating: alert on every status of 14 until REBOOT.
	vb.InjectHardwareError(14, actuator.ErrorOverheating, p.Now())
	rs = read()
	if !rs[4].Alert() || rs[3].Alert() {
		t.Errorf("alert bits: 14 %v, 13 %v", rs[4].Alert(), rs[3].Alert())
	}
	h.txrx(dynamixel.AppendReboot(nil, 14), 1)
	if rs = read(); rs[4].Alert() {
		t.Error("alert after REBOOT")
	}
	// Wrong baud: silence.
	if err := p.SetBaud(57600); err != nil {
		t.Fatal(err)
	}
	if rs := read(); len(rs) != 0 {
		t.Errorf("%d replies at the wrong baud", len(rs))
	}
	p.SetBaud(1000000)
	// Unplug.
	p.Unplug()
	if _, err := p.Write(dynamixel.AppendPing(nil, 10)); !errors.Is(err, sim.ErrUnplugged) {
		t.Errorf("write after unplug: %v", err)
	}
	if _, err := p.Read(make([]byte, 8)); !errors.Is(err, sim.ErrUnplugged) {
		t.Errorf("read after unplug: %v", err)
	}
	_ = clk
}

func TestVirtualBusDeterministic(t *testing.T) {
	run := func() robot.State {
		vb, p, clk := stepped(t, sim.VirtualConfig{})
		h := newHost(t, p)
		h.txrx(dynamixel.AppendSyncWrite(nil, actuator.AddrTorqueEnable, 1, reachyIDs, bytes.Repeat([]byte{1}, 9)), 0)
		for k := range 50 {
			g := int32(2048 + 10*k)
			h.txrx(dynamixel.AppendSyncWrite(nil, actuator.AddrGoalPosition, 4, reachyIDs, goals(g, g, g, g, g, g, g, g, g)), 0)
			h.txrx(dynamixel.AppendSyncRead(nil, 126, 10, reachyIDs), 9)
			clk.SleepUntil(clk.Now().Add(7 * time.Millisecond))
		}
		var s robot.State
		vb.Snapshot(&s)
		return s
	}
	if a, b := run(), run(); a != b {
		t.Errorf("two runs differ:\n%v\n%v", a.Position[:9], b.Position[:9])
	}
}

func TestVirtualBusNoClock(t *testing.T) {
	vb, err := sim.NewVirtualBus(reachy(t), "main", sim.VirtualConfig{})
	if err != nil {
		t.Fatal(err)
	}
	p := vb.Port(nil)
	h := newHost(t, p)
	if rs := h.txrx(dynamixel.AppendSyncRead(nil, 132, 4, reachyIDs), 9); len(rs) != 9 {
		t.Fatalf("%d replies", len(rs))
	}
	if p.Now() != (14+9+9*15)*10*time.Microsecond+90*time.Microsecond {
		t.Errorf("virtual time %v", p.Now())
	}
}

func TestNewVirtualBusErrors(t *testing.T) {
	d := reachy(t)
	if _, err := sim.NewVirtualBus(d, "nope", sim.VirtualConfig{}); err == nil {
		t.Error("unknown bus accepted")
	}
	if _, err := sim.NewVirtualBus(d, "main", sim.VirtualConfig{Baud: 12345}); err == nil {
		t.Error("bad baud accepted")
	}
	so, err := robot.Load("so101-follower")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.NewVirtualBus(so, so.Buses[0].Name, sim.VirtualConfig{}); err == nil {
		t.Error("feetech bus accepted")
	}
}

// BenchmarkVirtualBusTick is one control tick of Reachy Mini over the
// in-process port: SYNC WRITE of 9 goals, SYNC READ of 10 B from 9 motors.
func BenchmarkVirtualBusTick(b *testing.B) {
	_, p, _ := stepped(b, sim.VirtualConfig{})
	h := newHost(b, p)
	wr := dynamixel.AppendSyncWrite(nil, actuator.AddrGoalPosition, 4, reachyIDs, goals(2048, 2048, 2048, 2048, 2048, 2048, 2048, 2048, 2048))
	rd := dynamixel.AppendSyncRead(nil, 126, 10, reachyIDs)
	b.ReportAllocs()
	for b.Loop() {
		p.Write(wr)
		p.Write(rd)
		for got := 0; got < 9; {
			n, _ := p.Read(h.rx[:])
			if n == 0 {
				b.Fatal("timeout")
			}
			h.dec.Write(h.rx[:n])
			for {
				if _, err := h.dec.Next(); err != nil {
					break
				}
				got++
			}
		}
	}
}

// hostTimeout is the test host's read timeout.
const hostTimeout = 200 * time.Millisecond

func TestVirtualBusCRCErrorReply(t *testing.T) {
	_, p, _ := stepped(t, sim.VirtualConfig{})
	h := newHost(t, p)
	req := dynamixel.AppendRead(nil, 12, actuator.AddrPresentPosition, 4)
	req[len(req)-1] ^= 0xFF
	rs := h.txrx(req, 1)
	if len(rs) != 1 || rs[0].ID != 12 || rs[0].ErrNum() != dynamixel.ErrNumCRC {
		t.Fatalf("reply to a damaged READ: %+v", rs)
	}
	if rs := h.txrx(dynamixel.AppendRead(nil, 12, actuator.AddrPresentPosition, 4), 1); len(rs) != 1 || rs[0].ErrNum() != 0 {
		t.Fatalf("next READ: %+v", rs)
	}
}

func TestVirtualBusAllocs(t *testing.T) {
	_, p, _ := stepped(t, sim.VirtualConfig{})
	wr := dynamixel.AppendSyncWrite(nil, actuator.AddrGoalPosition, 4, reachyIDs, goals(2048, 2048, 2048, 2048, 2048, 2048, 2048, 2048, 2048))
	rd := dynamixel.AppendSyncRead(nil, 126, 10, reachyIDs)
	fast := dynamixel.AppendFastSyncRead(nil, 126, 10, reachyIDs)
	rx := make([]byte, 1024)
	n := testing.AllocsPerRun(50, func() {
		p.Write(wr)
		p.Write(rd)
		for got := 0; got < 9*21; {
			k, _ := p.Read(rx)
			if k == 0 {
				t.Fatal("timeout")
			}
			got += k
		}
		p.Write(fast)
		for got := 0; got < 8+9*14; {
			k, _ := p.Read(rx)
			if k == 0 {
				t.Fatal("timeout")
			}
			got += k
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per tick", n)
	}
}
