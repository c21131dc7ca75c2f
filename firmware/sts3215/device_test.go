package sts3215_test

import (
	"bytes"
	"encoding/hex"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/anther-robotics/anther/drivers/feetech"
	"github.com/anther-robotics/anther/firmware/sts3215"
)

func hx(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// handle parses one instruction packet and runs it on d.
func handle(t testing.TB, d *sts3215.Device, pkt []byte) ([]byte, sts3215.Reply) {
	t.Helper()
	p, n, err := feetech.ParsePacket(pkt, false)
	if err != nil || n != len(pkt) {
		t.Fatalf("bad instruction % X: %v", pkt, err)
	}
	out, r := d.Handle(0, p, make([]byte, 0, feetech.MaxPacket))
	return out, r
}

// TestSpecVectors answers the instructions of spec/hardware.md §4.1 with
// the replies listed there.
func TestSpecVectors(t *testing.T) {
	d := sts3215.NewDevice(sts3215.DefaultMotor(), 1)
	d.Sense(float64(0x0518-2048)/sts3215.Resolution*2*math.Pi, 0) // present position 0x0518
	for _, tc := range []struct{ name, req, reply string }{
		{"ping", "FF FF 01 02 01 FB", "FF FF 01 02 00 FC"},
		{"read present position", "FF FF 01 04 02 38 02 BE", "FF FF 01 04 00 18 05 DD"},
		{"broadcast action", "FF FF FE 02 05 FA", ""},
		{"torque enable", "FF FF 01 04 03 28 01 CE", "FF FF 01 02 00 FC"},
		{"goal 2048", "FF FF 01 05 03 2A 00 08 C4", "FF FF 01 02 00 FC"},
	} {
		out, r := handle(t, d, hx(t, tc.req))
		if want := hx(t, tc.reply); !bytes.Equal(out, want) || (len(want) > 0) != (r.Kind == sts3215.StatusReply) {
			t.Errorf("%s: got % X (%v), want % X", tc.name, out, r.Kind, want)
		}
	}
	if !d.TorqueEnabled() || d.Register(feetech.GoalPosition) != 2048 {
		t.Errorf("torque %v goal %d", d.TorqueEnabled(), d.Register(feetech.GoalPosition))
	}
	// SYNC READ of IDs 1 and 2 at 2048 and 1024 (§4.1's reply pair).
	d1 := sts3215.NewDevice(sts3215.DefaultMotor(), 1)
	d2 := sts3215.NewDevice(sts3215.DefaultMotor(), 2)
	d2.Sense(-math.Pi/2, 0)
	req := feetech.AppendSyncRead(nil, feetech.PresentPosition.Addr(), 2, []byte{1, 2})
	var all []byte
	for i, dev := range []*sts3215.Device{d1, d2} {
		out, r := handle(t, dev, req)
		if r.Kind != sts3215.StatusReply || r.Slot != i {
			t.Errorf("id %d: reply %+v", i+1, r)
		}
		all = append(all, out...)
	}
	if want := hx(t, "FF FF 01 04 00 00 08 F2 FF FF 02 04 00 00 04 F5"); !bytes.Equal(all, want) {
		t.Errorf("sync read replies % X, want % X", all, want)
	}
	// Broadcast ID change: no reply, applied.
	d3 := sts3215.NewDevice(sts3215.DefaultMotor(), 9)
	if out, r := handle(t, d3, hx(t, "FF FF FE 04 03 05 01 F4")); len(out) != 0 || r.Kind != sts3215.NoReply || d3.ID() != 1 {
		t.Errorf("broadcast set id: % X %+v id %d", out, r, d3.ID())
	}
}

func TestDefaultsAndReads(t *testing.T) {
	d := sts3215.NewDevice(sts3215.DefaultMotor(), 3)
	for _, f := range sts3215.Fields() {
		if f.Reg == feetech.GoalPosition || f.Reg == feetech.PresentPosition || f.Reg == feetech.ID ||
			f.Reg == feetech.PresentVoltage || f.Reg == feetech.PresentTemperature {
			continue
		}
		if got := d.Register(f.Reg); got != f.Default {
			t.Errorf("%v = %d, want %d", f.Reg, got, f.Default)
		}
	}
	if d.Register(feetech.PresentPosition) != 2048 || d.Register(feetech.PresentVoltage) != 74 || d.Register(feetech.PresentTemperature) != 25 {
		t.Errorf("present %d V %d T %d", d.Register(feetech.PresentPosition), d.Register(feetech.PresentVoltage), d.Register(feetech.PresentTemperature))
	}
	if d.ID() != 3 || d.Baud() != 1000000 || d.ReturnDelay() != 500*time.Microsecond || !d.Locked() {
		t.Errorf("id %d baud %d delay %v locked %v", d.ID(), d.Baud(), d.ReturnDelay(), d.Locked())
	}
	out, _ := handle(t, d, feetech.AppendRead(nil, 3, feetech.ModelNumber.Addr(), 2))
	p, _, err := feetech.ParsePacket(out, true)
	if err != nil || feetech.ModelNumber.Decode(p.Params) != 777 {
		t.Errorf("model number: % X %v", out, err)
	}
	// A read past the table returns zeros for the missing bytes.
	out, _ = handle(t, d, feetech.AppendRead(nil, 3, 120, 20))
	if p, _, err := feetech.ParsePacket(out, true); err != nil || len(p.Params) != 20 || !bytes.Equal(p.Params[8:], make([]byte, 12)) {
		t.Errorf("read past the table: % X", out)
	}
	// Read-only bytes are not written.
	handle(t, d, feetech.AppendWrite(nil, 3, feetech.ModelNumber.Addr(), []byte{1, 2}))
	if d.Register(feetech.ModelNumber) != 777 {
		t.Error("model number written")
	}
	// Status level 0: only PING and READ answer.
	handle(t, d, feetech.AppendWrite(nil, 3, feetech.ResponseStatusLevel.Addr(), []byte{0}))
	if out, _ := handle(t, d, feetech.AppendWrite(nil, 3, feetech.Acceleration.Addr(), []byte{10})); len(out) != 0 {
		t.Errorf("write answered at status level 0: % X", out)
	}
	if out, _ := handle(t, d, feetech.AppendPing(nil, 3)); len(out) == 0 {
		t.Error("ping unanswered at status level 0")
	}
	if d.Register(feetech.Acceleration) != 10 {
		t.Error("write not applied")
	}
	// Unknown instructions and other IDs: silence.
	if out, _ := handle(t, d, feetech.AppendInstruction(nil, 3, 0x55, nil)); len(out) != 0 {
		t.Error("unknown instruction answered")
	}
	if out, _ := handle(t, d, feetech.AppendPing(nil, 4)); len(out) != 0 {
		t.Error("answered another ID")
	}
	// An invalid ID or baud value is not stored.
	handle(t, d, feetech.AppendWrite(nil, 3, feetech.ID.Addr(), []byte{0xFE}))
	handle(t, d, feetech.AppendWrite(nil, 3, feetech.BaudRate.Addr(), []byte{9}))
	if d.ID() != 3 || d.Baud() != 1000000 {
		t.Errorf("id %d baud %d after invalid writes", d.ID(), d.Baud())
	}
}

func TestEEPROMLock(t *testing.T) {
	d := sts3215.NewDevice(sts3215.DefaultMotor(), 1)
	offset := func(v int) []byte { return feetech.HomingOffset.Append(nil, v) }
	// Locked (the power-up state): effective now, lost on power cycle.
	handle(t, d, feetech.AppendWrite(nil, 1, feetech.HomingOffset.Addr(), offset(-1024)))
	if d.Register(feetech.HomingOffset) != -1024 || d.Register(feetech.PresentPosition) != 3072 {
		t.Errorf("locked write: offset %d present %d", d.Register(feetech.HomingOffset), d.Register(feetech.PresentPosition))
	}
	if v, _ := d.Saved(feetech.HomingOffset); v != 0 {
		t.Errorf("saved while locked: %d", v)
	}
	d.PowerCycle(time.Second)
	if d.Register(feetech.HomingOffset) != 0 || !d.Locked() {
		t.Errorf("after power cycle: offset %d locked %v", d.Register(feetech.HomingOffset), d.Locked())
	}
	// Unlocked: saved.
	handle(t, d, feetech.AppendWrite(nil, 1, feetech.Lock.Addr(), []byte{0}))
	handle(t, d, feetech.AppendWrite(nil, 1, feetech.HomingOffset.Addr(), offset(1000)))
	handle(t, d, feetech.AppendWrite(nil, 1, feetech.MaxPositionLimit.Addr(), feetech.MaxPositionLimit.Append(nil, 3000)))
	handle(t, d, feetech.AppendWrite(nil, 1, feetech.Lock.Addr(), []byte{1}))
	d.PowerCycle(2 * time.Second)
	if d.Register(feetech.HomingOffset) != 1000 || d.Register(feetech.MaxPositionLimit) != 3000 {
		t.Errorf("unlocked writes lost: offset %d max %d", d.Register(feetech.HomingOffset), d.Register(feetech.MaxPositionLimit))
	}
	// Present = Actual − Homing_Offset, within one turn.
	if got := d.Register(feetech.PresentPosition); got != 2048-1000 {
		t.Errorf("present %d, want %d", got, 2048-1000)
	}
	// Sign-magnitude on the wire: -1024 is 00 0C.
	if b := offset(-1024); !bytes.Equal(b, []byte{0x00, 0x0C}) {
		t.Errorf("offset encoding % X", b)
	}
	// OFSCAL centres the present position (saved: unlocked).
	handle(t, d, feetech.AppendWrite(nil, 1, feetech.Lock.Addr(), []byte{0}))
	d.Sense(0.3, 0)
	handle(t, d, feetech.AppendInstruction(nil, 1, feetech.OffsetCalibration, nil))
	if d.Register(feetech.PresentPosition) != 2048 {
		t.Errorf("after OFSCAL: present %d", d.Register(feetech.PresentPosition))
	}
	// RESET: factory settings, ID included.
	if out, _ := handle(t, d, feetech.AppendInstruction(nil, 1, feetech.ResetSDK, nil)); len(out) == 0 {
		t.Error("reset unanswered")
	}
	if d.Register(feetech.HomingOffset) != 0 || d.Register(feetech.MaxPositionLimit) != 4095 {
		t.Errorf("after reset: offset %d max %d", d.Register(feetech.HomingOffset), d.Register(feetech.MaxPositionLimit))
	}
}

func TestRegWriteSyncWrite(t *testing.T) {
	d := sts3215.NewDevice(sts3215.DefaultMotor(), 2)
	handle(t, d, feetech.AppendRegWrite(nil, 2, feetech.Acceleration.Addr(), []byte{50}))
	if d.Register(feetech.Acceleration) != 0 {
		t.Error("REG_WRITE applied before ACTION")
	}
	handle(t, d, feetech.AppendAction(nil))
	if d.Register(feetech.Acceleration) != 50 {
		t.Error("ACTION did not apply")
	}
	data := []byte{0x00, 0x08, 0x00, 0x00, 0xE8, 0x03, 0x00, 0x04, 0x00, 0x00, 0xE8, 0x83}
	handle(t, d, feetech.AppendSyncWrite(nil, feetech.GoalPosition.Addr(), 6, []byte{1, 2}, data))
	if d.Register(feetech.GoalPosition) != 1024 || d.Register(feetech.GoalVelocity) != -1000 {
		t.Errorf("sync write: goal %d velocity %d", d.Register(feetech.GoalPosition), d.Register(feetech.GoalVelocity))
	}
}

// arm is one joint with inertia, damping and friction, driven by a device.
type arm struct {
	d        *sts3215.Device
	pos, vel float64
}

func (a *arm) run(seconds float64) {
	const dt = 250e-6
	for t := 0.0; t < seconds; t += dt {
		tau := a.d.Control(dt, a.pos, a.vel)
		acc := (tau - 0.05*a.vel) / 1e-3
		a.vel += acc * dt
		a.pos += a.vel * dt
	}
}

func TestPositionLoop(t *testing.T) {
	for _, tc := range []struct {
		name         string
		p, d, accel  byte
		speed        int
		settle       float64
		maxOvershoot float64
	}{
		{"factory", 32, 32, 0, 0, 0.8, 20},
		{"lerobot", 16, 32, 254, 0, 1.0, 20},
		{"slow profile", 32, 32, 10, 500, 3.0, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := sts3215.NewDevice(sts3215.DefaultMotor(), 1)
			a := &arm{d: d}
			a.run(0.01)
			for _, w := range [][]byte{
				feetech.AppendWrite(nil, 1, feetech.PCoefficient.Addr(), []byte{tc.p, tc.d}),
				feetech.AppendWrite(nil, 1, feetech.Acceleration.Addr(), []byte{tc.accel}),
				feetech.AppendWrite(nil, 1, feetech.GoalVelocity.Addr(), feetech.GoalVelocity.Append(nil, tc.speed)),
				feetech.AppendWrite(nil, 1, feetech.TorqueEnable.Addr(), []byte{1}),
				feetech.AppendWrite(nil, 1, feetech.GoalPosition.Addr(), feetech.GoalPosition.Append(nil, 3072)),
			} {
				handle(t, d, w)
			}
			peak := 0
			for s := 0.0; s < tc.settle; s += 0.01 {
				a.run(0.01)
				peak = max(peak, d.Register(feetech.PresentPosition))
			}
			if got := d.Register(feetech.PresentPosition); math.Abs(float64(got-3072)) > 3 {
				t.Errorf("present %d after %v s, want 3072 (pos %.3f rad)", got, tc.settle, a.pos)
			}
			if float64(peak-3072) > tc.maxOvershoot {
				t.Errorf("overshoot %d ticks", peak-3072)
			}
			if math.Abs(a.pos-math.Pi/2) > 0.01 {
				t.Errorf("shaft at %.4f rad, want π/2", a.pos)
			}
			// Torque off: the shaft is free and the loop holds nothing.
			handle(t, d, feetech.AppendWrite(nil, 1, feetech.TorqueEnable.Addr(), []byte{0}))
			if tau := d.Control(1e-3, a.pos, 1); tau != 0 {
				t.Errorf("torque %v with torque off", tau)
			}
		})
	}
}

func TestLimitsAndTorqueLimit(t *testing.T) {
	d := sts3215.NewDevice(sts3215.DefaultMotor(), 1)
	a := &arm{d: d}
	handle(t, d, feetech.AppendWrite(nil, 1, feetech.MaxPositionLimit.Addr(), feetech.MaxPositionLimit.Append(nil, 2500)))
	handle(t, d, feetech.AppendWrite(nil, 1, feetech.TorqueEnable.Addr(), []byte{1}))
	handle(t, d, feetech.AppendWrite(nil, 1, feetech.GoalPosition.Addr(), feetech.GoalPosition.Append(nil, 4000)))
	a.run(0.5)
	if got := d.Register(feetech.PresentPosition); math.Abs(float64(got-2500)) > 3 {
		t.Errorf("goal beyond the limit: present %d, want 2500", got)
	}
	// Torque_Limit bounds the duty.
	handle(t, d, feetech.AppendWrite(nil, 1, feetech.TorqueLimit.Addr(), feetech.TorqueLimit.Append(nil, 100)))
	handle(t, d, feetech.AppendWrite(nil, 1, feetech.GoalPosition.Addr(), feetech.GoalPosition.Append(nil, 1000)))
	a.run(0.01)
	if l := d.Register(feetech.PresentLoad); l < -101 || l > 101 {
		t.Errorf("load %d with a 10%% torque limit", l)
	}
	if d.Register(feetech.Moving) != 1 {
		t.Error("not moving")
	}
}

func TestProtections(t *testing.T) {
	d := sts3215.NewDevice(sts3215.DefaultMotor(), 1)
	handle(t, d, feetech.AppendWrite(nil, 1, feetech.TorqueEnable.Addr(), []byte{1}))
	d.SetTemperature(80)
	out, _ := handle(t, d, feetech.AppendPing(nil, 1))
	p, _, _ := feetech.ParsePacket(out, true)
	if !feetech.StatusError(p.Err).Has(feetech.StatusOverheat) || d.TorqueEnabled() {
		t.Errorf("overheat: status %v torque %v", feetech.StatusError(p.Err), d.TorqueEnabled())
	}
	if d.Register(feetech.Status)&int(feetech.StatusOverheat) == 0 {
		t.Error("Status register")
	}
	d.SetTemperature(30)
	if d.Conditions() != 0 {
		t.Errorf("conditions %v after cooling", d.Conditions())
	}
	// Stall against a wall: overload after Protection_Time, torque unloaded.
	handle(t, d, feetech.AppendWrite(nil, 1, feetech.TorqueEnable.Addr(), []byte{1}))
	handle(t, d, feetech.AppendWrite(nil, 1, feetech.GoalPosition.Addr(), feetech.GoalPosition.Append(nil, 3000)))
	for i := 0; i < 2500 && d.TorqueEnabled(); i++ {
		d.Control(1e-3, 0, 0) // held at 2048
	}
	if d.Conditions()&feetech.StatusOverload == 0 || d.TorqueEnabled() {
		t.Errorf("stall: conditions %v torque %v", d.Conditions(), d.TorqueEnabled())
	}
	// Injected angle fault: until power cycle.
	d.InjectFault(feetech.StatusAngle)
	if d.Conditions()&feetech.StatusAngle == 0 {
		t.Error("injected fault not raised")
	}
	d.PowerCycle(time.Minute)
	if d.Conditions() != 0 {
		t.Errorf("after power cycle %v", d.Conditions())
	}
	// Voltage.
	d.SetSupplyVoltage(3)
	if d.Conditions()&feetech.StatusVoltage == 0 {
		t.Error("undervoltage not reported")
	}
}

func TestWheelAndPWM(t *testing.T) {
	d := sts3215.NewDevice(sts3215.DefaultMotor(), 1)
	a := &arm{d: d}
	handle(t, d, feetech.AppendWrite(nil, 1, feetech.OperatingMode.Addr(), []byte{sts3215.ModeWheel}))
	handle(t, d, feetech.AppendWrite(nil, 1, feetech.TorqueEnable.Addr(), []byte{1}))
	handle(t, d, feetech.AppendWrite(nil, 1, feetech.GoalVelocity.Addr(), feetech.GoalVelocity.Append(nil, -1000)))
	a.run(0.5)
	if v := d.Register(feetech.PresentVelocity); v > -800 || v < -1200 {
		t.Errorf("wheel velocity %d, want about -1000", v)
	}
	handle(t, d, feetech.AppendWrite(nil, 1, feetech.OperatingMode.Addr(), []byte{sts3215.ModePWM}))
	handle(t, d, feetech.AppendWrite(nil, 1, feetech.GoalTime.Addr(), []byte{0xF4, 0x01})) // +500
	a.run(0.5)
	if l := d.Register(feetech.PresentLoad); l != 500 {
		t.Errorf("PWM load %d, want 500", l)
	}
}

func TestNoAlloc(t *testing.T) {
	d := sts3215.NewDevice(sts3215.DefaultMotor(), 1)
	sr := feetech.AppendSyncRead(nil, feetech.PresentPosition.Addr(), 8, []byte{1, 2, 3})
	sw := feetech.AppendSyncWrite(nil, feetech.GoalPosition.Addr(), 2, []byte{1}, []byte{0, 8})
	var ps []feetech.Packet
	for _, b := range [][]byte{sr, sw} {
		p, _, _ := feetech.ParsePacket(b, false)
		ps = append(ps, p)
	}
	buf := make([]byte, 0, feetech.MaxPacket)
	if a := testing.AllocsPerRun(200, func() {
		for _, p := range ps {
			d.Handle(0, p, buf[:0])
		}
		d.Control(250e-6, 0.1, 0)
	}); a != 0 {
		t.Errorf("%v allocs per Handle+Control", a)
	}
}
