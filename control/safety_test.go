package control_test

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
)

// faultyBus wraps the simulator to inject faults (a unit-test fake: the
// acceptance fault matrix runs on the firmware simulator elsewhere).
type faultyBus struct {
	*sim.Bus
	clk      *control.SteppedClock
	readErr  error
	fault    robot.JointFault
	faultJ   int
	slow     atomic.Int64 // ns each Read advances the clock
	jumpOnce atomic.Int64 // ns the next Read advances the clock once
	lastCmd  robot.Command
}

func (b *faultyBus) Read(now time.Time, s *robot.State) error {
	if d := b.slow.Load(); d > 0 {
		b.clk.Advance(time.Duration(d))
	}
	if d := b.jumpOnce.Swap(0); d > 0 {
		b.clk.Advance(time.Duration(d))
	}
	err := b.Bus.Read(now, s)
	if b.fault != 0 {
		s.Fault[b.faultJ] |= b.fault
	}
	if b.readErr != nil {
		return b.readErr
	}
	return err
}

func (b *faultyBus) Write(now time.Time, c *robot.Command) error {
	b.lastCmd = *c
	return b.Bus.Write(now, c)
}

type rig struct {
	l   *control.Loop
	clk *control.SteppedClock
	bus *faultyBus
	d   *robot.Description
}

func newRig(t *testing.T, safety control.Safety) *rig {
	t.Helper()
	d, err := robot.Load("reachy-mini")
	if err != nil {
		t.Fatal(err)
	}
	clk := control.NewSteppedClock(epoch)
	bus := &faultyBus{Bus: sim.NewBus(d), clk: clk}
	l, err := control.New(control.Config{Rate: 100, Clock: clk, Bus: bus, Safety: safety,
		Limits: control.LimitsFromDescription(d, 0.01)})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(clk.Now()); err != nil {
		t.Fatal(err)
	}
	r := &rig{l: l, clk: clk, bus: bus, d: d}
	l.Request(control.RequestActivate)
	r.ticks(1)
	if l.Lifecycle() != robot.Active {
		t.Fatalf("not active: %v", l.Lifecycle())
	}
	return r
}

func (r *rig) ticks(n int) {
	for range n {
		now := r.clk.Now().Add(r.l.Period())
		r.clk.SleepUntil(now)
		r.l.Tick(now, 0)
	}
}

// ticksUntil runs ticks until the lifecycle is want and returns how many it took.
func (r *rig) ticksUntil(t *testing.T, want robot.Lifecycle, max int) int {
	t.Helper()
	for k := 1; k <= max; k++ {
		r.ticks(1)
		if r.l.Lifecycle() == want {
			return k
		}
	}
	t.Fatalf("lifecycle %v after %d ticks, want %v (trip %v)", r.l.Lifecycle(), max, want, r.l.LastTrip())
	return 0
}

func TestHeartbeatLossHoldsThenTorqueOff(t *testing.T) {
	r := newRig(t, control.Safety{Heartbeat: 500 * time.Millisecond, HoldGrace: time.Second, HoldTorque: 0.25})
	for range 20 { // an operator sends heartbeats every 50 ms for 1 s
		r.l.Heartbeat()
		r.ticks(5)
	}
	if r.l.Lifecycle() != robot.Active {
		t.Fatalf("tripped while heartbeats flowed: %v", r.l.LastTrip())
	}
	r.l.Heartbeat()
	k := r.ticksUntil(t, robot.Holding, 100)
	// Bound: one heartbeat period plus one tick (50 + 1 ticks at 100 Hz).
	if k > 51 {
		t.Fatalf("held after %d ticks, want ≤ 51", k)
	}
	if r.l.LastTrip() != control.TripHeartbeat || !r.bus.lastCmd.Torque {
		t.Fatalf("trip %v torque %v", r.l.LastTrip(), r.bus.lastCmd.Torque)
	}
	maxT := float64(r.d.Joints[0].MaxTorque)
	if got := r.bus.lastCmd.Effort[0]; math.Abs(got-0.25*maxT) > 1e-9 {
		t.Fatalf("holding effort %v, want %v", got, 0.25*maxT)
	}
	k = r.ticksUntil(t, robot.Fault, 200)
	if k < 99 || k > 101 || r.bus.lastCmd.Torque {
		t.Fatalf("torque off after %d ticks of holding (torque %v), want the 1 s grace", k, r.bus.lastCmd.Torque)
	}
	// Recovery needs an explicit reset.
	r.l.Request(control.RequestActivate)
	r.ticks(1)
	if r.l.Lifecycle() != robot.Fault {
		t.Fatal("activate left Fault without a reset")
	}
	r.l.Request(control.RequestReset)
	r.ticks(1)
	r.l.Request(control.RequestActivate)
	r.ticks(1)
	if r.l.Lifecycle() != robot.Active {
		t.Fatalf("after reset+activate: %v", r.l.Lifecycle())
	}
}

type fnSource func(now time.Time, s *robot.State, tg *[robot.MaxJoints]float64) (uint64, bool)

func (f fnSource) Target(now time.Time, s *robot.State, tg *[robot.MaxJoints]float64) (uint64, bool) {
	return f(now, s, tg)
}

func TestSourceStaleAndNaN(t *testing.T) {
	r := newRig(t, control.Safety{})
	calls := 0
	r.l.SetSource("policy", fnSource(func(_ time.Time, _ *robot.State, tg *[robot.MaxJoints]float64) (uint64, bool) {
		calls++
		tg[0] = 0.1
		return 1, calls < 10 // fresh for 10 ticks, then stalls
	}), 50*time.Millisecond)
	k := r.ticksUntil(t, robot.Holding, 30)
	if r.l.LastTrip() != control.TripSourceStale || k < 14 || k > 16 {
		t.Fatalf("trip %v after %d ticks, want source-stale after ~15", r.l.LastTrip(), k)
	}

	r = newRig(t, control.Safety{})
	r.l.SetSource("policy", fnSource(func(_ time.Time, _ *robot.State, tg *[robot.MaxJoints]float64) (uint64, bool) {
		tg[2] = math.NaN()
		return 4, true
	}), 0)
	r.ticksUntil(t, robot.Holding, 2)
	if r.l.LastTrip() != control.TripSourceInvalid {
		t.Fatalf("trip %v, want source-invalid", r.l.LastTrip())
	}
	for i := range r.d.Joints {
		if math.IsNaN(r.bus.lastCmd.Position[i]) {
			t.Fatal("a NaN reached the bus")
		}
	}
}

func TestBusErrorBudgetAndMotorFault(t *testing.T) {
	r := newRig(t, control.Safety{BusErrorTicks: 5})
	r.bus.readErr = errors.New("injected read error")
	k := r.ticksUntil(t, robot.Fault, 10)
	if k != 5 || r.l.LastTrip() != control.TripBusErrors || r.bus.lastCmd.Torque {
		t.Fatalf("fault after %d ticks, trip %v, torque %v", k, r.l.LastTrip(), r.bus.lastCmd.Torque)
	}

	r = newRig(t, control.Safety{})
	r.bus.fault, r.bus.faultJ = robot.FaultOverheat, 3
	r.ticksUntil(t, robot.Fault, 1)
	if st := r.l.SafetyStatus(); st.Trip != "motor-fault" || len(st.Joints) != 1 || st.Joints[0] != 3 {
		t.Fatalf("safety status %+v", st)
	}

	r = newRig(t, control.Safety{NoReplyTicks: 3})
	r.bus.fault, r.bus.faultJ = robot.FaultNoReply, 5
	if k := r.ticksUntil(t, robot.Fault, 10); k != 3 {
		t.Fatalf("no-reply fault after %d ticks, want 3", k)
	}
}

func TestOverrunStreakAndClockJump(t *testing.T) {
	d, _ := robot.Load("reachy-mini")
	for _, tc := range []struct {
		name string
		set  func(b *faultyBus)
		want control.Trip
	}{
		{"overrun-streak", func(b *faultyBus) { b.slow.Store(int64(15 * time.Millisecond)) }, control.TripOverrunStreak},
		{"clock-jump", func(b *faultyBus) { b.jumpOnce.Store(int64(300 * time.Millisecond)) }, control.TripClockJump},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := control.NewSteppedClock(epoch)
			bus := &faultyBus{Bus: sim.NewBus(d), clk: clk}
			l, _ := control.New(control.Config{Rate: 100, Clock: clk, Bus: bus, Limits: control.LimitsFromDescription(d, 0.01),
				Safety: control.Safety{HoldGrace: time.Hour}})
			l.Request(control.RequestActivate)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- l.Run(ctx) }()
			for l.Lifecycle() != robot.Active {
				time.Sleep(time.Millisecond)
			}
			tc.set(bus)
			deadline := time.Now().Add(5 * time.Second)
			for l.Lifecycle() != robot.Holding && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if l.LastTrip() != tc.want {
				t.Fatalf("trip %v (lifecycle %v), want %v", l.LastTrip(), l.Lifecycle(), tc.want)
			}
		})
	}
}
