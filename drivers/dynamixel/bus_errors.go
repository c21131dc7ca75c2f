package dynamixel

import "errors"

// Error classes of the bus. Every error the Bus returns matches exactly one
// of them with errors.Is: a transient error may go away on the next tick
// (the bus has already retried within its budget); a fatal one needs the
// robot stopped (torque off) and a person or a reconfiguration.
var (
	ErrTransient = errors.New("dynamixel: transient bus error")
	ErrFatal     = errors.New("dynamixel: fatal bus error")
)

// classed is a sentinel error that belongs to a class. Its Unwrap returns
// the class, so errors.Is(ErrNoReply, ErrTransient) holds. The values are
// made once and returned as they are from the real-time path, which
// therefore never allocates for an error.
type classed struct {
	msg   string
	class error
}

func (e *classed) Error() string { return e.msg }
func (e *classed) Unwrap() error { return e.class }

// Sentinel errors of the bus, each in a class. Read and Write return them
// unwrapped (so they allocate nothing); the non-real-time calls wrap them
// with details (IDs, addresses) using %w.
var (
	// ErrNoReply: a motor did not answer within the timeout, after the
	// retries the tick's budget allowed. Transient.
	ErrNoReply error = &classed{"dynamixel: no reply", ErrTransient}
	// ErrCorrupt: a reply failed its CRC or framing, or a device reported
	// a communication error number. Transient.
	ErrCorrupt error = &classed{"dynamixel: corrupt reply", ErrTransient}
	// ErrBusy: a non-real-time call (Halt, a management call) held the port
	// longer than a tick may wait. Transient.
	ErrBusy error = &classed{"dynamixel: bus busy", ErrTransient}
	// ErrDevice: a device answered with an error number (result fail,
	// range, access …) to a management call. Transient: the request was
	// refused, the bus is fine.
	ErrDevice error = &classed{"dynamixel: device refused the request", ErrTransient}
	// ErrHardware: a motor raised its Alert bit: overheating, overload,
	// electrical or encoder error (or input voltage). It has shut its
	// torque off and needs a REBOOT. Fatal.
	ErrHardware error = &classed{"dynamixel: motor hardware error", ErrFatal}
	// ErrTorqueLost: a motor that should hold torque was found with its
	// torque off (it rebooted, e.g. on a brown-out). The bus does not turn
	// it back on by itself, since the joint may have moved while limp; it
	// reports robot.FaultTorqueOff until a Command with Torque false, then
	// true, re-enables every motor. Fatal.
	ErrTorqueLost error = &classed{"dynamixel: motor lost its torque", ErrFatal}
	// ErrPort: reading or writing the serial port failed (unplugged
	// adapter, closed port). Fatal.
	ErrPort error = &classed{"dynamixel: serial port error", ErrFatal}
	// ErrMissingMotors: Configure did not find every motor of the bus.
	// Fatal.
	ErrMissingMotors error = &classed{"dynamixel: motors missing", ErrFatal}
	// ErrWrongModel: a motor's model number differs from the description.
	// Fatal.
	ErrWrongModel error = &classed{"dynamixel: wrong motor model", ErrFatal}
	// ErrNotConfigured: Read or Write before a successful Configure. Fatal.
	ErrNotConfigured error = &classed{"dynamixel: bus not configured", ErrFatal}
)

// IsTransient reports whether err is a transient bus error, one worth
// trying again on a later tick.
func IsTransient(err error) bool { return errors.Is(err, ErrTransient) }
