package dynamixel

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anther-robotics/anther/robot"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// reachyConfig is the reachy-mini profile's bus configuration.
func reachyConfig(tb testing.TB) BusConfig {
	tb.Helper()
	d, err := robot.Load("reachy-mini")
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := ConfigFromDescription(d, "main", nil)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Logger = quietLog()
	return cfg
}

// reachyFake is a configured Reachy Mini bus on a fake port with its nine
// motors.
func reachyFake(tb testing.TB, mut func(*BusConfig)) (*fakePort, *Bus) {
	tb.Helper()
	cfg := reachyConfig(tb)
	if mut != nil {
		mut(&cfg)
	}
	f := newFakePort(cfg.Baud)
	for _, j := range cfg.Joints {
		f.addMotor(j.ID, j.Motor.ModelNumber)
	}
	b := NewBus(f, cfg)
	if err := b.Configure(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return f, b
}

func TestConversions(t *testing.T) {
	m := robot.Motors["xl330-m288"]
	for _, tc := range []struct {
		dir    int
		offset robot.Radians
		tick   int32
		want   float64
	}{
		{1, 0, 2048, 0},
		{1, 0, 3072, math.Pi / 2},
		{1, 0, 1024, -math.Pi / 2},
		{-1, 0, 3072, -math.Pi / 2},
		{1, 0.5, 2048, 0.5},
		{-1, 0.25, 0, math.Pi + 0.25},
		{1, 0, 4095, math.Pi - 2*math.Pi/4096},
	} {
		b := NewBus(newFakePort(1000000), BusConfig{Joints: []JointConfig{{ID: 1, Motor: m, Direction: tc.dir, Offset: tc.offset}}})
		mo := &b.m[0]
		if got := mo.toRad(tc.tick); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("dir %d offset %v tick %d: %v rad, want %v", tc.dir, tc.offset, tc.tick, got, tc.want)
		}
		if back := mo.toTick(mo.toRad(tc.tick)); back != tc.tick {
			t.Errorf("dir %d offset %v: tick %d → rad → tick %d", tc.dir, tc.offset, tc.tick, back)
		}
	}

	// Through Read: position, velocity and effort with their units.
	f, b := reachyFake(t, nil)
	var s robot.State
	mo := f.motors[1] // stewart_1, XL330-M288, joint 1
	PutUint32(mo.regs[AddrPresentPosition:], uint32(int32(2048+512)))
	vel := int32(-100)
	PutUint32(mo.regs[AddrPresentVelocity:], uint32(vel))
	PutUint16(mo.regs[AddrPresentCurrent:], uint16(int16(300)))
	if err := b.Read(time.Unix(1, 0), &s); err != nil {
		t.Fatal(err)
	}
	if got, want := s.Position[1], math.Pi/4; math.Abs(got-want) > 1e-12 {
		t.Errorf("position %v, want %v", got, want)
	}
	if got, want := s.Velocity[1], -100*m.VelocityUnit; math.Abs(got-want) > 1e-12 {
		t.Errorf("velocity %v, want %v", got, want)
	}
	if got, want := s.Effort[1], 300*m.CurrentUnit*m.TorquePerAmp; math.Abs(got-want) > 1e-12 {
		t.Errorf("effort %v, want %v", got, want)
	}
	if !s.Time.Equal(time.Unix(1, 0)) {
		t.Errorf("state time %v", s.Time)
	}

	// Goals: rad → tick, clamped to 0..4095 in position mode.
	var c robot.Command
	c.Torque = true
	c.Position[1] = -math.Pi / 2
	c.Position[2] = 10 // far beyond a turn
	if err := b.Write(time.Now(), &c); err != nil {
		t.Fatal(err)
	}
	if got := Int32(f.motors[1].regs[AddrGoalPosition:]); got != 1024 {
		t.Errorf("goal tick %d, want 1024", got)
	}
	if got := Int32(f.motors[2].regs[AddrGoalPosition:]); got != 4095 {
		t.Errorf("clamped goal tick %d, want 4095", got)
	}
}

func TestTiming(t *testing.T) {
	// hardware.md §3.9 table, wire time only.
	tm := Timing{Baud: 1000000}
	for _, tc := range []struct {
		name string
		got  time.Duration
		want time.Duration
	}{
		{"SYNC READ 10 B × 9 @1M", tm.SyncReadTimeout(9, 10, false), 2120 * time.Microsecond},
		{"FAST SYNC READ 10 B × 9 @1M", tm.SyncReadTimeout(9, 10, true), 1570 * time.Microsecond},
		{"SYNC READ 4 B × 9 @1M", tm.SyncReadTimeout(9, 4, false), 1580 * time.Microsecond},
		{"FAST SYNC READ 4 B × 9 @1M", tm.SyncReadTimeout(9, 4, true), 1030 * time.Microsecond},
		{"SYNC WRITE 4 B × 9 @1M", WireTime(syncWriteBytes(9, 4), 1000000), 590 * time.Microsecond},
		{"PING @57600", WireTime(10+14, 57600), 4166666 * time.Nanosecond},
		{"SYNC READ 10 B × 9 @4M", Timing{Baud: 4000000}.SyncReadTimeout(9, 10, false), 530 * time.Microsecond},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	// Return delay counts once per reply, latency once.
	tm = Timing{Baud: 1000000, ReturnDelay: 500 * time.Microsecond, Processing: 50 * time.Microsecond, Latency: time.Millisecond}
	if got, want := tm.SyncReadTimeout(9, 10, false), 2120*time.Microsecond+9*550*time.Microsecond+time.Millisecond; got != want {
		t.Errorf("with delays: %v, want %v", got, want)
	}
	b := NewBus(newFakePort(1000000), reachyConfig(t))
	if got, want := b.CycleWireTime(), 2710*time.Microsecond; got != want {
		t.Errorf("reachy-mini cycle wire time %v, want %v (212 B read + 59 B write)", got, want)
	}
	if got, want := b.Budget(), 3*b.ReadTimeout(); got != want {
		t.Errorf("default budget %v, want 3 read timeouts %v", got, want)
	}
}

func TestConfigure(t *testing.T) {
	f, b := reachyFake(t, nil)
	for _, m := range f.motors {
		if m.regs[AddrReturnDelay] != 0 {
			t.Errorf("id %d: return delay %d, want 0", m.id(), m.regs[AddrReturnDelay])
		}
	}
	if b.torque != 0 {
		t.Errorf("torque state %d after configure, want 0", b.torque)
	}

	// Missing and wrong motors are named.
	cfg := reachyConfig(t)
	f = newFakePort(cfg.Baud)
	for _, j := range cfg.Joints {
		switch j.ID {
		case 12, 17:
			continue
		case 10:
			f.addMotor(j.ID, 1200) // an XL330-M288 where an XC330 belongs
		default:
			f.addMotor(j.ID, j.Motor.ModelNumber)
		}
	}
	err := NewBus(f, cfg).Configure(context.Background())
	if !errors.Is(err, ErrMissingMotors) || !strings.Contains(err.Error(), "12 (stewart_2), 17 (right_antenna)") {
		t.Errorf("missing motors: %v", err)
	}
	if errors.Is(err, ErrTransient) || !errors.Is(err, ErrFatal) {
		t.Errorf("missing motors should be fatal: %v", err)
	}
	f.addMotor(12, 1200)
	f.addMotor(17, 1190)
	err = NewBus(f, cfg).Configure(context.Background())
	if !errors.Is(err, ErrWrongModel) || !strings.Contains(err.Error(), "10 (body_rotation) is XL330-M288-T (model 1200)") {
		t.Errorf("wrong model: %v", err)
	}
	err = NewBus(newFakePort(cfg.Baud), cfg).Configure(context.Background())
	if !errors.Is(err, ErrMissingMotors) || !strings.Contains(err.Error(), "no motor answered") {
		t.Errorf("no motors: %v", err)
	}

	// EEPROM changes turn torque off on that motor only; a motor already
	// right keeps its torque; a hardware error is cleared by a reboot.
	f = newFakePort(cfg.Baud)
	for _, j := range cfg.Joints {
		m := f.addMotor(j.ID, j.Motor.ModelNumber)
		m.regs[AddrReturnDelay] = 0
		m.regs[AddrTorqueEnable] = 1
	}
	f.motors[3].regs[AddrOperatingMode] = ModeCurrent
	f.motors[5].regs[AddrHardwareError] = HWErrOverheat
	f.motors[5].alert = true
	b = NewBus(f, cfg)
	if err := b.Configure(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f.motors[3].regs[AddrOperatingMode] != ModePosition || f.motors[3].regs[AddrTorqueEnable] != 0 {
		t.Errorf("motor 3: mode %d torque %d, want position mode, torque off", f.motors[3].regs[AddrOperatingMode], f.motors[3].regs[AddrTorqueEnable])
	}
	if f.motors[4].regs[AddrTorqueEnable] != 1 {
		t.Error("a motor with nothing to change lost its torque")
	}
	if f.count(Reboot) != 1 || f.motors[5].alert {
		t.Errorf("reboots %d, alert %v: want the overheated motor rebooted", f.count(Reboot), f.motors[5].alert)
	}
	if b.torque != -1 {
		t.Errorf("mixed torque state: %d, want unknown", b.torque)
	}
}

func TestCalibrationWrittenToMotor(t *testing.T) {
	m := robot.Motors["xl330-m288"]
	cal := &robot.MotorCalibration{ID: 3, DriveMode: 1, HomingOffset: -1000, RangeMin: 700, RangeMax: 3300}
	f := newFakePort(1000000)
	fm := f.addMotor(3, m.ModelNumber)
	fm.regs[AddrDriveMode] = 0x04 // time-based profile bit, kept
	b := NewBus(f, BusConfig{Logger: quietLog(), Joints: []JointConfig{{ID: 3, Motor: m, Calibration: cal}}})
	if err := b.Configure(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := Int32(fm.regs[AddrHomingOffset:]); got != -1000 {
		t.Errorf("homing offset %d", got)
	}
	if got := fm.regs[AddrDriveMode]; got != 0x05 {
		t.Errorf("drive mode %#x, want 0x05", got)
	}
	if lo, hi := Int32(fm.regs[AddrMinPosition:]), Int32(fm.regs[AddrMaxPosition:]); lo != 700 || hi != 3300 {
		t.Errorf("limits %d..%d", lo, hi)
	}
	writes := f.count(Write)
	if err := NewBus(f, BusConfig{Logger: quietLog(), Joints: []JointConfig{{ID: 3, Motor: m, Calibration: cal}}}).Configure(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f.count(Write) != writes {
		t.Errorf("a second Configure wrote %d registers that already matched", f.count(Write)-writes)
	}
}

func TestTickTraffic(t *testing.T) {
	f, b := reachyFake(t, nil)
	var s robot.State
	var c robot.Command
	reads0, writes0 := f.count(SyncRead), f.count(SyncWrite)
	if err := b.Read(time.Now(), &s); err != nil {
		t.Fatal(err)
	}
	if err := b.Write(time.Now(), &c); err != nil { // torque off: already off
		t.Fatal(err)
	}
	if got := f.count(SyncWrite) - writes0; got != 0 {
		t.Errorf("torque-off command on a limp bus sent %d SYNC WRITEs, want 0", got)
	}
	c.Torque = true
	for i := 0; i < 9; i++ {
		c.Position[i] = 0.1
	}
	if err := b.Write(time.Now(), &c); err != nil {
		t.Fatal(err)
	}
	if got := f.count(SyncWrite) - writes0; got != 2 {
		t.Errorf("torque on: %d SYNC WRITEs, want goals + torque enable", got)
	}
	for _, m := range f.motors {
		if m.regs[AddrTorqueEnable] != 1 {
			t.Fatalf("id %d torque off", m.id())
		}
	}
	for i := 0; i < 5; i++ {
		_ = b.Read(time.Now(), &s)
		_ = b.Write(time.Now(), &c)
	}
	if got := f.count(SyncWrite) - writes0; got != 7 {
		t.Errorf("5 more ticks: %d SYNC WRITEs in all, want 7 (one goal write each)", got)
	}
	if got := f.count(SyncRead) - reads0; got != 6 {
		t.Errorf("%d SYNC READs for 6 ticks", got)
	}
	if math.Abs(s.Position[3]-0.1) > 2*math.Pi/4096 {
		t.Errorf("joint 3 at %v after goal 0.1", s.Position[3])
	}
}

// roomy gives a fake bus short timeouts and a budget with room for every
// retry even when the machine is busy (sleeps overshoot).
func roomy(c *BusConfig) {
	c.Latency = 500 * time.Microsecond
	c.Budget = 200 * time.Millisecond
}

func TestRetriesAndNoReply(t *testing.T) {
	f, b := reachyFake(t, roomy)
	var s robot.State

	// One dropped reply: the retry asks only that motor, and succeeds.
	f.motors[4].dropNext = 1
	r0 := f.count(SyncRead)
	if err := b.Read(time.Now(), &s); err != nil {
		t.Fatalf("a single dropped reply should be retried: %v", err)
	}
	if got := f.count(SyncRead) - r0; got != 2 {
		t.Errorf("%d SYNC READs, want 2", got)
	}
	if s.Fault[4] != 0 || b.Stats().Retries != 1 {
		t.Errorf("fault %v, retries %d", s.Fault[4], b.Stats().Retries)
	}

	// A silent motor: bounded retries, FaultNoReply, transient error.
	f.motors[6].silent = true
	s.Position[6] = 1.25
	r0 = f.count(SyncRead)
	start := time.Now()
	err := b.Read(time.Now(), &s)
	took := time.Since(start)
	if !errors.Is(err, ErrNoReply) || !IsTransient(err) {
		t.Fatalf("silent motor: %v", err)
	}
	if got := f.count(SyncRead) - r0; got != 3 {
		t.Errorf("%d SYNC READs, want 1 + 2 retries", got)
	}
	if s.Fault[6] != robot.FaultNoReply || s.Position[6] != 1.25 {
		t.Errorf("silent joint: fault %v position %v (want no-reply, previous value kept)", s.Fault[6], s.Position[6])
	}
	for j := 0; j < 9; j++ {
		if j != 6 && s.Fault[j] != 0 {
			t.Errorf("joint %d fault %v", j, s.Fault[j])
		}
	}
	if took > b.Budget()+time.Second { // slack for a loaded machine
		t.Errorf("read took %v, budget %v", took, b.Budget())
	}
	h := b.Health(nil)
	if h[6].NoReply != 1 || h[6].ID != 16 || h[6].Fault != robot.FaultNoReply || h[6].Name != "stewart_6" {
		t.Errorf("health %+v", h[6])
	}

	// A budget for one attempt only: no retry.
	f2, b2 := reachyFake(t, func(c *BusConfig) { c.Latency = 500 * time.Microsecond; c.Budget = 3 * time.Millisecond })
	f2.motors[0].silent = true
	r0 = f2.count(SyncRead)
	if err := b2.Read(time.Now(), &s); !errors.Is(err, ErrNoReply) {
		t.Fatal(err)
	}
	if got := f2.count(SyncRead) - r0; got != 1 {
		t.Errorf("%d SYNC READs within a one-attempt budget", got)
	}
}

func TestCorruptAndGarbage(t *testing.T) {
	f, b := reachyFake(t, roomy)
	var s robot.State
	f.motors[2].corruptNext = 10
	err := b.Read(time.Now(), &s)
	if !errors.Is(err, ErrCorrupt) || !IsTransient(err) {
		t.Fatalf("corrupt replies: %v", err)
	}
	if s.Fault[2] != robot.FaultCorrupt {
		t.Errorf("fault %v, want corrupt", s.Fault[2])
	}
	if b.Stats().Corrupt != 3 {
		t.Errorf("%d corrupt packets counted, want 3", b.Stats().Corrupt)
	}
	f.motors[2].corruptNext = 0

	// Garbage between packets and replies cut in small chunks.
	f.garbage = []byte{0x00, 0xFF, 0xFF, 0x13, 0xFF, 0xFF, 0xFD, 0x00, 0x01}
	f.chunk = 7
	PutUint32(f.motors[8].regs[AddrPresentPosition:], 1024)
	if err := b.Read(time.Now(), &s); err != nil {
		t.Fatalf("garbage between packets: %v", err)
	}
	if math.Abs(s.Position[8]+math.Pi/2) > 1e-9 {
		t.Errorf("position %v", s.Position[8])
	}
	if b.Stats().Garbage == 0 {
		t.Error("garbage not counted")
	}
}

func TestHardwareError(t *testing.T) {
	f, b := reachyFake(t, nil)
	var s robot.State
	m := f.motors[0]
	m.alert = true
	m.regs[AddrHardwareError] = HWErrOverheat | HWErrOverload
	for tick := 0; tick < 3; tick++ {
		err := b.Read(time.Now(), &s)
		if !errors.Is(err, ErrHardware) || IsTransient(err) {
			t.Fatalf("alert: %v", err)
		}
		if s.Fault[0] != robot.FaultOverheat|robot.FaultOverload {
			t.Fatalf("fault %v", s.Fault[0])
		}
	}
	if h := b.Health(nil); h[0].HardwareError != HWErrOverheat|HWErrOverload {
		t.Errorf("health %+v", h[0])
	}

	// Only one READ of address 70 while the alert persists.
	reads := f.count(Read)
	_ = b.Read(time.Now(), &s)
	if f.count(Read) != reads {
		t.Error("Hardware Error Status read again while the alert persisted")
	}

	// Input voltage alone: reported, not fatal (as Pollen does).
	m.regs[AddrHardwareError] = HWErrVoltage
	if err := b.Reboot(context.Background(), m.id()); err != nil {
		t.Fatal(err)
	}
	if err := b.Read(time.Now(), &s); err != nil || s.Fault[0] != 0 {
		t.Fatalf("after reboot: %v %v", err, s.Fault[0])
	}
	m.alert = true
	m.regs[AddrHardwareError] = HWErrVoltage
	if err := b.Read(time.Now(), &s); err != nil || s.Fault[0] != robot.FaultVoltage {
		t.Fatalf("voltage alert: %v %v", err, s.Fault[0])
	}
	// Encoder and electrical shock map to FaultElectrical.
	if hwFaults(HWErrEncoder) != robot.FaultElectrical || hwFaults(HWErrElectrical) != robot.FaultElectrical {
		t.Error("electrical mapping")
	}
}

func TestFastRead(t *testing.T) {
	f, b := reachyFake(t, func(c *BusConfig) { roomy(c); c.Read = ReadFast })
	var s robot.State
	PutUint32(f.motors[7].regs[AddrPresentPosition:], 3072)
	f0, s0 := f.count(FastSyncRead), f.count(SyncRead)
	if err := b.Read(time.Now(), &s); err != nil {
		t.Fatal(err)
	}
	if f.count(FastSyncRead)-f0 != 1 || f.count(SyncRead) != s0 {
		t.Errorf("fast: %d FAST SYNC READs, %d SYNC READs", f.count(FastSyncRead)-f0, f.count(SyncRead)-s0)
	}
	if math.Abs(s.Position[7]-math.Pi/2) > 1e-9 {
		t.Errorf("position %v", s.Position[7])
	}
	// A silent motor breaks the fast chain; the retry (plain SYNC READ)
	// gets the others and names the silent one.
	f.motors[5].silent = true
	err := b.Read(time.Now(), &s)
	if !errors.Is(err, ErrNoReply) {
		t.Fatal(err)
	}
	for j := 0; j < 9; j++ {
		want := robot.JointFault(0)
		if j == 5 {
			want = robot.FaultNoReply
		}
		if s.Fault[j] != want {
			t.Errorf("joint %d fault %v, want %v", j, s.Fault[j], want)
		}
	}
	// A corrupted fast reply: retried with SYNC READ, all good.
	f.motors[5].silent = false
	f.motors[0].corruptNext = 1
	if err := b.Read(time.Now(), &s); err != nil {
		t.Fatalf("corrupted fast reply not recovered: %v", err)
	}
}

func TestMotorComesBack(t *testing.T) {
	f, b := reachyFake(t, func(c *BusConfig) { c.Latency = 300 * time.Microsecond; c.Retries = -1 })
	var s robot.State
	var c robot.Command
	c.Torque = true
	_ = b.Read(time.Now(), &s)
	if err := b.Write(time.Now(), &c); err != nil {
		t.Fatal(err)
	}
	// The motor reboots: silent for two ticks, back with torque off.
	m := f.motors[3]
	m.silent = true
	for i := 0; i < 2; i++ {
		if err := b.Read(time.Now(), &s); !errors.Is(err, ErrNoReply) {
			t.Fatal(err)
		}
		_ = b.Write(time.Now(), &c)
	}
	m.silent = false
	m.regs[AddrTorqueEnable] = 0
	// The next Read checks Torque Enable and reports the loss; the bus
	// does not re-enable it behind the loop's back.
	for i := 0; i < 3; i++ {
		err := b.Read(time.Now(), &s)
		if !errors.Is(err, ErrTorqueLost) || IsTransient(err) {
			t.Fatalf("read %d after the reboot: %v", i, err)
		}
		if s.Fault[3] != robot.FaultTorqueOff || s.Fault[4] != 0 {
			t.Fatalf("faults %v %v", s.Fault[3], s.Fault[4])
		}
		if err := b.Write(time.Now(), &c); err != nil {
			t.Fatal(err)
		}
		if m.regs[AddrTorqueEnable] != 0 {
			t.Fatal("torque re-enabled without the loop cycling it")
		}
	}
	// The loop cycles torque (deactivate, activate): all motors back on.
	c.Torque = false
	_ = b.Write(time.Now(), &c)
	c.Torque = true
	_ = b.Write(time.Now(), &c)
	if m.regs[AddrTorqueEnable] != 1 {
		t.Fatal("torque not re-enabled by a torque cycle")
	}
	if err := b.Read(time.Now(), &s); err != nil || s.Fault[3] != 0 {
		t.Fatalf("after the cycle: %v %v", err, s.Fault[3])
	}
}

func TestSlowChecks(t *testing.T) {
	f, b := reachyFake(t, func(c *BusConfig) { c.CheckEvery = 2 })
	for i, m := range f.motors {
		m.regs[AddrPresentTemp] = byte(30 + i)
	}
	var s robot.State
	var c robot.Command
	c.Torque = true
	_ = b.Write(time.Now(), &c)
	r0 := f.count(SyncRead)
	for i := 0; i < 8; i++ {
		if err := b.Read(time.Now(), &s); err != nil {
			t.Fatal(err)
		}
	}
	// 8 state reads + a check every 2nd Read.
	if got := f.count(SyncRead) - r0; got != 12 {
		t.Errorf("%d SYNC READs for 8 Reads with CheckEvery 2, want 12", got)
	}
	for j := 0; j < 9; j++ {
		if s.Temperature[j] != float64(30+j) {
			t.Errorf("joint %d temperature %v", j, s.Temperature[j])
		}
	}
	// A torque loss without any missed reply is found by the periodic check.
	f.motors[8].regs[AddrTorqueEnable] = 0
	var err error
	for i := 0; i < 4 && err == nil; i++ {
		err = b.Read(time.Now(), &s)
	}
	if !errors.Is(err, ErrTorqueLost) || s.Fault[8] != robot.FaultTorqueOff {
		t.Errorf("periodic check: %v %v", err, s.Fault[8])
	}
}

func TestHalt(t *testing.T) {
	f, b := reachyFake(t, nil)
	var s robot.State
	var c robot.Command
	c.Torque = true
	_ = b.Read(time.Now(), &s)
	_ = b.Write(time.Now(), &c)

	// Halt while the loop runs on another goroutine: no bytes interleave
	// (the fake would see broken packets), torque goes off and stays off.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	var loopErr error
	go func() {
		defer wg.Done()
		var s robot.State
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := b.Read(time.Now(), &s); err != nil && !errors.Is(err, ErrBusy) {
				loopErr = err
				return
			}
			if err := b.Write(time.Now(), &c); err != nil && !errors.Is(err, ErrBusy) {
				loopErr = err
				return
			}
		}
	}()
	time.Sleep(5 * time.Millisecond)
	if err := b.Halt(); err != nil {
		t.Fatal(err)
	}
	for _, m := range f.motors {
		if m.regs[AddrTorqueEnable] != 0 {
			t.Fatalf("id %d torque on right after Halt", m.id())
		}
	}
	time.Sleep(5 * time.Millisecond)
	close(stop)
	wg.Wait()
	if loopErr != nil {
		t.Fatal(loopErr)
	}
	for _, m := range f.motors {
		if m.regs[AddrTorqueEnable] != 0 {
			t.Fatalf("id %d torque back on although commands kept asking for it after Halt", m.id())
		}
	}
	if err := b.Read(time.Now(), &s); err != nil || s.Fault[0]&robot.FaultTorqueOff == 0 {
		t.Errorf("latched halt: err %v fault %v, want torque-off fault", err, s.Fault[0])
	}
	// The loop acknowledges (torque off), then may turn torque on again.
	c.Torque = false
	_ = b.Write(time.Now(), &c)
	c.Torque = true
	_ = b.Write(time.Now(), &c)
	for _, m := range f.motors {
		if m.regs[AddrTorqueEnable] != 1 {
			t.Fatalf("id %d: torque not re-armed after an acknowledged halt", m.id())
		}
	}

	// Halt requested while the tick holds the port: the next Write does it.
	b.owner.Store(ownerTick)
	done := make(chan error, 1)
	go func() { done <- b.Halt() }()
	time.Sleep(2 * time.Millisecond)
	if !b.haltReq.Load() {
		t.Fatal("halt flag not set")
	}
	b.releaseTick()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if f.motors[0].regs[AddrTorqueEnable] != 0 {
		t.Error("Halt did not turn torque off after the tick released the port")
	}

	// A torque-off that could not be confirmed names the motor.
	f.motors[2].silent = true
	err := b.Halt()
	if err == nil || !strings.Contains(err.Error(), "[12]") {
		t.Errorf("unconfirmed halt: %v", err)
	}
}

func TestPortErrorsAndClose(t *testing.T) {
	f, b := reachyFake(t, nil)
	var s robot.State
	var c robot.Command
	c.Torque = true
	f.writeErr = errors.New("input/output error")
	err := b.Read(time.Now(), &s)
	if !errors.Is(err, ErrPort) || IsTransient(err) || !errors.Is(err, ErrFatal) || !strings.Contains(err.Error(), "input/output error") {
		t.Errorf("read with a broken port: %v", err)
	}
	if err := b.Write(time.Now(), &c); !errors.Is(err, ErrPort) {
		t.Errorf("write with a broken port: %v", err)
	}
	f.writeErr = nil
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if !f.closed {
		t.Error("port not closed")
	}
	if err := b.Read(time.Now(), &s); !errors.Is(err, robot.ErrClosed) {
		t.Errorf("read after close: %v", err)
	}
	if _, err := b.Ping(context.Background(), 10); !errors.Is(err, robot.ErrClosed) {
		t.Errorf("ping after close: %v", err)
	}
	nb := NewBus(newFakePort(1000000), reachyConfig(t))
	if err := nb.Read(time.Now(), &s); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("read before configure: %v", err)
	}
}

func TestErrorClasses(t *testing.T) {
	for _, e := range []error{ErrNoReply, ErrCorrupt, ErrBusy, ErrDevice} {
		if !IsTransient(e) || errors.Is(e, ErrFatal) {
			t.Errorf("%v should be transient", e)
		}
	}
	for _, e := range []error{ErrHardware, ErrTorqueLost, ErrPort, ErrMissingMotors, ErrWrongModel, ErrNotConfigured} {
		if IsTransient(e) || !errors.Is(e, ErrFatal) {
			t.Errorf("%v should be fatal", e)
		}
	}
	for _, e := range []error{ErrNoReply, ErrCorrupt, ErrBusy, ErrDevice, ErrHardware, ErrPort, ErrMissingMotors, ErrWrongModel, ErrNotConfigured} {
		if !strings.HasPrefix(e.Error(), "dynamixel: ") {
			t.Errorf("%q lacks the package prefix", e)
		}
	}
}

func TestManagement(t *testing.T) {
	ctx := context.Background()
	f := newFakePort(1000000)
	f.addMotor(10, 1240)
	f.addMotor(11, 1200)
	f.baud = 57600
	f.addMotor(1, 1190)
	f.baud = 1000000
	b := NewBus(f, BusConfig{Logger: quietLog(), Latency: 500 * time.Microsecond})

	d, err := b.Ping(ctx, 11)
	if err != nil || d.Model != 1200 || d.ModelName != "XL330-M288-T" || d.Firmware != 52 || d.Baud != 1000000 {
		t.Fatalf("ping: %+v %v", d, err)
	}
	if _, err := b.Ping(ctx, 42); !errors.Is(err, ErrNoReply) || !strings.Contains(err.Error(), "id 42") {
		t.Errorf("ping of nobody: %v", err)
	}

	devs, err := b.Scan(ctx, ScanOptions{Bauds: []int{57600, 1000000}, Window: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 3 || devs[0].ID != 1 || devs[0].Baud != 57600 || devs[1].ID != 10 || devs[2].ID != 11 {
		t.Fatalf("scan: %+v", devs)
	}
	if f.baud != 1000000 {
		t.Errorf("scan left the port at %d baud", f.baud)
	}
	devs, err = b.Scan(ctx, ScanOptions{IDs: []byte{9, 10, 11, 12}})
	if err != nil || len(devs) != 2 {
		t.Fatalf("scan of IDs: %+v %v", devs, err)
	}

	if err := b.WriteRegister(ctx, 10, AddrGoalPosition, 4, 1234); err != nil {
		t.Fatal(err)
	}
	if v, err := b.ReadRegister(ctx, 10, AddrGoalPosition, 4); err != nil || v != 1234 {
		t.Errorf("read back %d %v", v, err)
	}
	if v, err := b.ReadRegister(ctx, 10, AddrModelNumber, 2); err != nil || v != 1240 {
		t.Errorf("model register %d %v", v, err)
	}
	if err := b.Torque(ctx, 10, true); err != nil {
		t.Fatal(err)
	}
	// EEPROM with torque on: the device refuses (access error).
	err = b.WriteRegister(ctx, 10, AddrReturnDelay, 1, 0)
	if !errors.Is(err, ErrDevice) || !errors.Is(err, ErrNumAccess) {
		t.Errorf("EEPROM write with torque on: %v", err)
	}
	if err := b.SetID(ctx, 10, 20); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Ping(ctx, 20); err != nil {
		t.Errorf("new ID: %v", err)
	}
	if err := b.SetID(ctx, 20, 11); err == nil {
		t.Error("SetID onto a taken ID succeeded")
	}
	if err := b.SetBaud(ctx, 20, 2000000); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Ping(ctx, 20); err == nil {
		t.Error("motor still answers at the old rate")
	}
	if err := b.SetBaud(ctx, 20, 12345); err == nil {
		t.Error("odd baud accepted")
	}
	if err := b.Reboot(ctx, 11); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReadRegister(ctx, 11, 0, 3); err == nil {
		t.Error("size 3 accepted")
	}
}

func TestSetupMotor(t *testing.T) {
	ctx := context.Background()
	f := newFakePort(57600)
	f.addMotor(1, 1200) // factory: ID 1, 57 600 baud, return delay 250
	b := NewBus(f, BusConfig{Logger: quietLog(), Baud: 57600, Latency: 500 * time.Microsecond})
	res, err := b.SetupMotor(ctx, SetupOptions{ID: 13, Baud: 1000000, Model: 1200, Window: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	m := f.motors[0]
	if !res.Changed || res.Found.ID != 1 || res.Found.Baud != 57600 || res.Device.ID != 13 || res.Device.Baud != 1000000 {
		t.Errorf("result %+v", res)
	}
	if m.id() != 13 || m.baud() != 1000000 || m.regs[AddrReturnDelay] != 0 {
		t.Errorf("motor id %d baud %d rdt %d", m.id(), m.baud(), m.regs[AddrReturnDelay])
	}
	// Again: already set up.
	res, err = b.SetupMotor(ctx, SetupOptions{ID: 13, Baud: 1000000, Model: 1200, Window: 5 * time.Millisecond})
	if err != nil || res.Changed {
		t.Errorf("second set-up: %+v %v", res, err)
	}
	// Wrong model.
	if _, err := b.SetupMotor(ctx, SetupOptions{ID: 13, Model: 1190, Window: 5 * time.Millisecond}); !errors.Is(err, ErrWrongModel) {
		t.Errorf("wrong model: %v", err)
	}
	// A motor elsewhere (ID 5 at 115 200) is found by broadcast; two are refused.
	f2 := newFakePort(115200)
	f2.addMotor(5, 1190)
	b2 := NewBus(f2, BusConfig{Logger: quietLog(), Latency: 500 * time.Microsecond})
	res, err = b2.SetupMotor(ctx, SetupOptions{ID: 17, Window: 5 * time.Millisecond})
	if err != nil || res.Found.ID != 5 || res.Found.Baud != 115200 || f2.motors[0].id() != 17 {
		t.Errorf("motor elsewhere: %+v %v", res, err)
	}
	f2.addMotor(6, 1190)
	f2.baud = 1000000
	f2.addMotor(7, 1190)
	if _, err := b2.SetupMotor(ctx, SetupOptions{ID: 18, Window: 5 * time.Millisecond}); err == nil || !strings.Contains(err.Error(), "connect only") {
		t.Errorf("two motors: %v", err)
	}
}

func TestCurrentBasedPosition(t *testing.T) {
	f, b := reachyFake(t, func(c *BusConfig) { c.OperatingMode = ModeCurrentPosition })
	if f.motors[0].regs[AddrOperatingMode] != ModeCurrentPosition {
		t.Fatal("mode not written")
	}
	var c robot.Command
	c.Torque = true
	c.Effort[1] = 0.2
	_ = b.Write(time.Now(), &c)
	m := robot.Motors["xl330-m288"]
	want := int16(math.Round(0.2 / (m.CurrentUnit * m.TorquePerAmp)))
	if got := Int16(f.motors[1].regs[AddrGoalCurrent:]); got != want {
		t.Errorf("goal current %d, want %d", got, want)
	}
	n := f.count(SyncWrite)
	_ = b.Write(time.Now(), &c)
	if f.count(SyncWrite)-n != 1 {
		t.Errorf("unchanged effort re-sent Goal Current (%d SYNC WRITEs)", f.count(SyncWrite)-n)
	}
}

func TestZeroAllocs(t *testing.T) {
	for _, mode := range []ReadMode{ReadSync, ReadFast} {
		_, b := reachyFake(t, func(c *BusConfig) { c.Read = mode })
		var s robot.State
		var c robot.Command
		c.Torque = true
		allocs := testing.AllocsPerRun(200, func() {
			if err := b.Read(time.Now(), &s); err != nil {
				t.Fatal(err)
			}
			c.Position[0] += 0.001
			if err := b.Write(time.Now(), &c); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per Read+Write, want 0", mode, allocs)
		}
		// Error paths that are transient must not allocate either.
		f := b.port.(*fakePort)
		f.readCap = 100 * time.Microsecond
		f.motors[0].dropNext = 1 << 30
		allocs = testing.AllocsPerRun(20, func() {
			if err := b.Read(time.Now(), &s); !errors.Is(err, ErrNoReply) {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per failing Read, want 0", mode, allocs)
		}
	}
}
