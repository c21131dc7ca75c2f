package robot

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Radians is an angle in radians, the unit used everywhere inside anther.
type Radians float64

// Deg converts degrees to Radians.
func Deg(d float64) Radians { return Radians(d * math.Pi / 180) }

// Degrees returns a in degrees.
func (a Radians) Degrees() float64 { return float64(a) * 180 / math.Pi }

// String formats a in radians with its unit.
func (a Radians) String() string { return strconv.FormatFloat(float64(a), 'g', 6, 64) + "rad" }

// RadiansPerSecond is an angular velocity.
type RadiansPerSecond float64

// String formats v with its unit.
func (v RadiansPerSecond) String() string {
	return strconv.FormatFloat(float64(v), 'g', 6, 64) + "rad/s"
}

// RadiansPerSecond2 is an angular acceleration.
type RadiansPerSecond2 float64

// String formats a with its unit.
func (a RadiansPerSecond2) String() string {
	return strconv.FormatFloat(float64(a), 'g', 6, 64) + "rad/s^2"
}

// NewtonMeters is a joint torque.
type NewtonMeters float64

// String formats t with its unit.
func (t NewtonMeters) String() string { return strconv.FormatFloat(float64(t), 'g', 6, 64) + "Nm" }

// parseQuantity parses a number with an optional unit suffix. units maps an
// accepted suffix to its factor into the base unit; "" (a bare number) is the
// base unit itself.
func parseQuantity(s string, units map[string]float64) (float64, error) {
	s = strings.TrimSpace(s)
	// The longest prefix that parses as a number is the value; the rest is the unit.
	n := 0
	var v float64
	for i := len(s); i > 0; i-- {
		if f, err := strconv.ParseFloat(strings.TrimSpace(s[:i]), 64); err == nil {
			n, v = i, f
			break
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	suffix := strings.TrimSpace(s[n:])
	f, ok := units[suffix]
	if !ok {
		accepted := make([]string, 0, len(units))
		for u := range units {
			if u != "" {
				accepted = append(accepted, u)
			}
		}
		return 0, fmt.Errorf("%q: unknown unit %q (use one of %s)", s, suffix, strings.Join(sortStrings(accepted), ", "))
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not finite", s)
	}
	return v * f, nil
}

func sortStrings(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

var (
	angleUnits    = map[string]float64{"": 1, "rad": 1, "deg": math.Pi / 180, "°": math.Pi / 180}
	velocityUnits = map[string]float64{"": 1, "rad/s": 1, "deg/s": math.Pi / 180, "rpm": 2 * math.Pi / 60}
	accelUnits    = map[string]float64{"": 1, "rad/s^2": 1, "rad/s2": 1, "deg/s^2": math.Pi / 180, "deg/s2": math.Pi / 180}
	torqueUnits   = map[string]float64{"": 1, "Nm": 1, "N.m": 1, "mNm": 1e-3}
)

// ParseAngle parses an angle: a bare number is radians; "40deg", "40°" and
// "0.7rad" are accepted.
func ParseAngle(s string) (Radians, error) {
	v, err := parseQuantity(s, angleUnits)
	return Radians(v), err
}

// ParseVelocity parses an angular velocity: bare number or "rad/s", "deg/s", "rpm".
func ParseVelocity(s string) (RadiansPerSecond, error) {
	v, err := parseQuantity(s, velocityUnits)
	return RadiansPerSecond(v), err
}

// ParseAcceleration parses an angular acceleration: bare number or "rad/s^2", "deg/s^2".
func ParseAcceleration(s string) (RadiansPerSecond2, error) {
	v, err := parseQuantity(s, accelUnits)
	return RadiansPerSecond2(v), err
}

// ParseTorque parses a torque: bare number or "Nm", "mNm".
func ParseTorque(s string) (NewtonMeters, error) {
	v, err := parseQuantity(s, torqueUnits)
	return NewtonMeters(v), err
}
