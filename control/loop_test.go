package control_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newSimLoop(t testing.TB, profile string, sinks ...control.Sink) (*control.Loop, *control.SteppedClock, *robot.Description) {
	t.Helper()
	d, err := robot.Load(profile)
	if err != nil {
		t.Fatal(err)
	}
	clk := control.NewSteppedClock(epoch)
	l, err := control.New(control.Config{Rate: d.Rate, Clock: clk, Bus: sim.NewBus(d),
		Limits: control.LimitsFromDescription(d, 0.01), Sinks: sinks})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(clk.Now()); err != nil {
		t.Fatal(err)
	}
	return l, clk, d
}

// step runs n ticks on the stepped clock.
func step(l *control.Loop, clk *control.SteppedClock, n int) {
	for range n {
		now := clk.Now().Add(l.Period())
		clk.SleepUntil(now)
		l.Tick(now, 0)
	}
}

func TestTickAllocatesNothing(t *testing.T) {
	ring := control.NewRing(64)
	l, clk, _ := newSimLoop(t, "reachy-mini", ring)
	l.Request(control.RequestActivate)
	var tg control.Targets
	tg.Mask = 1 << 3
	tg.Position[3] = 0.3
	l.SetTargets(&tg)
	var drain control.Step
	step(l, clk, 10)
	allocs := testing.AllocsPerRun(1000, func() {
		now := clk.Now().Add(l.Period())
		clk.SleepUntil(now)
		l.Tick(now, 0)
		ring.Pop(&drain)
	})
	if allocs != 0 {
		t.Fatalf("tick with 9 joints allocates %v times, want 0", allocs)
	}
}

func TestTargetConverges(t *testing.T) {
	var last control.Step
	ring := control.NewRing(4096)
	l, clk, d := newSimLoop(t, "reachy-mini", ring)
	l.Request(control.RequestActivate)
	step(l, clk, 1)
	j, _ := d.Joint("stewart_2")
	var tg control.Targets
	tg.Mask = 1 << j
	tg.Position[j] = 0.5
	l.SetTargets(&tg)
	step(l, clk, 300) // 3 s at 100 Hz
	for ring.Pop(&last) {
	}
	if got := last.State.Position[j]; math.Abs(got-0.5) > 0.02 {
		t.Fatalf("stewart_2 at %.4f rad after 3 s, want 0.5±0.02", got)
	}
	if last.Lifecycle != robot.Active || last.Mode != control.ModeTarget {
		t.Fatalf("lifecycle %v mode %v, want active target", last.Lifecycle, last.Mode)
	}
	// Other joints held still at home.
	for i := range d.Joints {
		if i != int(j) && math.Abs(last.State.Position[i]-float64(d.Joints[i].Home)) > 0.02 {
			t.Errorf("%s drifted to %.4f", d.Joints[i].Name, last.State.Position[i])
		}
	}
}

func TestDeterministic(t *testing.T) {
	run := func() robot.State {
		var st control.Step
		ring := control.NewRing(2)
		l, clk, _ := newSimLoop(t, "so101-follower", ring)
		l.Request(control.RequestActivate)
		for k := range 5 {
			var tg control.Targets
			tg.Mask = 0x3f
			for i := range 6 {
				tg.Position[i] = 0.3 * math.Sin(float64(k+i))
			}
			l.SetTargets(&tg)
			step(l, clk, 97)
		}
		for ring.Pop(&st) {
		}
		return st.State
	}
	a, b := run(), run()
	for i := range a.N {
		if math.Float64bits(a.Position[i]) != math.Float64bits(b.Position[i]) ||
			math.Float64bits(a.Velocity[i]) != math.Float64bits(b.Velocity[i]) {
			t.Fatalf("joint %d differs between identical runs: %v/%v vs %v/%v", i, a.Position[i], a.Velocity[i], b.Position[i], b.Velocity[i])
		}
	}
}

func TestEStopTorqueOffNextTick(t *testing.T) {
	var st control.Step
	ring := control.NewRing(16)
	l, clk, _ := newSimLoop(t, "reachy-mini", ring)
	l.Request(control.RequestActivate)
	step(l, clk, 2)
	l.EStop()
	step(l, clk, 1)
	for ring.Pop(&st) {
	}
	if st.Command.Torque || st.Lifecycle != robot.EStopped {
		t.Fatalf("after e-stop: torque %v lifecycle %v", st.Command.Torque, st.Lifecycle)
	}
	l.Request(control.RequestActivate) // refused while e-stopped
	step(l, clk, 1)
	if l.Lifecycle() != robot.EStopped {
		t.Fatalf("activate while e-stopped gave %v", l.Lifecycle())
	}
	l.Request(control.RequestReset)
	step(l, clk, 1)
	if l.Lifecycle() != robot.Inactive {
		t.Fatalf("reset gave %v, want inactive", l.Lifecycle())
	}
}

func TestRunHaltsOnCancel(t *testing.T) {
	d, _ := robot.Load("reachy-mini")
	bus := sim.NewBus(d)
	l, err := control.New(control.Config{Rate: 1000, Bus: bus, Limits: control.LimitsFromDescription(d, 0.01)})
	if err != nil {
		t.Fatal(err)
	}
	l.Request(control.RequestActivate)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := l.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if !bus.Halted() {
		t.Fatal("bus not halted after Run returned")
	}
	if n := l.Timing().Ticks.Load(); n < 50 {
		t.Fatalf("only %d ticks in 200 ms at 1 kHz", n)
	}
}

func BenchmarkTick(b *testing.B) {
	ring := control.NewRing(64)
	l, clk, _ := newSimLoop(b, "reachy-mini", ring)
	l.Request(control.RequestActivate)
	var drain control.Step
	b.ReportAllocs()
	for b.Loop() {
		now := clk.Now().Add(l.Period())
		clk.SleepUntil(now)
		l.Tick(now, 0)
		ring.Pop(&drain)
	}
}
