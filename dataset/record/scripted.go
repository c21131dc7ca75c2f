package record

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/robot"
)

// Scripted is a scripted operator for the simulator: every joint follows a
// sine around its home position (inside its limits), each at its own
// period, so a recording without a teleoperator still moves the whole
// robot. It starts where the joints are and blends into the motion over
// the first Ramp. It implements control.Source; Target runs on the loop's
// thread and does not allocate.
type Scripted struct {
	n      int
	center [robot.MaxJoints]float64
	amp    [robot.MaxJoints]float64
	period [robot.MaxJoints]float64
	start  [robot.MaxJoints]float64
	t0     time.Time
	begun  bool
	// Ramp is how long the blend from the starting pose takes.
	Ramp time.Duration
}

// NewScripted plans the motion for d's joints: amplitude a quarter of the
// joint's range (at most 0.6 rad), kept under half the joint's velocity
// limit, periods from 3 s up.
func NewScripted(d *robot.Description) *Scripted {
	s := &Scripted{n: len(d.Joints), Ramp: 1500 * time.Millisecond}
	for i, j := range d.Joints {
		lo, hi := float64(j.Min), float64(j.Max)
		amp := math.Min(0.25*(hi-lo)/2, 0.6)
		period := 3 + 0.7*float64(i)
		if v := float64(j.MaxVelocity); v > 0 {
			amp = math.Min(amp, 0.5*v*period/(2*math.Pi))
		}
		c := math.Max(lo+amp, math.Min(hi-amp, float64(j.Home)))
		s.center[i], s.amp[i], s.period[i] = c, amp, period
	}
	return s
}

// Target implements control.Source.
func (s *Scripted) Target(now time.Time, st *robot.State, target *[robot.MaxJoints]float64) (uint64, bool) {
	if !s.begun {
		s.begun, s.t0 = true, now
		for i := 0; i < s.n; i++ {
			s.start[i] = st.Position[i]
		}
	}
	t := now.Sub(s.t0).Seconds()
	a := 1.0
	if r := s.Ramp.Seconds(); r > 0 && t < r {
		x := t / r
		a = x * x * (3 - 2*x)
	}
	var mask uint64
	for i := 0; i < s.n; i++ {
		p := s.center[i] + s.amp[i]*math.Sin(2*math.Pi*t/s.period[i])
		target[i] = s.start[i] + a*(p-s.start[i])
		mask |= 1 << i
	}
	return mask, true
}

// Activate asks loop for torque on and waits (up to timeout) until it is
// active: a source set before that would be cleared by the activation.
func Activate(ctx context.Context, loop *control.Loop, timeout time.Duration) error {
	loop.Request(control.RequestActivate)
	deadline := time.Now().Add(timeout)
	for loop.Lifecycle() != robot.Active {
		if time.Now().After(deadline) {
			return fmt.Errorf("record: the robot did not activate within %v (it is %s, trip %s)", timeout, loop.Lifecycle(), loop.LastTrip())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}
