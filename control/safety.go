package control

import (
	"time"
)

// Trip is the reason the safety layer stopped normal operation.
type Trip int32

// Reasons the safety layer trips. Each has a defined end state: Holding
// (hold position with limited torque, then torque off after the grace
// period) or Fault (torque off at once); e-stop is EStopped.
const (
	TripNone          Trip = iota
	TripEStop              // e-stop requested → EStopped (torque off at once)
	TripHeartbeat          // operator heartbeat lost → Holding
	TripOverrunStreak      // too many overruns in a row → Holding
	TripClockJump          // the clock jumped or the loop stalled → Holding
	TripSourceStale        // the intent source (policy, teleop) gave no fresh target → Holding
	TripSourceInvalid      // the intent source gave NaN/Inf → Holding
	TripBusErrors          // the bus failed too many ticks in a row → Fault
	TripMotorFault         // a motor reported a hardware error → Fault
	TripHoldExpired        // held for the whole grace period → Fault (torque off)
)

// String names the trip as the API and logs show it.
func (t Trip) String() string {
	switch t {
	case TripNone:
		return "none"
	case TripEStop:
		return "estop"
	case TripHeartbeat:
		return "heartbeat-lost"
	case TripOverrunStreak:
		return "overrun-streak"
	case TripClockJump:
		return "clock-jump"
	case TripSourceStale:
		return "source-stale"
	case TripSourceInvalid:
		return "source-invalid"
	case TripBusErrors:
		return "bus-errors"
	case TripMotorFault:
		return "motor-fault"
	case TripHoldExpired:
		return "hold-expired"
	}
	return "unknown"
}

// Safety configures the watchdogs. Zero values take the defaults below.
type Safety struct {
	// Heartbeat is how long an operator may stay silent once a heartbeat
	// has armed the watchdog (default 500 ms).
	Heartbeat time.Duration
	// HoldGrace is how long a trip holds position before torque goes off
	// (default 2 s).
	HoldGrace time.Duration
	// HoldTorque is the fraction of each joint's torque limit used while
	// holding (default 0.3).
	HoldTorque float64
	// BusErrorTicks is how many consecutive ticks with a bus error trip
	// the loop into Fault (default: 0.1 s worth of ticks, at least 3).
	BusErrorTicks int
	// MotorFaultTicks is how many consecutive ticks a motor may report a
	// hardware error (overheat, overload, electrical) before Fault
	// (default 1: at once).
	MotorFaultTicks int
	// NoReplyTicks is how many consecutive ticks a motor may miss before
	// Fault (default: 0.1 s worth, at least 3).
	NoReplyTicks int
	// OverrunStreak is how many overruns in a row trip Holding (default 10).
	OverrunStreak int
	// ClockJump is the lateness beyond which the loop is taken to have
	// stalled or its clock to have jumped (default 100 ms).
	ClockJump time.Duration
	// SourceStale is how long an intent source may go without a fresh
	// target before Holding (default 3 of its periods, set by SetSource).
	SourceStale time.Duration
}

func (s Safety) withDefaults(rate float64) Safety {
	ticks := func(d time.Duration) int { return max(3, int(d.Seconds()*rate+0.5)) }
	if s.Heartbeat <= 0 {
		s.Heartbeat = 500 * time.Millisecond
	}
	if s.HoldGrace <= 0 {
		s.HoldGrace = 2 * time.Second
	}
	if s.HoldTorque <= 0 || s.HoldTorque > 1 {
		s.HoldTorque = 0.3
	}
	if s.BusErrorTicks <= 0 {
		s.BusErrorTicks = ticks(100 * time.Millisecond)
	}
	if s.MotorFaultTicks <= 0 {
		s.MotorFaultTicks = 1
	}
	if s.NoReplyTicks <= 0 {
		s.NoReplyTicks = ticks(100 * time.Millisecond)
	}
	if s.OverrunStreak <= 0 {
		s.OverrunStreak = 10
	}
	if s.ClockJump <= 0 {
		s.ClockJump = 100 * time.Millisecond
	}
	return s
}

// SafetyStatus is the safety layer's state for the API.
type SafetyStatus struct {
	Trip      string    `json:"trip"`               // last trip reason ("none" if never)
	Since     time.Time `json:"since,omitzero"`     // when it tripped
	Joints    []int     `json:"joints,omitempty"`   // joints involved (motor faults)
	Heartbeat bool      `json:"heartbeat_armed"`    // an operator heartbeat is being watched
	BusStreak int       `json:"bus_error_streak"`   // consecutive failing ticks
	Overruns  int       `json:"overrun_streak"`     // consecutive overruns
	Source    string    `json:"source,omitempty"`   // active intent source
	Clamped   uint64    `json:"clamped_ticks"`      // ticks in which a command was clamped
	Limited   uint64    `json:"rate_limited_ticks"` // ticks in which motion was slowed
}
