package feetech_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/drivers/feetech"
	"github.com/anther-robotics/anther/firmware/sts3215"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
)

// These tests run the Bus against the simulator's STS3215 firmware on its
// in-process port (wall clock, wire-time model): the SO-101 follower's
// bus, six servos, IDs 1–6.

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func so101(t testing.TB) *robot.Description {
	t.Helper()
	d, err := robot.Load("so101-follower")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// rig is a simulated SO-101 bus and a host Bus on its in-process port.
type rig struct {
	d   *robot.Description
	fb  *sim.FeetechBus
	bus *feetech.Bus
}

func newRig(t testing.TB, cal robot.Calibration, mut func(*feetech.BusConfig)) *rig {
	t.Helper()
	d := so101(t)
	fb, err := sim.NewFeetechBus(d, "arm", sim.FeetechConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := feetech.ConfigFromDescription(d, "arm", cal)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = quiet()
	// The simulator shares a loaded CPU with the host.
	cfg.Latency = 20 * time.Millisecond
	if mut != nil {
		mut(&cfg)
	}
	bus := feetech.NewBus(fb.Port(control.NewWallClock(0)), cfg)
	t.Cleanup(func() { bus.Close() })
	return &rig{d: d, fb: fb, bus: bus}
}

func (r *rig) configure(t testing.TB) {
	t.Helper()
	if err := r.bus.Configure(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// now is the simulated bus's time as the port sees it (for device calls).
func (r *rig) device(t testing.TB, id byte, f func(d *sts3215.Device)) {
	t.Helper()
	if !r.fb.WithDevice(id, r.fb.Physics(), f) {
		t.Fatalf("no device %d", id)
	}
}

// cycle runs Read+Write n times commanding target on every joint.
// Transient errors are tolerated in up to a quarter of the ticks (the
// simulator shares the CPU).
func cycle(t testing.TB, bus *feetech.Bus, n int, target *[robot.MaxJoints]float64, s *robot.State) []time.Duration {
	t.Helper()
	var c robot.Command
	c.Torque = true
	c.Position = *target
	took := make([]time.Duration, 0, n)
	transient := 0
	for i := 0; i < n; i++ {
		t0 := time.Now()
		if err := bus.Read(t0, s); err != nil {
			if !feetech.IsTransient(err) {
				t.Fatalf("tick %d read: %v", i, err)
			}
			transient++
		}
		if err := bus.Write(t0, &c); err != nil {
			t.Fatalf("tick %d write: %v", i, err)
		}
		took = append(took, time.Since(t0))
		time.Sleep(2 * time.Millisecond)
	}
	if transient > n/4 {
		t.Fatalf("%d of %d ticks failed", transient, n)
	}
	return took
}

func TestConfigureAndTrack(t *testing.T) {
	r := newRig(t, nil, nil)
	r.configure(t)
	// LeRobot's configure_motors and follower gains, in every servo.
	for _, id := range []byte{1, 2, 3, 4, 5, 6} {
		r.device(t, id, func(d *sts3215.Device) {
			if d.ReturnDelay() != 0 || d.Register(feetech.PCoefficient) != 16 || d.Register(feetech.DCoefficient) != 32 ||
				d.Register(feetech.Acceleration) != 254 || d.Register(feetech.MaximumAcceleration) != 254 || !d.Locked() {
				t.Errorf("id %d: delay %v P %d D %d acc %d locked %v", id, d.ReturnDelay(), d.Register(feetech.PCoefficient),
					d.Register(feetech.DCoefficient), d.Register(feetech.Acceleration), d.Locked())
			}
			if v, _ := d.Saved(feetech.PCoefficient); v != 16 {
				t.Errorf("id %d: gains not saved (P %d)", id, v)
			}
		})
	}
	// No calibration given: the servos' own (factory: the whole turn).
	if c := r.bus.Calibration()["elbow_flex"]; c != (robot.MotorCalibration{ID: 3, RangeMin: 0, RangeMax: 4095}) {
		t.Errorf("calibration read back: %+v", c)
	}
	var target [robot.MaxJoints]float64
	for j := range 6 {
		target[j] = 0.1 * float64(j+1)
	}
	var s robot.State
	cycle(t, r.bus, 150, &target, &s)
	var truth robot.State
	r.fb.Snapshot(&truth)
	for j := 0; j < 6; j++ {
		if math.Abs(s.Position[j]-target[j]) > 0.01 || math.Abs(truth.Position[j]-target[j]) > 0.01 || s.Fault[j] != 0 {
			t.Errorf("joint %d: read %.4f, truth %.4f, target %.2f (fault %v)", j, s.Position[j], truth.Position[j], target[j], s.Fault[j])
		}
		if s.Temperature[j] < 20 {
			t.Errorf("joint %d: temperature %v", j, s.Temperature[j])
		}
	}
	st := r.bus.Stats()
	if st.Corrupt != 0 || st.Reads != 151 || st.Writes != 150 {
		t.Errorf("stats %+v", st)
	}
	if got, want := r.bus.CycleWireTime(), 1240*time.Microsecond; got != want {
		t.Errorf("cycle wire time %v, want %v (14 B request + 6×14 B replies + 26 B goals)", got, want)
	}
}

func TestConfigureCalibration(t *testing.T) {
	cal, err := robot.ReadCalibration("../../robot/testdata/so101_follower_calibration.json")
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, cal, nil)
	// Torque on in a servo whose EEPROM must change: Configure turns it off.
	r.device(t, 2, func(d *sts3215.Device) {
		p, _, _ := feetech.ParsePacket(feetech.AppendWrite(nil, 2, feetech.TorqueEnable.Addr(), []byte{1}), false)
		d.Handle(0, p, nil)
	})
	r.configure(t)
	for _, j := range r.d.Joints {
		c := cal[j.Name]
		r.device(t, byte(j.ID), func(d *sts3215.Device) {
			off, _ := d.Saved(feetech.HomingOffset)
			lo, _ := d.Saved(feetech.MinPositionLimit)
			hi, _ := d.Saved(feetech.MaxPositionLimit)
			if off != c.HomingOffset || lo != c.RangeMin || hi != c.RangeMax || d.TorqueEnabled() {
				t.Errorf("%s: saved offset %d range %d..%d torque %v, want %+v", j.Name, off, lo, hi, d.TorqueEnabled(), c)
			}
		})
	}
	// The joint reading is LeRobot's DEGREES number (in radians) of
	// Present = Actual − Homing_Offset.
	var s robot.State
	if err := r.bus.Read(time.Now(), &s); err != nil {
		t.Fatal(err)
	}
	z, err := robot.NewNormalizer(r.d, cal, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, j := range r.d.Joints {
		c := cal[j.Name]
		var present int
		r.device(t, byte(j.ID), func(d *sts3215.Device) { present = d.Register(feetech.PresentPosition) })
		actual := 2048 // the sim's servos start at their centre
		if want := ((actual-c.HomingOffset)%4096 + 4096) % 4096; present != want {
			t.Errorf("%s: present %d, want %d", j.Name, present, want)
		}
		mode := robot.NormDegrees
		if j.Name == "gripper" {
			mode = robot.NormRange0_100
		}
		want := c.Normalize(mode, float64(present), 4096)
		if got := z.Value(robot.JointIndex(i), s.Position[i]); math.Abs(got-want) > 1e-6 {
			t.Errorf("%s: %s = %v, LeRobot reads %v", j.Name, z.Names()[i], got, want)
		}
	}
	if got := r.bus.Calibration(); got["gripper"] != cal["gripper"] {
		t.Errorf("calibration in use %+v", got["gripper"])
	}
}

func TestConfigureErrors(t *testing.T) {
	d := so101(t)
	cfg, _ := feetech.ConfigFromDescription(d, "arm", nil)
	cfg.Logger = quiet()
	cfg.Latency = 5 * time.Millisecond
	// A description with a seventh servo the bus does not have.
	cfg.Joints = append(cfg.Joints, feetech.JointConfig{Index: 6, Name: "extra", ID: 9, Motor: robot.Motors["sts3215"]})
	fb, _ := sim.NewFeetechBus(d, "arm", sim.FeetechConfig{})
	err := feetech.NewBus(fb.Port(control.NewWallClock(0)), cfg).Configure(context.Background())
	if !errors.Is(err, feetech.ErrMissingMotors) || !strings.Contains(err.Error(), "9 (extra)") || feetech.IsTransient(err) {
		t.Errorf("missing servo: %v", err)
	}
	cfg.Joints = cfg.Joints[:6]
	cfg.Joints[2].Motor.ModelNumber = 2825
	cfg.Joints[2].Motor.Name = "STS3250"
	err = feetech.NewBus(fb.Port(control.NewWallClock(0)), cfg).Configure(context.Background())
	if !errors.Is(err, feetech.ErrWrongModel) || !strings.Contains(err.Error(), "3 (elbow_flex) is Feetech STS3215 (model 777)") {
		t.Errorf("wrong model: %v", err)
	}
	if _, err := feetech.ConfigFromDescription(d, "arm", robot.Calibration{"gripper": {ID: 5, RangeMax: 10}}); err == nil {
		t.Error("calibration for the wrong ID accepted")
	}
	var s robot.State
	if err := feetech.NewBus(fb.Port(nil), cfg).Read(time.Now(), &s); !errors.Is(err, feetech.ErrNotConfigured) {
		t.Errorf("read before configure: %v", err)
	}
}

func TestFaultsRetriedAndCounted(t *testing.T) {
	r := newRig(t, nil, func(c *feetech.BusConfig) { c.CheckEvery = 5 })
	r.configure(t)
	var s robot.State
	var target [robot.MaxJoints]float64
	cycle(t, r.bus, 5, &target, &s)
	read := func() error {
		t.Helper()
		t0 := time.Now()
		err := r.bus.Read(t0, &s)
		if d := time.Since(t0); d > r.bus.Budget()+time.Second { // slack for a loaded machine: this catches a Read that does not end
			t.Errorf("a Read took %v, budget %v", d, r.bus.Budget())
		}
		return err
	}
	// Each transient fault is retried within the tick (three tries: a
	// starved simulator may fail a tick now and then).
	recovers := func(what string, inject func()) {
		t.Helper()
		var err error
		for range 3 {
			inject()
			if err = read(); err == nil {
				return
			}
			if !feetech.IsTransient(err) {
				t.Fatalf("%s: %v", what, err)
			}
		}
		t.Errorf("%s: not recovered within the tick: %v", what, err)
	}
	before := r.bus.Stats()
	recovers("corrupted checksum", func() { r.fb.CorruptNextReply(2) })
	recovers("missing reply", func() { r.fb.DropNextReply(3) })
	recovers("garbage between packets", func() {
		r.fb.InjectGarbage([]byte{0xFF, 0xFF, 0x04, 0x09, 0x00, 0xFF, 0x13, 0x42, 0xFF})
	})
	st := r.bus.Stats()
	if st.Corrupt == before.Corrupt || st.Retries < before.Retries+2 || st.Garbage == before.Garbage {
		t.Errorf("faults not counted: before %+v after %+v", before, st)
	}

	// No retries: the fault reaches the joint, classified.
	r2 := newRig(t, nil, func(c *feetech.BusConfig) { c.Retries = -1; c.Latency = 5 * time.Millisecond })
	r2.configure(t)
	r2.fb.DropNextReply(4)
	err := r2.bus.Read(time.Now(), &s)
	if !errors.Is(err, feetech.ErrNoReply) || s.Fault[3] != robot.FaultNoReply || s.Fault[2] != 0 {
		t.Errorf("dropped reply: %v, faults %v", err, s.Fault[:6])
	}
	r2.fb.CorruptNextReply(5)
	err = r2.bus.Read(time.Now(), &s)
	if !errors.Is(err, feetech.ErrCorrupt) || s.Fault[4] != robot.FaultCorrupt {
		t.Errorf("corrupt reply: %v, faults %v", err, s.Fault[:6])
	}
	if h := r2.bus.Health(nil); h[3].NoReply != 1 || h[4].Corrupt != 1 {
		t.Errorf("health %+v", h)
	}

	// A servo that stops answering: no-reply on its joint, the others
	// fine, bounded time, its last position kept.
	last := s.Position[2]
	r.fb.Silence(3, true)
	for range 3 {
		err = read()
		if !errors.Is(err, feetech.ErrNoReply) || s.Fault[2] != robot.FaultNoReply || s.Fault[0] != 0 || s.Position[2] != last {
			t.Errorf("silent servo: %v faults %v pos %v (was %v)", err, s.Fault[:6], s.Position[2], last)
		}
	}
	r.fb.Silence(3, false)

	// Servo hardware fault: fatal, on its joint only.
	r.fb.InjectFault(5, feetech.StatusAngle, r.fb.Physics())
	err = read()
	if !errors.Is(err, feetech.ErrHardware) || feetech.IsTransient(err) || s.Fault[4]&robot.FaultElectrical == 0 || s.Fault[3] != 0 {
		t.Errorf("angle fault: %v faults %v", err, s.Fault[:6])
	}
	if h := r.bus.Health(nil); h[4].Status != feetech.StatusAngle {
		t.Errorf("health %+v", h[4])
	}
	r.fb.PowerCycle(5, r.fb.Physics())
	var off robot.Command
	if err := r.bus.Write(time.Now(), &off); err != nil { // the loop cycles torque
		t.Fatal(err)
	}

	// A power-cycled servo comes back with torque off: reported, not hidden.
	cycle(t, r.bus, 3, &target, &s)
	r.fb.PowerCycle(6, r.fb.Physics())
	deadline := time.Now().Add(2 * time.Second)
	for !errors.Is(err, feetech.ErrTorqueLost) && time.Now().Before(deadline) {
		err = read()
		var c robot.Command
		c.Torque = true
		if werr := r.bus.Write(time.Now(), &c); werr != nil {
			t.Fatal(werr)
		}
	}
	if !errors.Is(err, feetech.ErrTorqueLost) || s.Fault[5]&robot.FaultTorqueOff == 0 {
		t.Fatalf("power-cycled servo: %v, fault %v", err, s.Fault[5])
	}

	// Halt: torque off everywhere, confirmed.
	if err := r.bus.Halt(); err != nil {
		t.Fatal(err)
	}
	for id := byte(1); id <= 6; id++ {
		r.device(t, id, func(d *sts3215.Device) {
			if d.TorqueEnabled() {
				t.Errorf("id %d torque on after Halt", id)
			}
		})
	}
}

func TestManagement(t *testing.T) {
	ctx := context.Background()
	d := so101(t)
	fb, err := sim.NewFeetechBus(d, "arm", sim.FeetechConfig{})
	if err != nil {
		t.Fatal(err)
	}
	bus := feetech.NewBus(fb.Port(control.NewWallClock(0)), feetech.BusConfig{Logger: quiet()})
	devs, err := bus.Scan(ctx, feetech.ScanOptions{Bauds: []int{115200, 1000000}, Window: 30 * time.Millisecond})
	if err != nil || len(devs) != 6 || devs[0].ID != 1 || devs[5].ID != 6 || devs[0].Model != 777 || devs[0].Firmware != "3.10" {
		t.Fatalf("scan: %+v %v", devs, err)
	}
	if v, err := bus.ReadRegister(ctx, 3, feetech.ModelNumber.Addr(), 2); err != nil || v != 777 {
		t.Errorf("read register: %d %v", v, err)
	}
	if err := bus.WriteRegister(ctx, 3, feetech.Acceleration.Addr(), 1, 77); err != nil {
		t.Fatal(err)
	}
	if err := bus.SetID(ctx, 6, 12); err != nil {
		t.Fatal(err)
	}
	if err := bus.SetID(ctx, 5, 1); err == nil {
		t.Error("set-id onto a taken ID accepted")
	}
	if err := bus.SetBaud(ctx, 12, 500000); err != nil {
		t.Fatal(err)
	}
	devs, err = bus.Scan(ctx, feetech.ScanOptions{Bauds: []int{500000, 1000000}, Window: 30 * time.Millisecond})
	if err != nil || len(devs) != 6 || devs[0].ID != 12 || devs[0].Baud != 500000 {
		t.Fatalf("after set-id/set-baud: %+v %v", devs, err)
	}
	// Saved across a power cycle (Lock was cleared for them).
	fb.PowerCycle(12, fb.Physics())
	if !fb.WithDevice(12, fb.Physics(), func(d *sts3215.Device) {
		if d.Baud() != 500000 || d.Register(feetech.Acceleration) != 0 || !d.Locked() {
			t.Errorf("after power cycle: baud %d acc %d locked %v", d.Baud(), d.Register(feetech.Acceleration), d.Locked())
		}
	}) {
		t.Error("id 12 lost its ID in the power cycle")
	}
	if err := bus.Torque(ctx, 3, true); err != nil {
		t.Fatal(err)
	}
	if _, err := bus.Ping(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if rates := feetech.BaudRates(feetech.BaudTableSDK); len(rates) != 8 || rates[0] != 38400 || rates[7] != 1000000 {
		t.Errorf("rates %v", rates)
	}
}

func TestCalibrationCalls(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, nil, nil)
	r.configure(t)
	r.fb.SetHand(&sim.Hand{Target: func(_ time.Duration, j robot.JointIndex) (float64, bool) {
		return []float64{0.5, -0.3, 0.2, 0, 1, 0.3}[j], true
	}})
	time.Sleep(300 * time.Millisecond)
	r.fb.AdvanceTo(r.fb.Physics() + 300*time.Millisecond)
	offs, err := r.bus.SetHalfTurnHomings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pos := make([]int, 6)
	if err := r.bus.ReadPositions(ctx, pos); err != nil {
		t.Fatal(err)
	}
	for i, j := range r.d.Joints {
		if math.Abs(float64(pos[i]-2047)) > 2 {
			t.Errorf("%s: %d after half-turn homing (offset %d)", j.Name, pos[i], offs[j.Name])
		}
	}
	// Shoulder pan where the hand holds it: offset = its encoder − 2047.
	var truth robot.State
	r.fb.Snapshot(&truth)
	enc := 2048 + int(math.Round(truth.Position[0]*4096/(2*math.Pi)))
	if math.Abs(truth.Position[0]-0.5) > 0.03 || math.Abs(float64(offs["shoulder_pan"]-(enc-2047))) > 2 {
		t.Errorf("shoulder_pan at %.3f rad: offset %d, want about %d", truth.Position[0], offs["shoulder_pan"], enc-2047)
	}
	cal, err := r.bus.ReadCalibration(ctx)
	if err != nil || cal["shoulder_pan"].HomingOffset != offs["shoulder_pan"] || cal["wrist_roll"].RangeMax != 4095 {
		t.Errorf("read calibration: %+v %v", cal, err)
	}
	if err := r.bus.ResetCalibration(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.bus.ReadPositions(ctx, pos); err != nil || math.Abs(float64(pos[0]-enc)) > 2 {
		t.Errorf("after reset: %v %v", pos, err)
	}
}

func TestReadWriteNoAlloc(t *testing.T) {
	r := newRig(t, nil, nil)
	r.configure(t)
	var s robot.State
	var c robot.Command
	c.Torque = true
	allocs := testing.AllocsPerRun(50, func() {
		_ = r.bus.Read(time.Now(), &s)
		c.Position[0] += 0.001
		_ = r.bus.Write(time.Now(), &c)
	})
	if allocs != 0 {
		t.Errorf("%v allocs per Read+Write", allocs)
	}
}

func TestCalibrationOf(t *testing.T) {
	r := newRig(t, nil, nil)
	r.configure(t)
	var hw robot.Hardware = robot.Buses{r.bus}
	cal := robot.CalibrationOf(hw)
	if len(cal) != 6 || cal["gripper"].RangeMax != 4095 || cal["gripper"].ID != 6 {
		t.Errorf("CalibrationOf: %+v", cal)
	}
	var _ robot.Calibrated = r.bus
}

func TestDecoderResync(t *testing.T) {
	// A reply truncated on the wire, claiming more bytes than ever come,
	// with a whole reply behind it.
	whole := feetech.AppendStatus(nil, 2, 0, []byte{1, 2})
	stream := append([]byte{0xFF, 0xFF, 0x01, 0x30, 0x00}, whole...)
	d := feetech.Decoder{Status: true}
	d.Write(stream)
	if _, err := d.Next(); err != feetech.ErrNeedMore {
		t.Fatalf("before resync: %v", err)
	}
	var got []byte
	for d.Resync() {
		if p, err := d.Next(); err == nil {
			got = append(got, p.ID)
		}
	}
	if len(got) != 1 || got[0] != 2 || d.Resync() {
		t.Errorf("after resync: %v", got)
	}
}
