package feetech

import "errors"

// Error classes of the bus. Every error a Bus returns matches exactly one
// of them with errors.Is: a transient error may go away on the next tick
// (the bus has already retried within its budget); a fatal one needs the
// robot stopped (torque off) and a person or a reconfiguration.
var (
	ErrTransient = errors.New("feetech: transient bus error")
	ErrFatal     = errors.New("feetech: fatal bus error")
)

// classed is a sentinel error in a class: errors.Is(ErrNoReply,
// ErrTransient) holds. The values are made once and returned as they are
// from the real-time path, which therefore never allocates for an error.
type classed struct {
	msg   string
	class error
}

func (e *classed) Error() string { return e.msg }
func (e *classed) Unwrap() error { return e.class }

// Sentinel errors of the bus, each in a class. Read and Write return them
// unwrapped (no allocation); the non-real-time calls wrap them with details
// using %w.
var (
	// ErrNoReply: a servo did not answer within the timeout, after the
	// retries the tick's budget allowed. Transient.
	ErrNoReply error = &classed{"feetech: no reply", ErrTransient}
	// ErrCorrupt: a reply failed its checksum or framing (LeRobot's
	// "Incorrect status packet", issue #3131). Transient: it is retried
	// within the tick and never ends the loop by itself.
	ErrCorrupt error = &classed{"feetech: corrupt reply", ErrTransient}
	// ErrBusy: a non-real-time call (Halt, a management call) held the
	// port longer than a tick may wait. Transient.
	ErrBusy error = &classed{"feetech: bus busy", ErrTransient}
	// ErrHardware: a servo reports a fault condition other than input
	// voltage in its status byte (overheat, overload, over-current, angle
	// sensor). Fatal.
	ErrHardware error = &classed{"feetech: servo hardware fault", ErrFatal}
	// ErrTorqueLost: a servo that should hold torque was found with its
	// torque off (a power cycle or an unloading protection). The bus does
	// not turn it back on by itself; it reports robot.FaultTorqueOff until
	// a Command with Torque false, then true, re-enables every servo.
	// Fatal.
	ErrTorqueLost error = &classed{"feetech: servo lost its torque", ErrFatal}
	// ErrPort: reading or writing the serial port failed (unplugged
	// adapter, closed port). Fatal.
	ErrPort error = &classed{"feetech: serial port error", ErrFatal}
	// ErrMissingMotors: Configure did not find every servo of the bus.
	// Fatal.
	ErrMissingMotors error = &classed{"feetech: servos missing", ErrFatal}
	// ErrWrongModel: a servo's model number differs from the description.
	// Fatal.
	ErrWrongModel error = &classed{"feetech: wrong servo model", ErrFatal}
	// ErrNotConfigured: Read or Write before a successful Configure.
	// Fatal.
	ErrNotConfigured error = &classed{"feetech: bus not configured", ErrFatal}
)

// IsTransient reports whether err is a transient bus error, one worth
// trying again on a later tick.
func IsTransient(err error) bool { return errors.Is(err, ErrTransient) }
