package actuator

import (
	"math"
	"time"
)

// Unit conversions of the X-series control table.
const (
	pulsesPerRad  = 4096 / (2 * math.Pi)
	velUnitPulses = 0.229 / 60 * 4096     // pulses/s per 0.229 rpm
	accUnitPulses = 214.577 / 3600 * 4096 // pulses/s² per 214.577 rev/min²
	velUnitRad    = 0.229 * rpm           // rad/s per 0.229 rpm
)

// direction returns -1 in reverse mode (Drive Mode bit 0), else 1.
func (d *Device) direction() float64 {
	if d.mem[AddrDriveMode]&1 != 0 {
		return -1
	}
	return 1
}

// Sense reports the motor shaft's angle (rad, continuous; 0 is encoder
// position 2048) and velocity (rad/s) without running the loops. The first
// report after NewDevice sets the absolute encoder: Present Position
// starts within one turn of it, and Goal Position there.
func (d *Device) Sense(pos, vel float64) {
	s := d.direction()
	d.encoder = 2048 + s*pos*pulsesPerRad
	d.velocity = s * vel
	if !d.sensed {
		d.sensed = true
		d.turnBase = floorMod(d.encoder, 4096) - d.encoder
		d.updatePresent()
		d.desPos, d.desVel = float64(d.present), 0
		d.setS(AddrGoalPosition, int64(d.present))
	}
	d.updatePresent()
}

// Control runs the firmware's loops for dt seconds with the shaft at pos
// (rad) moving at vel (rad/s), and returns the motor torque on the shaft
// (N·m, same sign convention as pos). It also updates the Present registers,
// the thermal model and the protections. It does not allocate.
func (d *Device) Control(dt, pos, vel float64) float64 {
	if dt <= 0 {
		d.Sense(pos, vel)
		return d.direction() * d.torque
	}
	d.now += time.Duration(dt * float64(time.Second))
	d.Sense(pos, vel)
	d.watchdog()

	m := &d.model
	on := d.mem[AddrTorqueEnable] != 0
	lim := float64(min(abs32(d.getS(AddrGoalPWM)), d.getS(AddrPWMLimit))) / PWMFull
	omega := d.velocity / m.NoLoadSpeed // back-EMF, as a fraction of the supply at Vn
	vn := m.NominalVoltage / math.Max(d.volts, 0.1)
	mode := d.mem[AddrOperatingMode]
	duty := 0.0
	switch mode {
	case ModePosition, ModeExtendedPosition, ModeCurrentBasedPosition:
		d.profilePosition(dt)
		if !on {
			break
		}
		u := d.positionPID(dt)
		if mode == ModeCurrentBasedPosition {
			duty = d.currentDrive(u/PWMFull*m.StallCurrent, omega, vn)
		} else {
			duty = u / PWMFull
		}
	case ModeVelocity:
		d.profileVelocity(dt)
		if on {
			duty = d.velocityPI(dt) / PWMFull
		}
	case ModeCurrent:
		if on && m.CurrentUnit > 0 {
			duty = d.currentDrive(float64(d.getS(AddrGoalCurrent))*m.CurrentUnit, omega, vn)
		}
	case ModePWM:
		if on {
			duty = float64(d.getS(AddrGoalPWM)) / PWMFull
		}
	}
	duty = math.Max(-lim, math.Min(lim, duty))
	if on {
		d.duty = duty
		d.torque = m.StallTorque * (duty/vn - omega)
		d.current = d.torque / m.StallTorque * m.StallCurrent
	} else {
		d.duty, d.torque, d.current = 0, 0, 0
	}

	// Thermal model: winding losses i²R heat through a thermal resistance;
	// the motor cools toward ambient with the thermal time constant.
	r := m.NominalVoltage / m.StallCurrent
	p := d.current * d.current * r
	d.temp += dt / m.ThermalTime * (m.Ambient + p*m.ThermalResistance - d.temp)

	// Overload: drive saturated while the shaft is (nearly) stalled.
	if on && math.Abs(d.duty) >= 0.95*lim && lim > 0 && math.Abs(omega) < 0.1 {
		d.overload += dt
	} else {
		d.overload = math.Max(0, d.overload-dt)
	}
	cond := byte(0)
	if d.overload >= m.OverloadTime {
		cond |= ErrorOverload
	}
	d.detect(cond)
	d.updatePresent()
	return d.direction() * d.torque
}

// currentDrive returns the duty that makes the current i (A) flow at the
// shaft speed omega (fraction of no-load speed): an ideal current loop,
// bounded later by the PWM limits. vn is Vn/V.
func (d *Device) currentDrive(i, omega, vn float64) float64 {
	m := &d.model
	if d.has(AddrGoalCurrent) {
		g := math.Abs(float64(d.getS(AddrGoalCurrent))) * m.CurrentUnit
		i = math.Max(-g, math.Min(g, i))
	}
	return (i/m.StallCurrent + omega) * vn
}

// positionPID returns the position loop's output in PWM units.
func (d *Device) positionPID(dt float64) float64 {
	kp := float64(d.getU(AddrPositionPGain)) / 128
	ki := float64(d.getU(AddrPositionIGain)) / 65536
	kd := float64(d.getU(AddrPositionDGain)) / 16
	e := d.desPos - float64(d.present)
	d.integPos += e * dt * 1000
	if ki > 0 {
		w := float64(PWMFull) / ki
		d.integPos = math.Max(-w, math.Min(w, d.integPos))
	} else {
		d.integPos = 0
	}
	de := (d.desVel - d.velocity*pulsesPerRad) / 1000 // pulses per ms
	ff1 := float64(d.getU(AddrFeedforward1stGain)) / 4
	u := kp*e + ki*d.integPos + kd*de + ff1*d.desVel/velUnitPulses
	return u
}

// velocityPI returns the velocity loop's output in PWM units.
func (d *Device) velocityPI(dt float64) float64 {
	kp := float64(d.getU(AddrVelocityPGain)) / 128
	ki := float64(d.getU(AddrVelocityIGain)) / 65536
	e := d.desVel/velUnitPulses - d.velocity/velUnitRad
	d.integVel += e * dt * 1000
	if ki > 0 {
		w := float64(PWMFull) / ki
		d.integVel = math.Max(-w, math.Min(w, d.integVel))
	}
	return kp*e + ki*d.integVel
}

// newGoal prepares the profile for a new Goal Position (or new profile
// parameters): a time-based profile (Drive Mode bit 2) turns the
// durations in Profile Velocity/Acceleration (ms) into bounds for the
// distance to go.
func (d *Device) newGoal() {
	pv := float64(d.getU(AddrProfileVelocity))
	pa := float64(d.getU(AddrProfileAcceleration))
	if d.mem[AddrDriveMode]&4 == 0 {
		d.profV, d.profA = pv*velUnitPulses, pa*accUnitPulses
		return
	}
	dist := math.Abs(float64(d.getS(AddrGoalPosition)) - d.desPos)
	t, ta := pv/1000, math.Min(pa, pv/2)/1000
	switch {
	case t == 0 || dist == 0:
		d.profV, d.profA = 0, 0
	case ta == 0:
		d.profV, d.profA = dist/t, 0
	default:
		d.profV = dist / (t - ta)
		d.profA = d.profV / ta
	}
}

// profilePosition moves the desired position toward Goal Position within
// the profile's velocity and acceleration bounds (0 = unbounded), stopping
// on the goal without overshoot.
func (d *Device) profilePosition(dt float64) {
	if d.mem[AddrDriveMode]&4 == 0 {
		d.profV = float64(d.getU(AddrProfileVelocity)) * velUnitPulses
		d.profA = float64(d.getU(AddrProfileAcceleration)) * accUnitPulses
	}
	g := float64(d.getS(AddrGoalPosition))
	if d.mem[AddrTorqueEnable] == 0 {
		d.desPos, d.desVel = float64(d.present), 0
		return
	}
	if d.profV == 0 && d.profA == 0 {
		d.desPos, d.desVel = g, 0
		return
	}
	e := g - d.desPos
	vcap := math.Inf(1)
	if d.profV > 0 {
		vcap = d.profV
	}
	if d.profA > 0 {
		vcap = math.Min(vcap, math.Sqrt(2*d.profA*math.Abs(e)))
	} else {
		vcap = math.Min(vcap, math.Abs(e)/dt)
	}
	target := math.Copysign(vcap, e)
	if d.profA > 0 {
		dv := d.profA * dt
		d.desVel += math.Max(-dv, math.Min(dv, target-d.desVel))
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

// profileVelocity ramps the desired velocity toward Goal Velocity with
// Profile Acceleration (0 = a step).
func (d *Device) profileVelocity(dt float64) {
	target := float64(d.getS(AddrGoalVelocity)) * velUnitPulses
	a := float64(d.getU(AddrProfileAcceleration)) * accUnitPulses
	if d.mem[AddrTorqueEnable] == 0 {
		d.desVel = 0
	} else if a > 0 {
		d.desVel += math.Max(-a*dt, math.Min(a*dt, target-d.desVel))
	} else {
		d.desVel = target
	}
	d.desPos = float64(d.present)
}

// watchdog fires the Bus Watchdog when no instruction came for its period:
// the motion stops where it is and goal writes are refused until the host
// writes 0.
func (d *Device) watchdog() {
	w := int8(d.mem[AddrBusWatchdog])
	if w <= 0 || d.now-d.lastRx <= time.Duration(w)*20*time.Millisecond {
		return
	}
	d.mem[AddrBusWatchdog] = 0xFF
	d.setS(AddrGoalPosition, int64(math.Round(d.desPos)))
	d.setS(AddrGoalVelocity, 0)
	d.setS(AddrGoalPWM, 0)
	d.setS(AddrGoalCurrent, 0)
	d.desVel = 0
	d.profV, d.profA = 0, 0
}

// detect raises hardware error conditions (plus those the model checks
// itself: temperature and supply voltage). Those armed in Shutdown are
// latched and turn torque off.
func (d *Device) detect(cond byte) {
	if d.temp >= float64(d.mem[AddrTemperatureLimit]) {
		cond |= ErrorOverheating
	}
	dv := math.Round(d.volts * 10)
	if dv > float64(d.getU(AddrMaxVoltageLimit)) || dv < float64(d.getU(AddrMinVoltageLimit)) {
		cond |= ErrorInputVoltage
	}
	if latch := cond & d.mem[AddrShutdown]; latch != 0 {
		d.mem[AddrHardwareErrorStatus] |= latch
		d.shutdown()
	}
}

// moving reports whether Present Velocity exceeds Moving Threshold.
func (d *Device) moving() bool {
	v := math.Abs(d.velocity / velUnitRad)
	return v > float64(d.getU(AddrMovingThreshold))
}

// clearMultiTurn brings Present Position back within one turn (CLEAR).
func (d *Device) clearMultiTurn() {
	before := d.present
	d.turnBase += floorMod(float64(d.present), 4096) - float64(d.present)
	d.updatePresent()
	delta := d.present - before
	d.desPos += float64(delta)
	d.setS(AddrGoalPosition, int64(d.getS(AddrGoalPosition)+delta))
}

// updatePresent writes the Present and status registers from the drive
// state.
func (d *Device) updatePresent() {
	m := &d.model
	d.present = int32(math.Floor(d.encoder+d.turnBase+0.5)) + d.getS(AddrHomingOffset)
	d.setS(AddrPresentPosition, int64(d.present))
	vel := math.Round(d.velocity / velUnitRad)
	d.setS(AddrPresentVelocity, int64(vel))
	if m.CurrentUnit > 0 {
		d.setS(AddrPresentCurrent, int64(math.Round(d.current/m.CurrentUnit)))
	} else {
		d.setS(AddrPresentCurrent, int64(math.Round(d.torque/m.StallTorque*1000)))
	}
	d.setS(AddrPresentPWM, int64(math.Round(d.duty*PWMFull)))
	d.setU(AddrPresentInputVoltage, uint32(math.Max(0, math.Round(d.volts*10))))
	d.setU(AddrPresentTemperature, uint32(math.Max(0, math.Min(255, math.Round(d.temp)))))
	d.setS(AddrPositionTrajectory, int64(math.Round(d.desPos)))
	d.setS(AddrVelocityTrajectory, int64(math.Round(d.desVel/velUnitPulses)))
	moving := math.Abs(vel) > float64(d.getU(AddrMovingThreshold))
	d.mem[AddrMoving] = b2u(moving)
	var st byte
	goal := float64(d.getS(AddrGoalPosition))
	if math.Abs(goal-float64(d.present)) <= float64(d.getU(AddrMovingThreshold)) {
		st |= 1 // in position
	}
	if d.mem[AddrTorqueEnable] != 0 && (d.desPos != goal || d.desVel != 0) {
		st |= 2 // profile ongoing
	}
	switch {
	case d.profV == 0 && d.profA == 0:
	case d.profA == 0:
		st |= 1 << 4 // rectangle
	case d.profV == 0:
		st |= 2 << 4 // triangle
	default:
		st |= 3 << 4 // trapezoid
	}
	d.mem[AddrMovingStatus] = st
	d.setU(AddrRealtimeTick, uint32((d.now-d.bootAt)/time.Millisecond)%32768)
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}
