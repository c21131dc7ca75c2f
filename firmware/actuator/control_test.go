package actuator_test

import (
	"math"
	"testing"
	"time"

	"github.com/anther-robotics/anther/drivers/dynamixel"
	"github.com/anther-robotics/anther/firmware/actuator"
)

// xl330Load is an XL330-M288 joint as the simulator's motor table has it.
func xl330Load() *joint { return &joint{inertia: 2e-4, damping: 0.01, friction: 0.005} }

func TestPositionStep(t *testing.T) {
	for _, c := range []struct {
		name string
		m    actuator.Model
		j    joint
		p    uint16
	}{
		{"XL330-M288 default gains", actuator.XL330M288(), joint{inertia: 2e-4, damping: 0.01, friction: 0.005}, 400},
		{"XL330-M288 Reachy gains", actuator.XL330M288(), joint{inertia: 2e-4, damping: 0.01, friction: 0.005}, 300},
		{"XL330-M077 antenna", actuator.XL330M077(), joint{inertia: 5e-5, damping: 0.002, friction: 0.002}, 200},
		{"XC330-M288 default gains", actuator.XC330M288(), joint{inertia: 4e-4, damping: 0.02, friction: 0.008}, 1100},
		{"XM430-W350", actuator.XM430W350(), joint{inertia: 2e-3, damping: 0.08, friction: 0.02}, 800},
		{"XL430-W250", actuator.XL430W250(), joint{inertia: 1e-3, damping: 0.04, friction: 0.01}, 640},
	} {
		t.Run(c.name, func(t *testing.T) {
			dev := actuator.NewDevice(c.m, 1)
			j := c.j
			dev.Sense(j.pos, j.vel)
			g := newRig(t, dev)
			g.write(1, actuator.AddrPositionPGain, u16(c.p)...)
			g.write(1, actuator.AddrTorqueEnable, 1)
			if e := g.write(1, actuator.AddrGoalPosition, u32(2048+512)...); e != 0 {
				t.Fatal(e)
			}
			j.run(dev, 1.5)
			if v := g.read32(1, actuator.AddrPresentPosition); math.Abs(float64(v-2560)) > 12 {
				t.Errorf("present %d after 1.5 s, want 2560 ± 12", v)
			}
			if math.Abs(j.vel) > 0.05 {
				t.Errorf("still moving at %.3f rad/s", j.vel)
			}
			if st := g.read(1, actuator.AddrMovingStatus, 1)[0]; st&2 != 0 {
				t.Errorf("moving status %#x: profile still ongoing", st)
			}
		})
	}
}

func TestTrapezoidProfile(t *testing.T) {
	dev := actuator.NewDevice(actuator.XL330M288(), 1)
	j := xl330Load()
	dev.Sense(0, 0)
	g := newRig(t, dev)
	g.write(1, actuator.AddrProfileVelocity, u32(50)...)     // 50 × 0.229 rpm ≈ 1.2 rad/s
	g.write(1, actuator.AddrProfileAcceleration, u32(20)...) // 20 × 214.577 rev/min²
	g.write(1, actuator.AddrTorqueEnable, 1)
	g.write(1, actuator.AddrGoalPosition, u32(2048+1024)...) // a quarter turn
	if st := g.read(1, actuator.AddrMovingStatus, 1)[0]; st>>4 != 3 {
		t.Errorf("profile type %d, want trapezoid (3)", st>>4)
	}
	vmax, overshoot := 0.0, 0.0
	const vlimit = 50 * 0.229 * 2 * math.Pi / 60
	for range 300 { // 3 s in 10 ms steps
		j.run(dev, 0.01)
		tr := g.read32(1, actuator.AddrVelocityTrajectory)
		vmax = math.Max(vmax, float64(tr))
		overshoot = math.Max(overshoot, float64(g.read32(1, actuator.AddrPositionTrajectory)-3072))
	}
	if vmax != 50 {
		t.Errorf("trajectory peak velocity %v units, want 50", vmax)
	}
	if overshoot > 0 {
		t.Errorf("trajectory overshoots the goal by %v pulses", overshoot)
	}
	if v := g.read32(1, actuator.AddrPresentPosition); math.Abs(float64(v-3072)) > 12 {
		t.Errorf("present %d, want 3072 ± 12", v)
	}
	_ = vlimit
	// Time-based profile: 500 ms total, 100 ms ramps.
	g.write(1, actuator.AddrTorqueEnable, 0)
	g.write(1, actuator.AddrDriveMode, 4)
	g.write(1, actuator.AddrTorqueEnable, 1)
	g.write(1, actuator.AddrProfileVelocity, u32(500)...)
	g.write(1, actuator.AddrProfileAcceleration, u32(100)...)
	g.write(1, actuator.AddrGoalPosition, u32(2048)...)
	arrived := 0.0
	for i := range 100 {
		j.run(dev, 0.01)
		if arrived == 0 && g.read32(1, actuator.AddrPositionTrajectory) == 2048 {
			arrived = float64(i+1) * 0.01
		}
	}
	if arrived < 0.45 || arrived > 0.56 {
		t.Errorf("time-based profile arrived after %.2f s, want 0.5 s", arrived)
	}
}

func TestVelocityMode(t *testing.T) {
	dev := actuator.NewDevice(actuator.XL330M288(), 1)
	j := xl330Load()
	dev.Sense(0, 0)
	g := newRig(t, dev)
	g.write(1, actuator.AddrOperatingMode, actuator.ModeVelocity)
	g.write(1, actuator.AddrTorqueEnable, 1)
	if e := g.write(1, actuator.AddrGoalVelocity, u32(200)...); e != 0 { // 4.8 rad/s
		t.Fatal(e)
	}
	j.run(dev, 1)
	if v := g.read32(1, actuator.AddrPresentVelocity); math.Abs(float64(v-200)) > 4 {
		t.Errorf("present velocity %d, want 200 ± 4", v)
	}
	if g.read(1, actuator.AddrMoving, 1)[0] != 1 {
		t.Error("Moving = 0 while turning")
	}
}

func TestCurrentModes(t *testing.T) {
	m := actuator.XL330M288()
	dev := actuator.NewDevice(m, 1)
	dev.Sense(0, 0)
	g := newRig(t, dev)
	g.write(1, actuator.AddrOperatingMode, actuator.ModeCurrent)
	g.write(1, actuator.AddrGoalCurrent, u16(500)...)
	g.write(1, actuator.AddrTorqueEnable, 1)
	tau := dev.Control(1e-3, 0, 0) // shaft held still
	want := 0.5 * m.StallTorque / m.StallCurrent
	if math.Abs(tau-want) > 1e-9 {
		t.Errorf("torque %v at 500 mA, want %v", tau, want)
	}
	if c := int16(dynamixel.Uint16(g.read(1, actuator.AddrPresentCurrent, 2))); c != 500 {
		t.Errorf("present current %d", c)
	}
	// Current-based position: the position loop, bounded by Goal Current.
	g.write(1, actuator.AddrTorqueEnable, 0)
	g.write(1, actuator.AddrOperatingMode, actuator.ModeCurrentBasedPosition)
	g.write(1, actuator.AddrGoalCurrent, u16(100)...)
	g.write(1, actuator.AddrTorqueEnable, 1)
	g.write(1, actuator.AddrGoalPosition, u32(3000)...)
	tau = dev.Control(1e-3, 0, 0)
	if want := 0.1 * m.StallTorque / m.StallCurrent; math.Abs(tau-want) > 1e-9 {
		t.Errorf("torque %v bounded by 100 mA, want %v", tau, want)
	}
	// Reverse drive mode flips the sign seen on the shaft.
	g.write(1, actuator.AddrTorqueEnable, 0)
	g.write(1, actuator.AddrDriveMode, 1)
	g.write(1, actuator.AddrOperatingMode, actuator.ModeCurrent)
	g.write(1, actuator.AddrGoalCurrent, u16(500)...)
	g.write(1, actuator.AddrTorqueEnable, 1)
	if tau := dev.Control(1e-3, 0, 0); tau > 0 {
		t.Errorf("reverse mode torque %v, want < 0", tau)
	}
	// Torque off: no torque, no current.
	g.write(1, actuator.AddrTorqueEnable, 0)
	if tau := dev.Control(1e-3, 0, 1); tau != 0 || dev.Current() != 0 {
		t.Errorf("torque off: %v N·m, %v A", tau, dev.Current())
	}
}

func TestOverloadAndOverheat(t *testing.T) {
	// A stalled motor pushing at full duty: overload after ~2 s.
	dev := actuator.NewDevice(actuator.XL330M288(), 1)
	dev.Sense(0, 0)
	g := newRig(t, dev)
	g.write(1, actuator.AddrTorqueEnable, 1)
	g.write(1, actuator.AddrGoalPosition, u32(4000)...)
	const h = 250e-6
	var tripped float64
	for k := 1; k <= 20000; k++ { // 5 s, shaft blocked
		dev.Control(h, 0, 0)
		if !dev.TorqueEnabled() {
			tripped = float64(k) * h
			break
		}
	}
	if dev.HardwareError() != actuator.ErrorOverload || tripped < 1.9 || tripped > 2.1 {
		t.Errorf("overload: hw %#x after %.2f s", dev.HardwareError(), tripped)
	}
	if p := g.one(dynamixel.AppendPing(nil, 1)); !p.Alert() {
		t.Error("no alert after overload")
	}
	// With overload disarmed, the winding heats up to the limit instead.
	hot := actuator.NewDevice(actuator.XL330M288(), 1)
	hot.Sense(0, 0)
	h2 := newRig(t, hot)
	h2.write(1, actuator.AddrShutdown, actuator.ErrorOverheating)
	h2.write(1, actuator.AddrTorqueEnable, 1)
	h2.write(1, actuator.AddrGoalPosition, u32(4000)...)
	start := hot.Temperature()
	for k := 1; k <= 4*120*1000 && hot.TorqueEnabled(); k++ {
		hot.Control(h, 0, 0)
		tripped = float64(k) * h
	}
	if hot.HardwareError() != actuator.ErrorOverheating || tripped < 10 || tripped > 120 {
		t.Errorf("overheat: hw %#x after %.1f s (from %.0f °C to %.1f °C)", hot.HardwareError(), tripped, start, hot.Temperature())
	}
	if v := h2.read(1, actuator.AddrPresentTemperature, 1)[0]; v < 70 {
		t.Errorf("present temperature %d", v)
	}
	// Still hot: a REBOOT trips again at once; cooled down, it recovers.
	h2.one(dynamixel.AppendReboot(nil, 1))
	if hot.HardwareError() == 0 {
		t.Error("reboot while hot cleared the error")
	}
	for range 4 * 60 * 1000 {
		hot.Control(h, 0, 0)
	}
	h2.one(dynamixel.AppendReboot(nil, 1))
	if hot.HardwareError() != 0 || hot.Temperature() > 60 {
		t.Errorf("after cooling: hw %#x, %.1f °C", hot.HardwareError(), hot.Temperature())
	}
	// Forced temperature.
	hot.SetTemperature(90)
	hot.Control(h, 0, 0)
	if hot.HardwareError() != actuator.ErrorOverheating {
		t.Error("forced temperature did not trip")
	}
}

func TestBusWatchdog(t *testing.T) {
	dev := actuator.NewDevice(actuator.XL330M288(), 1)
	j := xl330Load()
	dev.Sense(0, 0)
	g := newRig(t, dev)
	g.write(1, actuator.AddrOperatingMode, actuator.ModeVelocity)
	g.write(1, actuator.AddrTorqueEnable, 1)
	g.write(1, actuator.AddrBusWatchdog, 5) // 100 ms
	g.write(1, actuator.AddrGoalVelocity, u32(100)...)
	j.run(dev, 0.09)
	g.now = 90 * time.Millisecond
	g.read(1, actuator.AddrPresentVelocity, 4) // traffic keeps it fed
	j.run(dev, 0.09)
	if v := int8(g.read(1, actuator.AddrBusWatchdog, 1)[0]); v != 5 {
		t.Fatalf("watchdog fired early: %d", v)
	}
	j.run(dev, 0.2)
	if v := int8(g.read(1, actuator.AddrBusWatchdog, 1)[0]); v != -1 {
		t.Fatalf("watchdog %d, want -1", v)
	}
	if e := g.write(1, actuator.AddrGoalVelocity, u32(100)...); e != dynamixel.ErrNumDataRange {
		t.Errorf("goal write after the watchdog fired: %v", e)
	}
	j.run(dev, 0.3)
	if math.Abs(j.vel) > 0.05 {
		t.Errorf("still turning at %.2f rad/s", j.vel)
	}
	if e := g.write(1, actuator.AddrBusWatchdog, 0); e != 0 {
		t.Error(e)
	}
	if e := g.write(1, actuator.AddrGoalVelocity, u32(100)...); e != 0 {
		t.Errorf("goal write after clearing: %v", e)
	}
}

func TestAllocs(t *testing.T) {
	devs := nineDevices()
	req := dynamixel.AppendSyncRead(nil, 126, 10, reachyIDs)
	wr := dynamixel.AppendSyncWrite(nil, 116, 4, reachyIDs, make([]byte, 4*len(reachyIDs)))
	p := parse(t, req)
	w := parse(t, wr)
	buf := make([]byte, 0, 16*dynamixel.MaxPacket)
	n := testing.AllocsPerRun(100, func() {
		out := buf[:0]
		for _, d := range devs {
			out, _ = d.Handle(0, p, out)
			d.Handle(0, w, out)
			d.Control(250e-6, 0.1, 0.2)
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per SYNC READ + SYNC WRITE + Control of 9", n)
	}
}

var reachyIDs = []byte{10, 11, 12, 13, 14, 15, 16, 17, 18}

func nineDevices() []*actuator.Device {
	devs := make([]*actuator.Device, len(reachyIDs))
	for i, id := range reachyIDs {
		m := actuator.XL330M288()
		switch {
		case id == 10:
			m = actuator.XC330M288()
		case id >= 17:
			m = actuator.XL330M077()
		}
		devs[i] = actuator.NewDevice(m, id)
		devs[i].Sense(0, 0)
	}
	return devs
}

func BenchmarkHandleSyncRead9(b *testing.B) {
	devs := nineDevices()
	p := parse(b, dynamixel.AppendSyncRead(nil, 126, 10, reachyIDs))
	buf := make([]byte, 0, 16*dynamixel.MaxPacket)
	b.ReportAllocs()
	for b.Loop() {
		out := buf[:0]
		for _, d := range devs {
			out, _ = d.Handle(0, p, out)
		}
	}
}

func BenchmarkControl(b *testing.B) {
	dev := nineDevices()[1]
	b.ReportAllocs()
	for b.Loop() {
		dev.Control(250e-6, 0.1, 0.2)
	}
}
