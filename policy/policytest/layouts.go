package policytest

import (
	"math"

	"github.com/anther-robotics/anther/robot"
)

// The observation layouts of the shared real policies, written out from
// their projects' deployment code (see ../shared/testdata/policies/ORIGIN.md)
// without using the spec machinery, so tests can check it.

// Base is what a locomotion observation needs besides joints.
type Base struct {
	Gravity, Gyro [3]float64
	Cmd           [3]float64 // vx, vy, wz
}

// HolosomaObs builds holosoma's 100-value actor_obs for a 29-dof G1:
// terms sorted by name — actions 29 | base_ang_vel·0.25 3 | command_ang_vel 1
// | command_lin_vel 2 | cos_phase 2 | dof_pos−default 29 | dof_vel·0.05 29 |
// projected_gravity 3 | sin_phase 2. Each value is computed in float64,
// scaled, then rounded to float32 once (holosoma's ObservationGroup).
// idx maps holosoma's joint order to robot joint indices.
func HolosomaObs(s *robot.State, idx []int, defaults, lastAction []float64, b Base, phase [2]float64) []float32 {
	var o []float64
	o = append(o, lastAction...)
	for _, g := range b.Gyro {
		o = append(o, g*0.25)
	}
	o = append(o, b.Cmd[2], b.Cmd[0], b.Cmd[1])
	o = append(o, math.Cos(phase[0]), math.Cos(phase[1]))
	for i, j := range idx {
		o = append(o, s.Position[j]-defaults[i])
	}
	for _, j := range idx {
		o = append(o, s.Velocity[j]*0.05)
	}
	o = append(o, b.Gravity[:]...)
	o = append(o, math.Sin(phase[0]), math.Sin(phase[1]))
	return f32(o)
}

// HolosomaPhase steps holosoma's gait phase once (LocomotionPolicy
// update_phase_time at rl_rate 50, gait_period 1): both phases advance
// 2π/50 and wrap to [−π, π); a command below 0.01 holds both at π and moving
// again restarts them at (0, π). standing carries the state between calls.
func HolosomaPhase(phase *[2]float64, standing *bool, cmd [3]float64) {
	dt := 2 * math.Pi / 50
	for i := range phase {
		phase[i] = math.Mod(phase[i]+dt+math.Pi, 2*math.Pi) - math.Pi
	}
	if math.Hypot(cmd[0], cmd[1]) < 0.01 && math.Abs(cmd[2]) < 0.01 {
		phase[0], phase[1] = math.Pi, math.Pi
		*standing = true
	} else if *standing {
		phase[0], phase[1] = 0, math.Pi
		*standing = false
	}
}

// BHLObs builds one Berkeley Humanoid Lite observation frame
// (rl_controller.py): cmd_vel 3 | base_ang_vel 3 | projected_gravity 3 |
// joint_pos−default N | joint_vel N | prev_actions N, unscaled.
func BHLObs(s *robot.State, idx []int, defaults, prevActions []float64, b Base) []float32 {
	var o []float64
	o = append(o, b.Cmd[:]...)
	o = append(o, b.Gyro[:]...)
	o = append(o, b.Gravity[:]...)
	for i, j := range idx {
		o = append(o, s.Position[j]-defaults[i])
	}
	for _, j := range idx {
		o = append(o, s.Velocity[j])
	}
	o = append(o, prevActions...)
	return f32(o)
}

func f32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// Targets turns raw actions into joint targets as both projects do:
// clip(a, lo, hi)·scale + default.
func Targets(raw []float64, lo, hi, scale float64, defaults []float64) []float64 {
	out := make([]float64, len(raw))
	for i, a := range raw {
		out[i] = max(lo, min(hi, a))*scale + defaults[i]
	}
	return out
}
