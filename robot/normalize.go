package robot

import (
	"fmt"
	"math"
)

// NormMode is how LeRobot expresses a motor's position to users, datasets
// and policies (lerobot/motors/motors_bus.py MotorNormMode). A dataset
// recorded in one mode is not interchangeable with one recorded in another.
type NormMode uint8

// LeRobot's normalisation modes.
const (
	// NormDegrees is DEGREES: (ticks − (min+max)/2)·360/(resolution−1),
	// not clipped, drive_mode ignored. The SO-100/SO-101 body joints use it
	// since LeRobot v0.4.4 (PR #2968).
	NormDegrees NormMode = iota
	// NormRangeM100_100 is RANGE_M100_100: the calibrated range mapped onto
	// −100…100 (clipped), negated when drive_mode is 1. The SO arms' body
	// joints used it before v0.4.4.
	NormRangeM100_100
	// NormRange0_100 is RANGE_0_100: the calibrated range mapped onto
	// 0…100 (clipped), 100 − value when drive_mode is 1. Grippers use it.
	NormRange0_100
)

// String returns LeRobot's name of m: "DEGREES", "RANGE_M100_100" or
// "RANGE_0_100".
func (m NormMode) String() string {
	switch m {
	case NormDegrees:
		return "DEGREES"
	case NormRangeM100_100:
		return "RANGE_M100_100"
	case NormRange0_100:
		return "RANGE_0_100"
	}
	return fmt.Sprintf("NormMode(%d)", uint8(m))
}

// ParseNormMode parses LeRobot's name of a mode (case as LeRobot writes it,
// or lower case).
func ParseNormMode(s string) (NormMode, error) {
	switch s {
	case "DEGREES", "degrees":
		return NormDegrees, nil
	case "RANGE_M100_100", "range_m100_100":
		return NormRangeM100_100, nil
	case "RANGE_0_100", "range_0_100":
		return NormRange0_100, nil
	}
	return 0, fmt.Errorf("robot: unknown normalisation mode %q (use DEGREES, RANGE_M100_100 or RANGE_0_100)", s)
}

// Normalize converts a motor position in raw, calibrated encoder ticks
// (Present_Position as the motor reports it, homing offset applied) to
// LeRobot's number for mode, exactly as LeRobot's _normalize does.
// resolution is the encoder's ticks per turn (4096 for the STS3215).
// range_min == range_max (which ParseCalibration rejects) gives 0.
func (c MotorCalibration) Normalize(mode NormMode, ticks float64, resolution int) float64 {
	lo, hi := float64(c.RangeMin), float64(c.RangeMax)
	if mode == NormDegrees {
		return (ticks - (lo+hi)/2) * 360 / float64(resolution-1)
	}
	if hi == lo {
		return 0
	}
	f := (min(hi, max(lo, ticks)) - lo) / (hi - lo)
	switch mode {
	case NormRangeM100_100:
		v := f*200 - 100
		if c.DriveMode != 0 {
			return -v
		}
		return v
	case NormRange0_100:
		v := f * 100
		if c.DriveMode != 0 {
			return 100 - v
		}
		return v
	}
	return 0
}

// Unnormalize converts LeRobot's number for mode back to the raw tick
// LeRobot would write as Goal_Position (_unnormalize): the range modes clip
// v to their range first, and the result is truncated toward zero as
// Python's int() does, so the same action gives the same tick here.
func (c MotorCalibration) Unnormalize(mode NormMode, v float64, resolution int) int {
	lo, hi := float64(c.RangeMin), float64(c.RangeMax)
	var t float64
	switch mode {
	case NormDegrees:
		t = v*float64(resolution-1)/360 + (lo+hi)/2
	case NormRangeM100_100:
		if c.DriveMode != 0 {
			v = -v
		}
		t = (min(100, max(-100, v))+100)/200*(hi-lo) + lo
	case NormRange0_100:
		if c.DriveMode != 0 {
			v = 100 - v
		}
		t = min(100, max(0, v))/100*(hi-lo) + lo
	}
	if math.IsNaN(t) {
		return int(lo)
	}
	return int(math.Trunc(max(math.MinInt32, min(math.MaxInt32, t))))
}

// TickMap converts between a motor's calibrated encoder ticks and its
// joint's angle. It is LeRobot's DEGREES mapping in radians, turned by the
// joint's Direction and shifted by its Offset:
//
//	angle = Sign·(ticks − Center)·RadPerTick + Offset
//	Center = (range_min + range_max)/2,  RadPerTick = 2π/(resolution−1)
//
// so that, with Direction +1 and Offset 0, a joint's angle in degrees is
// the number LeRobot records for it in DEGREES mode. Without a calibration
// the range is the whole turn (0…resolution−1). drive_mode is ignored, as
// LeRobot's DEGREES mode ignores it (LeRobot writes 0 for Feetech arms).
// The Feetech bus driver, the normaliser and the simulator's tests all use
// this one mapping.
type TickMap struct {
	Center     float64 // ticks at which the angle is Offset
	RadPerTick float64 // radians per tick
	Sign       float64 // +1 or −1 (the joint's Direction)
	Offset     float64 // rad
}

// NewTickMap returns the mapping of joint j, driven by a motor of model m,
// with calibration cal (nil: the whole turn).
func NewTickMap(j JointSpec, m Motor, cal *MotorCalibration) TickMap {
	res := m.TicksPerRev
	if res <= 1 {
		res = 4096
	}
	lo, hi := 0, res-1
	if cal != nil && cal.RangeMax > cal.RangeMin {
		lo, hi = cal.RangeMin, cal.RangeMax
	}
	sign := 1.0
	if j.Direction < 0 {
		sign = -1
	}
	return TickMap{Center: float64(lo+hi) / 2, RadPerTick: 2 * math.Pi / float64(res-1), Sign: sign, Offset: float64(j.Offset)}
}

// Radians returns the joint angle for a (possibly fractional) tick value.
func (t TickMap) Radians(ticks float64) float64 {
	return t.Sign*(ticks-t.Center)*t.RadPerTick + t.Offset
}

// Ticks returns the (fractional) tick value for a joint angle; round it to
// command a motor.
func (t TickMap) Ticks(rad float64) float64 {
	return t.Center + t.Sign*(rad-t.Offset)/t.RadPerTick
}

// LeRobotModes returns the normalisation mode LeRobot uses for each joint
// of d, in joint order: for SO and Koch arms a joint called "gripper" is
// RANGE_0_100 and the others are DEGREES (degrees true, LeRobot's default
// since v0.4.4) or RANGE_M100_100 (degrees false: datasets recorded with
// use_degrees=False).
func LeRobotModes(d *Description, degrees bool) []NormMode {
	modes := make([]NormMode, len(d.Joints))
	for i, j := range d.Joints {
		switch {
		case j.Name == "gripper":
			modes[i] = NormRange0_100
		case degrees:
			modes[i] = NormDegrees
		default:
			modes[i] = NormRangeM100_100
		}
	}
	return modes
}

// FeatureNames returns LeRobot's feature name of each joint of d, in joint
// order: "<joint>.pos" (e.g. "shoulder_pan.pos"), the names of the
// observation.state and action vectors.
func FeatureNames(d *Description) []string {
	names := make([]string, len(d.Joints))
	for i, j := range d.Joints {
		names[i] = j.Name + ".pos"
	}
	return names
}

// Normalizer converts a robot's joint angles to the numbers LeRobot
// records for them (and back), joint by joint, with each joint's
// calibration and mode resolved once. Its conversion methods do not
// allocate, so a recorder may call them every tick; it is read-only after
// NewNormalizer and safe for concurrent use.
type Normalizer struct {
	n     int
	names []string
	tm    [MaxJoints]TickMap
	cal   [MaxJoints]MotorCalibration
	mode  [MaxJoints]NormMode
	res   [MaxJoints]int
}

// NewNormalizer prepares the conversions for d's joints. cal holds the
// joints' LeRobot calibrations (by joint name); a joint without one uses
// the whole turn (range 0…resolution−1, homing offset 0). modes gives each
// joint's mode in joint order (nil: LeRobotModes(d, true)). The angle of
// each joint must come from the same calibration: a Feetech bus
// configured with cal, or one whose Calibration method returned it.
func NewNormalizer(d *Description, cal Calibration, modes []NormMode) (*Normalizer, error) {
	if modes == nil {
		modes = LeRobotModes(d, true)
	}
	if len(modes) != len(d.Joints) {
		return nil, fmt.Errorf("robot: normalizer: %d modes for %d joints", len(modes), len(d.Joints))
	}
	if len(d.Joints) > MaxJoints {
		return nil, fmt.Errorf("robot: normalizer: %d joints, more than %d", len(d.Joints), MaxJoints)
	}
	z := &Normalizer{n: len(d.Joints), names: FeatureNames(d)}
	for i, j := range d.Joints {
		m, ok := Motors[j.Model]
		if !ok {
			return nil, fmt.Errorf("robot: normalizer: joint %s: unknown motor model %q", j.Name, j.Model)
		}
		res := m.TicksPerRev
		if res <= 1 {
			res = 4096
		}
		c := MotorCalibration{ID: j.ID, RangeMin: 0, RangeMax: res - 1}
		var cp *MotorCalibration
		if mc, ok := cal[j.Name]; ok {
			if mc.RangeMax <= mc.RangeMin {
				return nil, fmt.Errorf("robot: normalizer: joint %s: range_min %d is not below range_max %d", j.Name, mc.RangeMin, mc.RangeMax)
			}
			c, cp = mc, &mc
		}
		if modes[i] > NormRange0_100 {
			return nil, fmt.Errorf("robot: normalizer: joint %s: unknown mode %v", j.Name, modes[i])
		}
		z.tm[i] = NewTickMap(j, m, cp)
		z.cal[i] = c
		z.mode[i] = modes[i]
		z.res[i] = res
	}
	return z, nil
}

// N is the number of joints.
func (z *Normalizer) N() int { return z.n }

// Names returns the LeRobot feature names ("shoulder_pan.pos", …) in joint
// order. The slice is shared: do not modify it.
func (z *Normalizer) Names() []string { return z.names }

// Mode returns joint i's mode.
func (z *Normalizer) Mode(i JointIndex) NormMode { return z.mode[i] }

// Value returns LeRobot's number for joint i at angle rad.
func (z *Normalizer) Value(i JointIndex, rad float64) float64 {
	return z.cal[i].Normalize(z.mode[i], z.tm[i].Ticks(rad), z.res[i])
}

// Radians returns the angle of joint i for LeRobot's number v: the angle
// of the tick LeRobot would write for v (see Unnormalize).
func (z *Normalizer) Radians(i JointIndex, v float64) float64 {
	return z.tm[i].Radians(float64(z.cal[i].Unnormalize(z.mode[i], v, z.res[i])))
}

// FromRadians fills dst[i] with LeRobot's number for every joint's angle
// pos[i] (dst holds N values, as float32 as datasets store them).
func (z *Normalizer) FromRadians(dst []float32, pos *[MaxJoints]float64) {
	for i := 0; i < z.n && i < len(dst); i++ {
		dst[i] = float32(z.Value(JointIndex(i), pos[i]))
	}
}

// ToRadians fills pos[i] with the angle for LeRobot's number src[i], for
// every joint (src holds N values).
func (z *Normalizer) ToRadians(pos *[MaxJoints]float64, src []float32) {
	for i := 0; i < z.n && i < len(src); i++ {
		pos[i] = z.Radians(JointIndex(i), float64(src[i]))
	}
}

// Calibrated is the optional capability of a Hardware part that knows the
// LeRobot calibration its joints are read with (a feetech.Bus, after
// Configure).
type Calibrated interface {
	Calibration() Calibration
}

// CalibrationOf returns the calibrations h's joints are read with, keyed
// by joint name: h's own if it is Calibrated, or those of its Calibrated
// buses if it is a Buses. Joints of other parts are absent (NewNormalizer
// then uses the whole turn for them). Call it after Configure.
func CalibrationOf(h Hardware) Calibration {
	out := Calibration{}
	parts := []Hardware{h}
	if b, ok := h.(Buses); ok {
		parts = b
	}
	for _, p := range parts {
		if c, ok := p.(Calibrated); ok {
			for name, m := range c.Calibration() {
				out[name] = m
			}
		}
	}
	return out
}
