package sim

import (
	"context"
	"math"
	"sync/atomic"
	"time"

	"github.com/anther-robotics/anther/robot"
)

// Servo is a position servo as a hobby/Dynamixel motor runs it: PD on
// position error towards a goal, output bounded by the commanded torque
// limit. Torque off gives zero demand (back-drivable joint).
type Servo struct {
	N      int
	Kp, Kd [robot.MaxJoints]float64 // N·m/rad, N·m·s/rad
	Goal   [robot.MaxJoints]float64
	Limit  [robot.MaxJoints]float64 // |torque| bound, N·m (0 = none)
	On     bool
}

// Demand is the servo's torque demand for joint i.
func (s *Servo) Demand(i int, pos, vel, _ float64) float64 {
	if !s.On {
		return 0
	}
	t := s.Kp[i]*(s.Goal[i]-pos) - s.Kd[i]*vel
	if l := s.Limit[i]; l > 0 {
		t = max(-l, min(l, t))
	}
	return t
}

// Bus is an in-process simulated robot behind robot.Hardware: Write sets the
// servos' goals, Read integrates the physics up to now and reports the
// joints. With a stepped clock the whole loop runs deterministically and
// faster than real time.
type Bus struct {
	model  *Model
	servo  Servo
	last   time.Time
	halted atomic.Bool
	torque atomic.Bool // mirror of servo.On for other goroutines
	closed atomic.Bool
}

// NewBus returns a simulated bus for the description's joints, starting at
// their home positions.
func NewBus(d *robot.Description) *Bus {
	params := ParamsFromDescription(d)
	home := make([]float64, len(d.Joints))
	for i, j := range d.Joints {
		home[i] = float64(j.Home)
	}
	b := &Bus{model: NewModel(params, home)}
	b.servo.N = len(params)
	for i, p := range params {
		// Stiff enough to track within a few hundredths of a radian at
		// stall torque, damped near critical for the joint's inertia.
		b.servo.Kp[i] = p.StallTorque / 0.05
		b.servo.Kd[i] = 1.6 * math.Sqrt(b.servo.Kp[i]*p.Inertia)
		b.servo.Goal[i] = home[i]
	}
	return b
}

// Model exposes the physics, for tests that push joints by hand.
func (b *Bus) Model() *Model { return b.model }

// Configure brings the simulated bus up.
func (b *Bus) Configure(context.Context) error {
	if b.closed.Load() {
		return robot.ErrClosed
	}
	return nil
}

// Read integrates the physics up to now and fills s.
func (b *Bus) Read(now time.Time, s *robot.State) error {
	if b.closed.Load() {
		return robot.ErrClosed
	}
	if b.halted.Load() {
		b.servo.On = false
		b.torque.Store(false)
	}
	if !b.last.IsZero() {
		if dt := now.Sub(b.last).Seconds(); dt > 0 {
			b.model.Step(min(dt, 0.1), &b.servo)
		}
	}
	b.last = now
	m := b.model
	s.N = m.N
	s.Time = now
	for i := 0; i < m.N; i++ {
		s.Position[i] = m.Pos[i]
		s.Velocity[i] = m.Vel[i]
		s.Effort[i] = m.Torque[i]
		s.Temperature[i] = 30
		s.Fault[i] = 0
	}
	return nil
}

// Write sets the servo goals, torque limits and torque enable.
func (b *Bus) Write(_ time.Time, c *robot.Command) error {
	if b.closed.Load() {
		return robot.ErrClosed
	}
	if b.halted.Load() && c.Torque {
		b.halted.Store(false) // a later torque-on command re-arms after a halt
	}
	b.servo.On = c.Torque
	b.torque.Store(c.Torque)
	for i := 0; i < b.servo.N; i++ {
		b.servo.Goal[i] = c.Position[i]
		b.servo.Limit[i] = c.Effort[i]
	}
	return nil
}

// Halt turns all torque off; safe from any goroutine.
func (b *Bus) Halt() error {
	b.halted.Store(true)
	return nil
}

// Halted reports whether torque is off (halted, or last commanded off).
func (b *Bus) Halted() bool { return b.halted.Load() || !b.torque.Load() }

// Close shuts the bus; idempotent.
func (b *Bus) Close() error {
	b.closed.Store(true)
	return nil
}

var _ robot.Hardware = (*Bus)(nil)
