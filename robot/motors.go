package robot

import (
	"math"
	"sort"
)

// Motor holds the facts about a servo model that the drivers and the
// simulator need. Numbers come from the makers' datasheets (ROBOTIS e-Manual,
// Feetech) at the nominal supply voltage; see ../shared/spec/hardware.md.
type Motor struct {
	Key          string           // model key used in descriptions, e.g. "xl330-m288"
	Name         string           // maker's name
	Protocol     string           // "dynamixel2" or "feetech"
	ModelNumber  uint16           // value of the Model Number register
	TicksPerRev  int              // encoder resolution
	StallTorque  NewtonMeters     // at nominal voltage
	MaxVelocity  RadiansPerSecond // no-load speed at nominal voltage
	CurrentUnit  float64          // amperes per Present Current unit
	VelocityUnit float64          // rad/s per Present Velocity unit
	Inertia      float64          // reflected rotor+gear inertia, kg·m² (simulation)
	Damping      float64          // viscous damping, N·m·s/rad (simulation)
	Friction     float64          // Coulomb friction, N·m (simulation)
	TorquePerAmp float64          // N·m per ampere (effort estimate from current)
}

const rpm = 2 * math.Pi / 60

// Motors is the table of known motor models, keyed by Motor.Key.
var Motors = map[string]Motor{
	"xl330-m288": {Key: "xl330-m288", Name: "XL330-M288-T", Protocol: "dynamixel2", ModelNumber: 1200, TicksPerRev: 4096,
		StallTorque: 0.52, MaxVelocity: 103 * rpm, CurrentUnit: 0.001, VelocityUnit: 0.229 * rpm,
		Inertia: 2e-4, Damping: 0.01, Friction: 0.005, TorquePerAmp: 0.52 / 1.47},
	"xl330-m077": {Key: "xl330-m077", Name: "XL330-M077-T", Protocol: "dynamixel2", ModelNumber: 1190, TicksPerRev: 4096,
		StallTorque: 0.215, MaxVelocity: 383 * rpm, CurrentUnit: 0.001, VelocityUnit: 0.229 * rpm,
		Inertia: 5e-5, Damping: 0.002, Friction: 0.002, TorquePerAmp: 0.215 / 1.47},
	"xc330-m288": {Key: "xc330-m288", Name: "XC330-M288-T", Protocol: "dynamixel2", ModelNumber: 1240, TicksPerRev: 4096,
		StallTorque: 0.93, MaxVelocity: 81 * rpm, CurrentUnit: 0.001, VelocityUnit: 0.229 * rpm,
		Inertia: 4e-4, Damping: 0.02, Friction: 0.008, TorquePerAmp: 0.93 / 1.8},
	"xl430-w250": {Key: "xl430-w250", Name: "XL430-W250-T", Protocol: "dynamixel2", ModelNumber: 1060, TicksPerRev: 4096,
		StallTorque: 1.4, MaxVelocity: 57 * rpm, CurrentUnit: 0.00269, VelocityUnit: 0.229 * rpm,
		Inertia: 1e-3, Damping: 0.04, Friction: 0.01, TorquePerAmp: 1.4 / 1.3},
	"xm430-w350": {Key: "xm430-w350", Name: "XM430-W350-T", Protocol: "dynamixel2", ModelNumber: 1020, TicksPerRev: 4096,
		StallTorque: 4.1, MaxVelocity: 46 * rpm, CurrentUnit: 0.00269, VelocityUnit: 0.229 * rpm,
		Inertia: 2e-3, Damping: 0.08, Friction: 0.02, TorquePerAmp: 4.1 / 2.3},
	"sts3215": {Key: "sts3215", Name: "Feetech STS3215", Protocol: "feetech", ModelNumber: 777, TicksPerRev: 4096,
		StallTorque: 1.9, MaxVelocity: 45 * rpm, CurrentUnit: 0.0065, VelocityUnit: 2 * math.Pi / 4096,
		Inertia: 1e-3, Damping: 0.05, Friction: 0.02, TorquePerAmp: 1.9 / 2.7},
}

// MotorModels lists the known motor model keys, sorted.
func MotorModels() []string {
	keys := make([]string, 0, len(Motors))
	for k := range Motors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// MotorByNumber finds a motor model by protocol and Model Number register value.
func MotorByNumber(protocol string, number uint16) (Motor, bool) {
	for _, m := range Motors {
		if m.Protocol == protocol && m.ModelNumber == number {
			return m, true
		}
	}
	return Motor{}, false
}
