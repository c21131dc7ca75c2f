package robot

import (
	"context"
	"errors"
	"time"
)

// MaxJoints is the most joints one robot can have. State and Command hold
// fixed arrays of this size so the control tick never allocates.
const MaxJoints = 32

// JointIndex identifies a joint inside State and Command. It is resolved from
// the joint's name once, when the robot is configured.
type JointIndex int

// JointFault is a bit set of per-joint faults reported by a bus.
type JointFault uint16

// Joint fault bits. A bus sets them in State.Fault; the safety layer reacts.
const (
	FaultNoReply    JointFault = 1 << iota // the motor did not answer this tick
	FaultCorrupt                           // the reply was corrupted (CRC/checksum, framing)
	FaultOverheat                          // the motor reports overheating
	FaultOverload                          // the motor reports overload
	FaultVoltage                           // the motor reports an input-voltage error
	FaultElectrical                        // electrical shock / encoder error
	FaultTorqueOff                         // the motor's torque is off although commanded on
)

// String lists the set fault bits, e.g. "no-reply|overheat".
func (f JointFault) String() string {
	if f == 0 {
		return "ok"
	}
	names := [...]string{"no-reply", "corrupt", "overheat", "overload", "voltage", "electrical", "torque-off"}
	s := ""
	for i, n := range names {
		if f&(1<<i) != 0 {
			if s != "" {
				s += "|"
			}
			s += n
		}
	}
	return s
}

// State is one snapshot of every joint, written by JointBus.Read. Units are
// SI: radians, radians per second, newton-metres (estimated from current).
type State struct {
	N           int                   // number of joints in use
	Time        time.Time             // when the snapshot was read
	Position    [MaxJoints]float64    // rad
	Velocity    [MaxJoints]float64    // rad/s
	Effort      [MaxJoints]float64    // N·m (estimated from motor current)
	Temperature [MaxJoints]float64    // °C, 0 where unknown
	Fault       [MaxJoints]JointFault // faults seen on this read
}

// Command is what the control loop writes to the joints in one tick, after
// the safety layer. Torque says whether the actuators should hold torque.
type Command struct {
	N        int                // number of joints in use
	Torque   bool               // torque enabled (false = limp)
	Position [MaxJoints]float64 // goal position, rad
	Velocity [MaxJoints]float64 // feed-forward or profile velocity, rad/s (0 = none)
	Effort   [MaxJoints]float64 // torque limit for this command, N·m (0 = the joint's max)
	Clamped  uint64             // bit i: joint i's target was outside its position limits or not finite
	Limited  uint64             // bit i: joint i's motion was slowed by its velocity/acceleration limits
}

// JointBus is a set of joints reachable through one transport (a serial
// motor bus, or the simulator). Read and Write are real-time safe: they do
// not allocate and take bounded time. Both touch only the joints the bus owns.
type JointBus interface {
	// Read fills the owned joints of s with fresh measurements.
	Read(now time.Time, s *State) error
	// Write sends c's goals for the owned joints.
	Write(now time.Time, c *Command) error
	// Halt turns torque off at once. It is safe to call at any time, from
	// any goroutine, more than once.
	Halt() error
}

// Hardware is a JointBus with a lifecycle: New touches nothing; Configure
// brings communication up (reads allowed, torque untouched); torque follows
// Command.Torque on each Write, so every bus transaction stays on the loop's
// thread; Halt turns torque off from anywhere; Close releases the transport
// (idempotent; other methods then fail with ErrClosed).
type Hardware interface {
	JointBus
	Configure(ctx context.Context) error
	Close() error
}

// ErrClosed is returned by hardware used after Close.
var ErrClosed = errors.New("robot: closed")

// Lifecycle is the state of the robot (and of each hardware part).
type Lifecycle int32

// The lifecycle states, in the order a robot normally passes through them.
const (
	Unconfigured Lifecycle = iota // nothing opened
	Inactive                      // communication up, reading, no torque
	Active                        // torque on, commands flow
	Holding                       // a watchdog tripped: holding position with limited torque
	Fault                         // a fault stopped the robot; torque off; needs reset
	EStopped                      // emergency stop: torque off; needs reset
)

// String names the lifecycle state as the API shows it.
func (l Lifecycle) String() string {
	switch l {
	case Unconfigured:
		return "unconfigured"
	case Inactive:
		return "inactive"
	case Active:
		return "active"
	case Holding:
		return "holding"
	case Fault:
		return "fault"
	case EStopped:
		return "estopped"
	}
	return "unknown"
}

// PixelFormat is the layout of Frame.Pix.
type PixelFormat uint8

// Pixel formats a camera can deliver. All are packed, rows top to bottom
// with no padding: a row is Width*BytesPerPixel bytes.
const (
	PixelUnknown PixelFormat = iota
	PixelBGR24               // 3 bytes per pixel: blue, green, red (OpenCV's order)
	PixelRGB24               // 3 bytes per pixel: red, green, blue
	PixelGray8               // 1 byte per pixel
)

// BytesPerPixel is the size of one pixel, 0 for PixelUnknown.
func (f PixelFormat) BytesPerPixel() int {
	switch f {
	case PixelBGR24, PixelRGB24:
		return 3
	case PixelGray8:
		return 1
	}
	return 0
}

// String names the format: "bgr24", "rgb24", "gray8" or "unknown".
func (f PixelFormat) String() string {
	switch f {
	case PixelBGR24:
		return "bgr24"
	case PixelRGB24:
		return "rgb24"
	case PixelGray8:
		return "gray8"
	}
	return "unknown"
}

// Frame is one camera image. The caller owns it and its Pix buffer: a
// camera copies into Pix, reusing its capacity, and allocates a larger
// buffer only when the image does not fit. Keep one Frame per consumer and
// pass it on every call so steady-state reads do not allocate.
type Frame struct {
	Seq     uint64      // 1 for a camera's first frame, +1 for each frame it delivered; gaps are frames the consumer missed
	Capture time.Time   // when the image was taken, on this machine's clock: the device or RTP timestamp where known, else Arrival
	Arrival time.Time   // when the image became available to readers
	Width   int         // pixels
	Height  int         // pixels
	Format  PixelFormat // layout of Pix
	Pix     []byte      // Width*Height*Format.BytesPerPixel() bytes, packed rows
}

// Age is how old the image is at now (now minus Capture).
func (f *Frame) Age(now time.Time) time.Duration { return now.Sub(f.Capture) }

// Camera is a source of frames with latest-frame semantics: it captures on
// its own goroutine and keeps only the newest few frames, so a slow reader
// never makes it queue and a slow camera never makes a reader wait.
type Camera interface {
	// Latest copies the newest frame into dst without waiting for the
	// camera (the control loop may call it every tick). It returns
	// ErrNoFrame if no frame has arrived yet, and ErrStale (with dst filled)
	// if the newest frame was captured more than maxAge ago; maxAge <= 0
	// accepts any age.
	Latest(dst *Frame, maxAge time.Duration) error
	// Next waits until a frame newer than dst.Seq is available and copies
	// the newest one into dst. It returns ctx's error if ctx ends first.
	// Not for the control loop: it blocks.
	Next(ctx context.Context, dst *Frame) error
}

// Camera errors.
var (
	// ErrStale means the newest frame is older than the caller accepts.
	ErrStale = errors.New("robot: camera frame is stale")
	// ErrNoFrame means the camera has not delivered a frame yet.
	ErrNoFrame = errors.New("robot: camera has no frame yet")
)
