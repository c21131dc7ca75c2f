package control

import (
	"math"

	"github.com/anther-robotics/anther/robot"
)

// JointLimits bounds one joint's commands.
type JointLimits struct {
	Min, Max  float64 // hard position limits, rad
	Margin    float64 // soft margin inside the hard limits, rad
	MaxVel    float64 // rad/s
	MaxAcc    float64 // rad/s²
	MaxTorque float64 // N·m
}

// LimitsFromDescription builds joint limits from a robot description with a
// soft margin of margin radians (capped at a tenth of each joint's range).
func LimitsFromDescription(d *robot.Description, margin float64) []JointLimits {
	lim := make([]JointLimits, len(d.Joints))
	for i, j := range d.Joints {
		m := min(margin, float64(j.Max-j.Min)/10)
		lim[i] = JointLimits{Min: float64(j.Min), Max: float64(j.Max), Margin: m,
			MaxVel: float64(j.MaxVelocity), MaxAcc: float64(j.MaxAcceleration), MaxTorque: float64(j.MaxTorque)}
	}
	return lim
}

// Limiter turns targets into commands every joint can follow safely: NaN and
// ±Inf targets hold the last command, positions are clamped into the soft
// limits, and motion is shaped so velocity (and so the step per tick) and
// acceleration stay inside their limits: a trapezoidal profile towards the
// target, recomputed each tick, which may overshoot a target that jumps
// closer than the joint can stop and then come back. The hard position
// limits are absolute and win over the acceleration limit. It keeps the
// last command and velocity, so it is per loop; it does not allocate.
type Limiter struct {
	n    int
	dt   float64
	lim  [robot.MaxJoints]JointLimits
	last [robot.MaxJoints]float64 // last commanded position
	vel  [robot.MaxJoints]float64 // last commanded velocity
}

// NewLimiter returns a limiter for joints ticking every dt seconds.
func NewLimiter(limits []JointLimits, dt float64) *Limiter {
	l := &Limiter{n: len(limits), dt: dt}
	copy(l.lim[:], limits)
	return l
}

// Reset starts the limiter from the measured positions at rest, so the first
// command is where the joints are (clamped into the limits).
func (l *Limiter) Reset(s *robot.State) {
	for i := 0; i < l.n; i++ {
		p := s.Position[i]
		if math.IsNaN(p) || math.IsInf(p, 0) {
			p = (l.lim[i].Min + l.lim[i].Max) / 2
		}
		l.last[i] = p
		l.vel[i] = 0
	}
}

// Last returns the last commanded position of joint i.
func (l *Limiter) Last(i int) float64 { return l.last[i] }

// Apply writes into c the command for this tick towards target, and the
// flags saying which joints were clamped or slowed.
func (l *Limiter) Apply(target *[robot.MaxJoints]float64, c *robot.Command) {
	c.N = l.n
	c.Clamped, c.Limited = 0, 0
	dt := l.dt
	for i := 0; i < l.n; i++ {
		lim := &l.lim[i]
		lo, hi := lim.Min+lim.Margin, lim.Max-lim.Margin
		t := target[i]
		if math.IsNaN(t) || math.IsInf(t, 0) {
			t = l.last[i]
			c.Clamped |= 1 << i
		}
		if t < lo {
			t = lo
			c.Clamped |= 1 << i
		} else if t > hi {
			t = hi
			c.Clamped |= 1 << i
		}
		limited := false
		last, vOld := l.last[i], l.vel[i]
		err := t - last
		amax := lim.MaxAcc
		dv := amax * dt
		var v float64
		if math.Abs(err/dt) <= lim.MaxVel && (amax <= 0 || (math.Abs(err/dt-vOld) <= dv && math.Abs(err/dt) <= dv)) {
			// The target is reachable this tick within both limits, and
			// the joint can stop there next tick.
			v = err / dt
		} else {
			// Trapezoidal profile: the fastest speed from which the joint
			// can still stop at the target braking by dv a tick (the
			// discrete form of √(2·a·d)), within the velocity limit...
			vmax := lim.MaxVel
			if amax > 0 {
				n := math.Sqrt(0.25+2*math.Abs(err)/(dv*dt)) - 0.5
				vmax = min(vmax, n*dv)
			}
			v = max(-vmax, min(vmax, err/dt))
			// ...reached without exceeding the acceleration limit.
			if amax > 0 {
				v = max(vOld-dv, min(vOld+dv, v))
			}
			limited = true
		}
		p := last + v*dt
		// Hard limits win over the acceleration limit, but never command a
		// step further out than the last command (a joint found outside its
		// limits is brought back, not snapped).
		p = max(min(lim.Min, last), min(max(lim.Max, last), p))
		if limited {
			c.Limited |= 1 << i
		}
		l.vel[i] = (p - last) / dt
		l.last[i] = p
		c.Position[i] = p
		c.Velocity[i] = l.vel[i]
		c.Effort[i] = lim.MaxTorque
	}
}
