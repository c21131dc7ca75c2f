// Package sim is anther's simulated robot: joint dynamics driven by servo
// controllers, behind the same robot.JointBus every real robot uses, so the
// whole stack runs and is tested with no hardware.
//
// The physics (Model) is separate from the transport (Bus, in process) so
// that a firmware-backed virtual bus can drive the same Model.
package sim

import (
	"math"

	"github.com/anther-robotics/anther/robot"
)

// JointParams are the physical parameters of one simulated joint.
type JointParams struct {
	Inertia     float64 // kg·m² about the joint
	Damping     float64 // viscous damping, N·m·s/rad
	Friction    float64 // Coulomb friction, N·m
	StallTorque float64 // motor torque at zero speed, N·m
	MaxVelocity float64 // motor no-load speed, rad/s
	Min, Max    float64 // mechanical end stops, rad
}

// ParamsFromDescription takes each joint's parameters from its motor model
// and its mechanical stops a little beyond its limits.
func ParamsFromDescription(d *robot.Description) []JointParams {
	p := make([]JointParams, len(d.Joints))
	for i, j := range d.Joints {
		m := robot.Motors[j.Model]
		over := 0.05 * float64(j.Max-j.Min)
		p[i] = JointParams{Inertia: m.Inertia, Damping: m.Damping, Friction: m.Friction,
			StallTorque: float64(m.StallTorque), MaxVelocity: float64(m.MaxVelocity),
			Min: float64(j.Min) - over, Max: float64(j.Max) + over}
	}
	return p
}

// Model integrates the joints' dynamics: I·q̈ = τ_motor − b·q̇ − f·sign(q̇) +
// τ_ext, with the motor's torque bounded by its torque–speed line and the
// joint stopped at its mechanical end stops. It integrates in fixed substeps
// so a run is bit-for-bit repeatable for the same inputs. Not safe for
// concurrent use.
type Model struct {
	N        int
	Params   [robot.MaxJoints]JointParams
	Pos      [robot.MaxJoints]float64 // rad
	Vel      [robot.MaxJoints]float64 // rad/s
	Torque   [robot.MaxJoints]float64 // last applied motor torque, N·m
	External [robot.MaxJoints]float64 // external torque (a hand, gravity), N·m
	// Substep is the integration step, seconds.
	Substep float64
}

// NewModel returns a model at rest at the given positions.
func NewModel(params []JointParams, pos []float64) *Model {
	m := &Model{N: len(params), Substep: 250e-6}
	copy(m.Params[:], params)
	copy(m.Pos[:], pos)
	return m
}

// MotorTorque bounds a demanded torque by joint i's torque–speed line.
func (m *Model) MotorTorque(i int, demand float64) float64 {
	p := &m.Params[i]
	v := m.Vel[i]
	// Available torque falls linearly to 0 at no-load speed in the direction of motion.
	hi, lo := p.StallTorque, -p.StallTorque
	if p.MaxVelocity > 0 {
		if v > 0 {
			hi = p.StallTorque * max(0, 1-v/p.MaxVelocity)
		} else if v < 0 {
			lo = -p.StallTorque * max(0, 1+v/p.MaxVelocity)
		}
	}
	return max(lo, min(hi, demand))
}

// Controller computes the motor torque demand for joint i from the model's
// state; the virtual bus supplies one per transport (a simple servo, or
// firmware).
type Controller interface {
	Demand(i int, pos, vel, dt float64) float64
}

// Step advances the model by dt seconds in fixed substeps, asking ctrl for
// each joint's torque demand every substep.
func (m *Model) Step(dt float64, ctrl Controller) {
	h := m.Substep
	for dt > 1e-12 {
		step := min(h, dt)
		dt -= step
		for i := 0; i < m.N; i++ {
			p := &m.Params[i]
			tau := m.MotorTorque(i, ctrl.Demand(i, m.Pos[i], m.Vel[i], step))
			m.Torque[i] = tau
			v := m.Vel[i]
			net := tau + m.External[i] - p.Damping*v
			// Coulomb friction: opposes motion, or holds the joint still
			// while the other torques are smaller than it.
			if v == 0 && math.Abs(net) <= p.Friction {
				continue
			}
			if v > 0 || (v == 0 && net > 0) {
				net -= p.Friction
			} else {
				net += p.Friction
			}
			nv := v + net/p.Inertia*step
			if (v > 0 && nv < 0) || (v < 0 && nv > 0) {
				nv = 0 // friction stops the joint rather than reversing it
			}
			m.Vel[i] = nv
			m.Pos[i] += nv * step
			if m.Pos[i] < p.Min {
				m.Pos[i], m.Vel[i] = p.Min, 0
			} else if m.Pos[i] > p.Max {
				m.Pos[i], m.Vel[i] = p.Max, 0
			}
		}
	}
}
