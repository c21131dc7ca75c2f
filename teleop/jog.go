package teleop

import (
	"sync/atomic"
	"time"

	"github.com/anther-robotics/anther/robot"
)

// jogCmd is a set of joint velocities from a keyboard or gamepad.
type jogCmd struct {
	mask uint64
	vel  [robot.MaxJoints]float64 // rad/s
	at   time.Time
}

// jogSource is a control.Source that integrates joint velocities from the
// console (keyboard or gamepad with a dead-man key) into targets. Velocity
// commands older than jogStale count as zero, so a released key or a
// stalled browser stops the motion; the targets stay inside the joint limits
// so they never wind up beyond them.
type jogSource struct {
	desc *robot.Description
	cmd  atomic.Pointer[jogCmd]
	last time.Time // loop thread only
}

const jogStale = 250 * time.Millisecond

func (j *jogSource) set(c *jogCmd) { j.cmd.Store(c) }

// Target implements control.Source; it runs on the loop thread.
func (j *jogSource) Target(now time.Time, _ *robot.State, target *[robot.MaxJoints]float64) (uint64, bool) {
	dt := 0.0
	if !j.last.IsZero() {
		dt = now.Sub(j.last).Seconds()
	}
	j.last = now
	c := j.cmd.Load()
	if c == nil || now.Sub(c.at) > jogStale || dt <= 0 || dt > 0.1 {
		return 0, true
	}
	for i := range j.desc.Joints {
		if c.mask&(1<<i) == 0 {
			continue
		}
		jt := &j.desc.Joints[i]
		t := target[i] + c.vel[i]*dt
		target[i] = max(float64(jt.Min), min(float64(jt.Max), t))
	}
	return c.mask, true
}
