package sts3215

import (
	"math"
	"time"

	"github.com/anther-robotics/anther/drivers/feetech"
)

// ticksPerRad converts shaft radians to encoder ticks.
const ticksPerRad = Resolution / (2 * math.Pi)

// phaseMultiTurn is the Phase bit that, when set, makes Present_Position
// continuous instead of wrapping within one turn.
const phaseMultiTurn = 0x10

// Sense reports the shaft's angle (rad, continuous; 0 is encoder position
// 2048) and velocity (rad/s) without running the loops. The first report
// after a power-up also sets Goal_Position to where the shaft is, as the
// servo does when it boots.
func (d *Device) Sense(pos, vel float64) {
	d.encoder = 2048 + pos*ticksPerRad
	d.velocity = vel
	d.updatePresent()
	if !d.sensed {
		d.sensed = true
		d.holdHere()
		d.set(feetech.GoalPosition, d.get(feetech.PresentPosition))
	}
}

// Control runs the firmware's loops for dt seconds with the shaft at pos
// (rad) moving at vel (rad/s) and returns the motor's torque on the shaft
// (N·m, same sign as pos). It updates the Present registers, the thermal
// model and the protections. It does not allocate.
func (d *Device) Control(dt, pos, vel float64) float64 {
	d.Sense(pos, vel)
	if dt <= 0 || math.IsNaN(dt) {
		return d.torque
	}
	d.now += time.Duration(min(dt, 1e6) * float64(time.Second))
	m := &d.motor
	on := d.TorqueEnabled()
	duty := 0.0
	switch d.mem[feetech.OperatingMode.Addr()] {
	case ModeWheel:
		duty = d.wheel(dt, on)
	case ModePWM:
		d.desPos, d.desVel = float64(d.get(feetech.PresentPosition)), 0
		duty = float64(feetech.DecodeSignMagnitude(feetech.Uint16(d.mem[feetech.GoalTime.Addr():]), 10)) / 1000
	default:
		d.profile(dt, on)
		if on {
			duty = d.pid(dt)
		}
	}
	lim := min(1, float64(d.get(feetech.TorqueLimit))/1000)
	if d.latched&feetech.StatusOverload != 0 {
		lim = min(lim, float64(d.mem[feetech.ProtectiveTorque.Addr()])/100)
	}
	duty = max(-lim, min(lim, duty))
	if on {
		omega := d.velocity / m.NoLoadSpeed
		d.duty = duty
		d.torque = m.StallTorque * (duty*d.volts/m.NominalVoltage - omega)
		d.current = d.torque / m.StallTorque * m.StallCurrent
	} else {
		d.duty, d.torque, d.current = 0, 0, 0
	}
	// Winding losses i²R through a thermal resistance, cooling toward
	// ambient with the thermal time constant.
	if m.ThermalTime > 0 && m.StallCurrent > 0 {
		r := m.NominalVoltage / m.StallCurrent
		eq := m.Ambient + d.current*d.current*r*m.ThermalResistance
		d.temp += min(1, dt/m.ThermalTime) * (eq - d.temp)
	}
	d.protect(dt)
	d.updatePresent()
	return d.torque
}

// goal returns Goal_Position bounded by the position limits (the whole
// turn when they are not a valid range).
func (d *Device) goal() float64 {
	g := d.get(feetech.GoalPosition)
	lo, hi := d.get(feetech.MinPositionLimit), d.get(feetech.MaxPositionLimit)
	if lo >= hi {
		lo, hi = 0, Resolution-1
	}
	return float64(max(lo, min(hi, g)))
}

// profile moves the desired position toward the goal within Goal_Velocity
// (steps/s) and Acceleration (100 steps/s²), 0 meaning no bound, stopping
// on the goal without overshoot.
func (d *Device) profile(dt float64, on bool) {
	if !on {
		d.holdHere()
		return
	}
	g := d.goal()
	e := g - d.desPos
	if e == 0 && d.desVel == 0 {
		return
	}
	vmax := math.Inf(1)
	if v := math.Abs(float64(d.get(feetech.GoalVelocity))); v > 0 {
		vmax = v
	}
	acc := float64(d.mem[feetech.Acceleration.Addr()]) * 100
	vcap := vmax
	if acc > 0 {
		vcap = min(vcap, math.Sqrt(2*acc*math.Abs(e)))
	} else {
		vcap = min(vcap, math.Abs(e)/dt)
	}
	target := math.Copysign(vcap, e)
	if acc > 0 {
		dv := acc * dt
		d.desVel += max(-dv, min(dv, target-d.desVel))
	} else {
		d.desVel = target
	}
	next := d.desPos + d.desVel*dt
	if (g-next)*e <= 0 {
		d.desPos, d.desVel = g, 0
		return
	}
	d.desPos = next
}

// pid returns the position loop's duty.
func (d *Device) pid(dt float64) float64 {
	e := d.desPos - float64(d.get(feetech.PresentPosition))
	switch {
	case e > 0 && e <= float64(d.mem[feetech.CCWDeadZone.Addr()]):
		e = 0
	case e < 0 && -e <= float64(d.mem[feetech.CWDeadZone.Addr()]):
		e = 0
	}
	p := float64(d.mem[feetech.PCoefficient.Addr()]) / 2048
	kd := float64(d.mem[feetech.DCoefficient.Addr()]) / 2048
	ki := float64(d.mem[feetech.ICoefficient.Addr()]) / 2048
	d.integ += e * dt * 10
	if ki > 0 {
		d.integ = max(-1/ki, min(1/ki, d.integ))
	} else {
		d.integ = 0
	}
	v := d.velocity * ticksPerRad
	return p*e + kd*(d.desVel-v)/100 + ki*d.integ
}

// wheel returns the duty of wheel mode: Goal_Velocity (steps/s) reached
// within Acceleration, feed-forward plus a proportional velocity loop.
func (d *Device) wheel(dt float64, on bool) float64 {
	d.desPos = float64(d.get(feetech.PresentPosition))
	target := float64(d.get(feetech.GoalVelocity))
	if !on {
		d.desVel = 0
		return 0
	}
	if acc := float64(d.mem[feetech.Acceleration.Addr()]) * 100; acc > 0 {
		dv := acc * dt
		d.desVel += max(-dv, min(dv, target-d.desVel))
	} else {
		d.desVel = target
	}
	v0 := d.motor.NoLoadSpeed * ticksPerRad
	kv := float64(d.mem[feetech.VelocityLoopP.Addr()]) / 10
	return (d.desVel + kv*(d.desVel-d.velocity*ticksPerRad)) / v0
}

// protect updates the fault conditions, after dt seconds of drive, and
// unloads the motor for those armed in Unloading_Condition.
func (d *Device) protect(dt float64) {
	on := d.TorqueEnabled()
	cond := d.injected
	if v := math.Round(d.volts * 10); v > float64(d.mem[feetech.MaxVoltageLimit.Addr()]) || v < float64(d.mem[feetech.MinVoltageLimit.Addr()]) {
		cond |= feetech.StatusVoltage
	}
	if d.temp >= float64(d.mem[feetech.MaxTemperatureLimit.Addr()]) {
		cond |= feetech.StatusOverheat
	}
	if th := float64(d.mem[feetech.OverloadTorque.Addr()]) / 100; on && th > 0 && math.Abs(d.duty) >= th {
		d.overloadT += dt
		if d.overloadT >= float64(d.mem[feetech.ProtectionTime.Addr()])*0.01 {
			d.latched |= feetech.StatusOverload
		}
	} else {
		d.overloadT = 0
	}
	if th := float64(d.get(feetech.ProtectionCurrent)) * CurrentUnit; on && th > 0 && math.Abs(d.current) > th {
		d.overcurT += dt
		if d.overcurT >= float64(d.mem[feetech.OverCurrentTime.Addr()])*0.01 {
			d.latched |= feetech.StatusOvercurrent
		}
	} else {
		d.overcurT = 0
	}
	cond |= d.latched
	d.conditions = cond
	if on && cond&feetech.StatusError(d.mem[feetech.UnloadingCondition.Addr()]) != 0 {
		d.mem[feetech.TorqueEnable.Addr()] = 0
		d.duty, d.current, d.torque = 0, 0, 0
		d.holdHere()
	}
}

// updatePresent writes the Present registers from the drive state.
func (d *Device) updatePresent() {
	raw := math.Round(d.encoder) - float64(d.get(feetech.HomingOffset))
	if d.mem[feetech.Phase.Addr()]&phaseMultiTurn == 0 {
		raw = floorMod(raw, Resolution)
	}
	d.set(feetech.PresentPosition, int(max(-32767, min(32767, raw))))
	v := d.velocity * ticksPerRad
	d.set(feetech.PresentVelocity, int(math.Round(max(-32767, min(32767, v)))))
	d.set(feetech.PresentLoad, int(math.Round(d.duty*1000)))
	d.set(feetech.PresentVoltage, int(math.Round(max(0, d.volts*10))))
	d.set(feetech.PresentTemperature, int(math.Round(max(0, d.temp))))
	d.set(feetech.PresentCurrent, int(math.Round(d.current/CurrentUnit)))
	d.mem[feetech.Status.Addr()] = byte(d.conditions)
	moving := math.Abs(v) > 10 || d.TorqueEnabled() && (d.desVel != 0 || d.desPos != d.goal())
	d.mem[feetech.Moving.Addr()] = 0
	if moving {
		d.mem[feetech.Moving.Addr()] = 1
	}
}

// floorMod returns x mod m in [0, m).
func floorMod(x, m float64) float64 {
	r := math.Mod(x, m)
	if r < 0 {
		r += m
	}
	return r
}
