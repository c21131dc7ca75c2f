package feetech

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/anther-robotics/anther/robot"
)

// Port is the byte transport a Bus talks through: a serial port
// (go.bug.st/serial.Port satisfies it, see drivers/serialport) or the
// simulator's in-process port. The Bus is its only user while it lives.
type Port interface {
	// Read reads what has arrived, blocking until at least one byte is
	// there or the read timeout passes; (0, nil) means the timeout passed.
	Read(p []byte) (int, error)
	// Write queues p for transmission.
	Write(p []byte) (int, error)
	// SetReadTimeout sets how long a Read may block.
	SetReadTimeout(d time.Duration) error
	// ResetInputBuffer discards bytes received but not yet read.
	ResetInputBuffer() error
}

// BaudSetter is an optional capability of a Port: switching its baud rate
// (8N1 kept). Scanning several rates and SetBaud's check need it;
// drivers/serialport's ports and the simulator's have it.
type BaudSetter interface {
	SetBaud(baud int) error
}

// The block the bus reads every tick: Present_Position (2), Present_Velocity
// (2), Present_Load (2), Present_Voltage (1), Present_Temperature (1),
// contiguous from address 56.
const (
	stateAddr = 56
	stateSize = 8
)

// JointConfig is one servo of a bus and the joint it drives. The joint
// angle is robot.TickMap's: LeRobot's DEGREES mapping of the calibrated
// Present_Position, turned by Direction and shifted by Offset. Velocity is
// Present_Velocity (steps/s) at the same scale; effort is Present_Load
// (0.1 % of full drive) times the motor's stall torque.
//
// A LeRobot calibration is applied as LeRobot applies it to Feetech servos:
// in the servo. Its homing_offset is Homing_Offset (Present = Actual −
// Homing_Offset), range_min/range_max are Min/Max_Position_Limit; Configure
// writes those that differ (torque off, Lock cleared while writing).
// Without a calibration, Configure reads those registers and uses what the
// servo holds (a LeRobot-calibrated arm needs no file).
type JointConfig struct {
	Index       robot.JointIndex        // the joint's index in State and Command
	Name        string                  // the joint's name, for messages
	ID          byte                    // servo ID on the bus
	Motor       robot.Motor             // servo model facts
	Direction   int                     // +1 or −1; 0 means +1
	Offset      robot.Radians           // joint angle at the middle of the calibrated range
	Calibration *robot.MotorCalibration // optional; written to the servo by Configure
}

// Gains are the position loop's coefficients (P_Coefficient,
// I_Coefficient, D_Coefficient).
type Gains struct{ P, I, D byte }

// LeRobotGains returns the coefficients LeRobot writes to SO follower arms
// (config_so_follower.py: P 16, I 0, D 32), softer than the factory 32/0/32.
func LeRobotGains() Gains { return Gains{P: 16, I: 0, D: 32} }

// BusConfig configures a Bus. Zero values take the defaults given.
type BusConfig struct {
	Name      string    // bus name, for messages and logs
	Baud      int       // bits per second the port runs at (default 1 Mbps)
	BaudTable BaudTable // how SetBaud numbers rates (default BaudTableSDK, what the servos implement)

	// ReturnDelay is the Return_Delay_Time Configure writes to every servo
	// (0…510 µs in 2 µs steps; default 0, as LeRobot writes; the factory
	// value is 500 µs). The timeouts count it per reply.
	ReturnDelay time.Duration
	// Acceleration is the Acceleration (100 steps/s² units, 1…254) and
	// Maximum_Acceleration Configure writes (default 254, as LeRobot's
	// configure_motors; negative: leave them).
	Acceleration int
	// Gains, when set, are written by Configure (LeRobotGains for a
	// follower arm; nil leaves the servos' own).
	Gains *Gains

	// Retries is how many more times a Read asks the servos that did not
	// answer (default 2, as LeRobot's num_read_retries; negative: none).
	// Retries stop early when the next one would overrun Budget.
	Retries int
	// Budget is the most time one Read may take, retries included
	// (default: 1 + Retries read timeouts). Set it to a fraction of the
	// loop period.
	Budget time.Duration
	// Latency is the host-side allowance added to every read timeout: USB
	// latency timer and scheduling (default 2 ms).
	Latency time.Duration
	// Processing is a servo's time to start answering, beyond its return
	// delay, counted once per reply (default 50 µs).
	Processing time.Duration
	// BusyWait is how long Read and Write wait for a non-real-time call
	// (Halt, a management call) to release the port (default 2 ms).
	BusyWait time.Duration
	// CheckEvery is how many Reads pass between two checks of Torque_Enable
	// (one more SYNC_READ of one byte), which find a servo that lost its
	// torque (power cycle, unloading protection) (default 50; negative:
	// never). A check runs only when the Read's budget has room; a servo
	// that comes back after missing replies is checked at once.
	CheckEvery int

	Joints []JointConfig // the servos on this bus
	Logger *slog.Logger  // for Configure and management calls (default slog.Default())
}

// motor is a Bus's per-servo state.
type motor struct {
	cfg       JointConfig
	joint     robot.JointIndex
	id        byte
	tm        robot.TickMap
	cal       robot.MotorCalibration // in use (after Configure)
	lo, hi    int32                  // goal bounds, ticks
	effUnit   float64                // N·m per Present_Load unit
	signBit   uint                   // Goal/Present_Position sign bit
	goal      int32                  // last goal written
	haveGoal  bool
	got       bool
	corrupt   bool
	status    StatusError
	data      [stateSize]byte
	missed    int
	gotByte   bool
	byteVal   byte
	torqueOff bool // found with torque off while it should be on

	// Published for other goroutines.
	fault   atomic.Uint32 // robot.JointFault of the latest read
	errBits atomic.Uint32 // status byte of the latest reply
	noReply atomic.Uint64
	corrupN atomic.Uint64
}

// Who holds the port.
const (
	ownerIdle int32 = iota
	ownerTick       // Read or Write, on the loop's thread
	ownerCall       // Configure, Halt, Close or a management call
)

// What the receive loop is collecting.
const (
	rxState   = iota // one status per servo with the state block
	rxByte           // one status per servo with one byte
	rxSingle         // one status from b.single.id
	rxCollect        // every status, copied (not real-time)
)

// Bus is one Feetech STS bus implementing robot.Hardware for its joints:
// Read does one SYNC_READ of the state block (addresses 56–63: position,
// velocity, load, voltage, temperature) for every servo, Write one
// SYNC_WRITE of Goal_Position, plus Torque_Enable when Command.Torque
// changes. A corrupted, missing or garbled reply is retried within the
// Read's budget, counted, and reported per joint (robot.FaultCorrupt,
// robot.FaultNoReply) with a transient error: it never ends the loop by
// itself (LeRobot issue #3131). Read and Write are for the control loop's
// thread: they do not allocate and take at most BusConfig.Budget (Read) or
// the time to queue a few packets (Write).
//
// Halt may be called from any goroutine and never interleaves bytes with a
// transaction in flight: the port has one holder at a time (an atomic
// owner word; the loop's Read/Write take it without locking, let a waiting
// non-real-time caller go first, and wait at most BusyWait, then fail with
// ErrBusy). Halt sets a flag the next Write honours, then takes the port
// itself and writes torque off at once, checking with a read-back. After a
// Halt, torque stays off even if commands ask for it, until a Command with
// Torque false has been written; meanwhile Read reports
// robot.FaultTorqueOff on every joint.
//
// The management calls (Ping, Scan, ReadRegister, WriteRegister, Torque,
// SetID, SetBaud, and the calibration calls) are for tools; they may
// allocate and block, and hold the port for their whole duration.
type Bus struct {
	port   Port
	cfg    BusConfig
	log    *slog.Logger
	timing Timing
	n      int
	m      [robot.MaxJoints]motor
	ids    [robot.MaxJoints]byte
	byID   [256]int8
	budget time.Duration

	// Owned by the port's holder.
	tx       [MaxPacket]byte
	rx       [256]byte
	dec      Decoder
	decLast  DecoderStats
	data     [robot.MaxJoints * 2]byte
	retryIDs [robot.MaxJoints]byte
	single   struct {
		id   byte
		got  bool
		bad  bool
		err  StatusError
		size int
		val  [MaxParams]byte
	}
	collected  []Packet
	seen       int
	torque     int8 // -1 unknown, 0 off, 1 on, as last written to all servos
	latched    bool // torque held off after a Halt, until a Command with Torque false
	wantTorque bool // Torque of the last Command
	reads      uint64
	checkSoon  bool

	owner      atomic.Int32
	waiting    atomic.Int32
	sem        chan struct{}
	haltReq    atomic.Bool
	configured atomic.Bool
	closed     atomic.Bool
	stats      busCounters
}

var _ robot.Hardware = (*Bus)(nil)

// NewBus returns a Bus for the joints in cfg over port. It does not touch
// the port; Configure does. If port is an io.Closer, Close closes it.
func NewBus(port Port, cfg BusConfig) *Bus {
	if cfg.Baud <= 0 {
		cfg.Baud = 1000000
	}
	if cfg.Acceleration == 0 {
		cfg.Acceleration = 254
	}
	cfg.Acceleration = min(cfg.Acceleration, 254)
	if cfg.Retries == 0 {
		cfg.Retries = 2
	}
	cfg.Retries = max(cfg.Retries, 0)
	if cfg.Latency <= 0 {
		cfg.Latency = 2 * time.Millisecond
	}
	if cfg.Processing <= 0 {
		cfg.Processing = 50 * time.Microsecond
	}
	if cfg.BusyWait <= 0 {
		cfg.BusyWait = 2 * time.Millisecond
	}
	if cfg.CheckEvery == 0 {
		cfg.CheckEvery = 50
	}
	cfg.ReturnDelay = min(max(cfg.ReturnDelay, 0), 510*time.Microsecond)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Name == "" {
		cfg.Name = "feetech"
	}
	if len(cfg.Joints) > robot.MaxJoints {
		cfg.Joints = cfg.Joints[:robot.MaxJoints]
	}
	b := &Bus{port: port, cfg: cfg, log: cfg.Logger, n: len(cfg.Joints), torque: -1, sem: make(chan struct{}, 1)}
	b.dec.Status = true
	b.timing = Timing{Baud: cfg.Baud, ReturnDelay: cfg.ReturnDelay, Processing: cfg.Processing, Latency: cfg.Latency}
	for i := range b.byID {
		b.byID[i] = -1
	}
	for k, jc := range cfg.Joints {
		m := &b.m[k]
		m.cfg = jc
		m.joint, m.id = jc.Index, jc.ID
		m.signBit, _ = GoalPosition.SignBit()
		m.effUnit = float64(jc.Motor.StallTorque) / 1000
		m.setCalibration(jc.Calibration)
		if jc.Direction < 0 {
			m.effUnit = -m.effUnit
		}
		b.ids[k] = jc.ID
		b.byID[jc.ID] = int8(k)
	}
	b.budget = cfg.Budget
	if b.budget <= 0 {
		b.budget = time.Duration(1+cfg.Retries) * b.ReadTimeout()
	}
	return b
}

// setCalibration makes c the servo's calibration in use (nil: the whole
// turn).
func (m *motor) setCalibration(c *robot.MotorCalibration) {
	res := m.cfg.Motor.TicksPerRev
	if res <= 1 {
		res = ResolutionSTS3215
	}
	if c != nil && c.RangeMax > c.RangeMin {
		m.cal = *c
	} else {
		m.cal = robot.MotorCalibration{ID: int(m.id), RangeMin: 0, RangeMax: res - 1}
	}
	m.cal.ID = int(m.id)
	m.tm = robot.NewTickMap(robot.JointSpec{Direction: m.cfg.Direction, Offset: m.cfg.Offset}, m.cfg.Motor, &m.cal)
	m.lo, m.hi = int32(max(0, m.cal.RangeMin)), int32(min(res-1, m.cal.RangeMax))
}

// Name is the bus name from the configuration.
func (b *Bus) Name() string { return b.cfg.Name }

// Timing returns the bus's timing model (baud, return delay, allowances).
func (b *Bus) Timing() Timing { return b.timing }

// ReadTimeout is the timeout of one attempt of the per-tick state read.
func (b *Bus) ReadTimeout() time.Duration { return b.timing.SyncReadTimeout(b.n, stateSize) }

// Budget is the most time one Read may take, retries included.
func (b *Bus) Budget() time.Duration { return b.budget }

// CycleWireTime is the lower bound of one Read plus Write on the wire: the
// state SYNC_READ and its replies, each servo's return delay, and the
// Goal_Position SYNC_WRITE. Host latency comes on top.
func (b *Bus) CycleWireTime() time.Duration {
	n := b.n
	bytes := syncReadTxBytes(n) + syncReadRxBytes(n, stateSize) + syncWriteBytes(n, 2)
	return WireTime(bytes, b.timing.Baud) + time.Duration(n)*b.timing.ReturnDelay
}

// Calibration returns the LeRobot calibration of every joint in use (as
// configured, or as read from the servos by Configure), keyed by joint
// name. Call it after Configure, from any goroutine that does not race a
// calibration call.
func (b *Bus) Calibration() robot.Calibration {
	c := robot.Calibration{}
	for k := 0; k < b.n; k++ {
		c[b.m[k].cfg.Name] = b.m[k].cal
	}
	return c
}

// acquireTick takes the port for Read or Write, waiting at most BusyWait
// in a plain spin (the loop's thread is locked and the wait is short). A
// waiting non-real-time caller goes first.
func (b *Bus) acquireTick() bool {
	if b.waiting.Load() == 0 && b.owner.CompareAndSwap(ownerIdle, ownerTick) {
		return true
	}
	deadline := time.Now().Add(b.cfg.BusyWait)
	for time.Now().Before(deadline) {
		if b.waiting.Load() == 0 && b.owner.CompareAndSwap(ownerIdle, ownerTick) {
			return true
		}
	}
	return false
}

func (b *Bus) releaseTick() { b.owner.Store(ownerIdle) }

// acquireCall takes the port for a non-real-time call, waiting for other
// calls and for a tick's transaction to finish, until ctx ends.
func (b *Bus) acquireCall(ctx context.Context) error {
	select {
	case b.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	b.waiting.Add(1)
	defer b.waiting.Add(-1)
	for !b.owner.CompareAndSwap(ownerIdle, ownerCall) {
		if err := ctx.Err(); err != nil {
			<-b.sem
			return err
		}
		time.Sleep(20 * time.Microsecond)
	}
	return nil
}

func (b *Bus) releaseCall() {
	b.owner.Store(ownerIdle)
	<-b.sem
}

// enterTick checks that the bus may be used and takes the port for Read or
// Write.
func (b *Bus) enterTick() error {
	if b.closed.Load() {
		return robot.ErrClosed
	}
	if !b.configured.Load() {
		return ErrNotConfigured
	}
	if !b.acquireTick() {
		b.stats.busy.Add(1)
		return ErrBusy
	}
	return nil
}

// Read fills the bus's joints in s (Position, Velocity, Effort,
// Temperature, Fault) and sets s.Time to now. It is real-time safe: no
// allocation, at most Budget.
//
// A servo that did not answer (after retries) keeps its previous values
// and gets robot.FaultNoReply, or robot.FaultCorrupt if damaged replies
// were seen; Read then returns ErrNoReply or ErrCorrupt (transient). A
// servo whose status byte has fault bits gets the matching joint faults;
// Read returns ErrHardware (fatal) unless the only one is input voltage,
// reported as robot.FaultVoltage without failing the read.
func (b *Bus) Read(now time.Time, s *robot.State) error {
	if err := b.enterTick(); err != nil {
		return err
	}
	err := b.readState(now, s)
	b.releaseTick()
	return err
}

// readState is Read with the port held.
func (b *Bus) readState(now time.Time, s *robot.State) error {
	if b.n == 0 {
		s.Time = now
		return nil
	}
	start := time.Now()
	deadline := start.Add(b.budget)
	for k := 0; k < b.n; k++ {
		m := &b.m[k]
		m.got, m.corrupt, m.status = false, false, 0
	}
	ids := b.ids[:b.n]
	var portErr error
	for attempt := 0; ; attempt++ {
		timeout := b.timing.SyncReadTimeout(len(ids), stateSize)
		if attempt == 0 {
			timeout = min(timeout, b.budget)
		} else {
			if attempt > b.cfg.Retries || time.Now().Add(timeout).After(deadline) {
				break
			}
			b.stats.retries.Add(1)
		}
		if portErr = b.exchange(AppendSyncRead(b.tx[:0], stateAddr, stateSize, ids), rxState, len(ids), ids, timeout); portErr != nil {
			break
		}
		ids = b.retryIDs[:0]
		for k := 0; k < b.n; k++ {
			if !b.m[k].got {
				ids = append(ids, b.m[k].id)
			}
		}
		if len(ids) == 0 {
			break
		}
		b.stats.timeouts.Add(1)
	}
	b.reads++
	for k := 0; k < b.n; k++ {
		if b.m[k].got && b.m[k].missed > 0 {
			b.checkSoon = true // back from silence: it may have lost its torque
		}
	}
	if portErr == nil {
		portErr = b.torqueCheck(deadline)
	}

	var missing, corrupt, hardware, lost bool
	for k := 0; k < b.n; k++ {
		m := &b.m[k]
		j := m.joint
		var f robot.JointFault
		if m.got {
			sb, _ := PresentVelocity.SignBit()
			pos := DecodeSignMagnitude(Uint16(m.data[0:2]), m.signBit)
			vel := DecodeSignMagnitude(Uint16(m.data[2:4]), sb)
			lb, _ := PresentLoad.SignBit()
			load := DecodeSignMagnitude(Uint16(m.data[4:6]), lb)
			s.Position[j] = m.tm.Radians(float64(pos))
			if !m.haveGoal {
				m.goal = max(m.lo, min(m.hi, int32(pos))) // hold here if torque comes on without a goal
			}
			s.Velocity[j] = m.tm.Sign * float64(vel) * m.tm.RadPerTick
			s.Effort[j] = float64(load) * m.effUnit
			s.Temperature[j] = float64(m.data[7])
			m.missed = 0
			m.errBits.Store(uint32(m.status))
			f |= statusFaults(m.status)
			if m.status&^StatusVoltage != 0 {
				hardware = true
			}
		} else {
			m.missed++
			if m.corrupt {
				f |= robot.FaultCorrupt
				m.corrupN.Add(1)
				corrupt = true
			} else {
				f |= robot.FaultNoReply
				m.noReply.Add(1)
				missing = true
			}
		}
		if b.wantTorque && (b.latched || b.torque == 0 || m.torqueOff) {
			f |= robot.FaultTorqueOff
			lost = lost || m.torqueOff && !b.latched
		}
		s.Fault[j] = f
		m.fault.Store(uint32(f))
	}
	s.Time = now
	d := time.Since(start)
	b.stats.reads.Add(1)
	b.stats.lastRead.Store(int64(d))
	if int64(d) > b.stats.maxRead.Load() {
		b.stats.maxRead.Store(int64(d))
	}
	switch {
	case portErr != nil:
		b.stats.portErrors.Add(1)
		return portErr
	case hardware:
		return ErrHardware
	case lost:
		return ErrTorqueLost
	case corrupt:
		return ErrCorrupt
	case missing:
		return ErrNoReply
	}
	return nil
}

// statusFaults maps a status byte to joint faults.
func statusFaults(s StatusError) robot.JointFault {
	var f robot.JointFault
	if s&StatusVoltage != 0 {
		f |= robot.FaultVoltage
	}
	if s&StatusOverheat != 0 {
		f |= robot.FaultOverheat
	}
	if s&StatusOverload != 0 {
		f |= robot.FaultOverload
	}
	if s&(StatusAngle|StatusOvercurrent) != 0 {
		f |= robot.FaultElectrical
	}
	return f
}

// torqueCheck runs the periodic one-byte SYNC_READ of Torque_Enable (see
// BusConfig.CheckEvery) if it is due and fits before deadline. It returns
// only port errors.
func (b *Bus) torqueCheck(deadline time.Time) error {
	every := b.cfg.CheckEvery
	if every < 0 || !b.checkSoon && b.reads%uint64(every) != 0 {
		return nil
	}
	n := b.n
	timeout := b.timing.Timeout(syncReadTxBytes(n), syncReadRxBytes(n, 1), n)
	if time.Now().Add(timeout).After(deadline) {
		return nil
	}
	b.checkSoon = false
	for k := 0; k < n; k++ {
		b.m[k].gotByte = false
	}
	if err := b.exchange(AppendSyncRead(b.tx[:0], TorqueEnable.Addr(), 1, b.ids[:n]), rxByte, n, b.ids[:n], timeout); err != nil {
		return err
	}
	for k := 0; k < n; k++ {
		m := &b.m[k]
		if m.gotByte && m.byteVal == 0 && b.torque == 1 && b.wantTorque && !b.latched {
			m.torqueOff = true
		}
	}
	return nil
}

// exchange sends tx, then receives and dispatches status packets (see
// absorb) until want packets were seen or timeout passes. Port errors are
// returned; everything else is recorded in the servos or b.single.
func (b *Bus) exchange(tx []byte, mode, want int, ids []byte, timeout time.Duration) error {
	b.dec.Reset()
	_ = b.port.ResetInputBuffer()
	b.seen = 0
	if err := b.send(tx); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for b.seen < want {
		rem := time.Until(deadline)
		if rem <= 0 {
			break
		}
		if err := b.port.SetReadTimeout(rem); err != nil {
			return b.portError(err)
		}
		n, err := b.port.Read(b.rx[:])
		if err != nil {
			return b.portError(err)
		}
		for p := b.rx[:n]; len(p) > 0; {
			w, _ := b.dec.Write(p)
			p = p[w:]
			b.absorb(mode, ids)
		}
	}
	// A frame truncated on the wire (or a false header) may hide whole
	// replies behind it: give up on it and look again.
	for b.seen < want && b.dec.Resync() {
		b.absorb(mode, ids)
	}
	st := b.dec.Stats()
	b.stats.corrupt.Add(st.ChecksumErrors - b.decLast.ChecksumErrors + st.LengthErrors - b.decLast.LengthErrors)
	b.stats.garbage.Add(st.Garbage - b.decLast.Garbage)
	b.decLast = st
	return nil
}

// absorb takes every whole packet out of the decoder.
func (b *Bus) absorb(mode int, ids []byte) {
	for {
		p, err := b.dec.Next()
		if err == ErrNeedMore {
			return
		}
		if err != nil {
			if err != ErrChecksum {
				continue // a false header (the decoder counts it)
			}
			// A damaged reply: some servo's. Whoever is still missing at
			// the end is marked corrupt.
			b.seen++
			for _, id := range ids {
				if k := b.byID[id]; k >= 0 && !b.m[k].got {
					b.m[k].corrupt = true
				}
			}
			if mode == rxSingle {
				b.single.bad = true
			}
			continue
		}
		if p.ID == BroadcastID {
			// Our own broadcast request, echoed by an adapter that hears
			// itself. (A unicast echo cannot be told from a reply by its
			// bytes; the Feetech adapters in use do not echo.)
			continue
		}
		switch mode {
		case rxState:
			k := b.byID[p.ID]
			if k < 0 || b.m[k].got || !contains(ids, p.ID) {
				continue
			}
			if len(p.Params) != stateSize {
				continue // a late reply to another request
			}
			m := &b.m[k]
			b.seen++
			copy(m.data[:], p.Params)
			m.got, m.status = true, StatusError(p.Err)
		case rxByte:
			k := b.byID[p.ID]
			if k < 0 || b.m[k].gotByte || len(p.Params) != 1 {
				continue
			}
			b.seen++
			b.m[k].byteVal, b.m[k].gotByte = p.Params[0], true
		case rxSingle:
			if p.ID != b.single.id && b.single.id != BroadcastID || len(p.Params) != b.single.size {
				continue
			}
			b.seen++
			b.single.err = StatusError(p.Err)
			copy(b.single.val[:], p.Params)
			b.single.got = true
		case rxCollect:
			b.seen++
			p.Params = append([]byte(nil), p.Params...)
			b.collected = append(b.collected, p)
		}
	}
}

func contains(ids []byte, id byte) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// send writes all of tx to the port.
func (b *Bus) send(tx []byte) error {
	for len(tx) > 0 {
		n, err := b.port.Write(tx)
		if err != nil {
			return b.portError(err)
		}
		if n <= 0 {
			return ErrPort
		}
		tx = tx[n:]
	}
	return nil
}

// portError wraps a port failure (fatal, rare: it may allocate).
func (b *Bus) portError(err error) error {
	if errors.Is(err, ErrPort) {
		return err
	}
	return fmt.Errorf("feetech: bus %s: %w: %w", b.cfg.Name, ErrPort, err)
}

// Write sends c for the bus's joints: Goal_Position to every servo in one
// SYNC_WRITE while torque is on, and Torque_Enable (one SYNC_WRITE) when
// c.Torque changes or a Halt is pending. Turning torque on writes the
// goals first, so the servos do not jump to stale goals. Goals are bounded
// by each servo's calibrated range. Real-time safe: no allocation; it waits
// for no reply.
func (b *Bus) Write(now time.Time, c *robot.Command) error {
	if err := b.enterTick(); err != nil {
		return err
	}
	err := b.writeCommand(c)
	b.releaseTick()
	if err != nil {
		b.stats.portErrors.Add(1)
	}
	return err
}

func (b *Bus) writeCommand(c *robot.Command) error {
	if b.n == 0 {
		return nil
	}
	b.stats.writes.Add(1)
	if b.haltReq.Swap(false) {
		b.latched = true
		if err := b.sendTorque(false); err != nil {
			b.haltReq.Store(true)
			return err
		}
	}
	if !c.Torque {
		b.latched = false
	}
	b.wantTorque = c.Torque
	if !c.Torque || b.latched {
		if b.torque != 0 {
			return b.sendTorque(false)
		}
		return nil
	}
	for k := 0; k < b.n; k++ {
		m := &b.m[k]
		x := c.Position[m.joint]
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			t := math.Round(m.tm.Ticks(x))
			m.goal = int32(max(float64(m.lo), min(float64(m.hi), t)))
			m.haveGoal = true
		}
		PutUint16(b.data[2*k:], EncodeSignMagnitude(int(m.goal), m.signBit))
	}
	if err := b.send(AppendSyncWrite(b.tx[:0], GoalPosition.Addr(), 2, b.ids[:b.n], b.data[:2*b.n])); err != nil {
		return err
	}
	if b.torque != 1 {
		return b.sendTorque(true)
	}
	return nil
}

// sendTorque writes Torque_Enable to every servo in one SYNC_WRITE.
func (b *Bus) sendTorque(on bool) error {
	v := byte(0)
	if on {
		v = 1
	}
	for k := 0; k < b.n; k++ {
		b.data[k] = v
	}
	b.torque = -1
	if err := b.send(AppendSyncWrite(b.tx[:0], TorqueEnable.Addr(), 1, b.ids[:b.n], b.data[:b.n])); err != nil {
		return err
	}
	b.torque = int8(v)
	for k := 0; k < b.n; k++ {
		b.m[k].torqueOff = false
	}
	return nil
}

// haltWait is how long Halt waits for the port before leaving the
// torque-off to the next Write.
const haltWait = 250 * time.Millisecond

// Halt turns torque off on every servo of the bus, from any goroutine, at
// any time, more than once. It returns an error naming the servos that did
// not confirm torque off (or, if the port stayed busy, ErrBusy: the
// torque-off is then queued for the next Write).
func (b *Bus) Halt() error {
	if b.closed.Load() {
		return robot.ErrClosed
	}
	if b.n == 0 {
		return nil
	}
	b.haltReq.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), haltWait)
	defer cancel()
	if err := b.acquireCall(ctx); err != nil {
		return fmt.Errorf("feetech: bus %s: halt: port held longer than %v, torque-off queued for the next write: %w",
			b.cfg.Name, haltWait, ErrBusy)
	}
	defer b.releaseCall()
	b.haltReq.Store(false)
	b.latched = true
	return b.torqueOffConfirmed()
}

// torqueOffConfirmed writes torque off to every servo and reads
// Torque_Enable back, writing again (up to three times) while a servo
// still reports it on or does not answer.
func (b *Bus) torqueOffConfirmed() error {
	var unconfirmed []byte
	for try := 0; try < 3; try++ {
		if err := b.sendTorque(false); err != nil {
			b.haltReq.Store(true)
			return err
		}
		vals, err := b.syncReadBytes(TorqueEnable.Addr(), b.ids[:b.n])
		if err != nil {
			return err
		}
		unconfirmed = unconfirmed[:0]
		for k := 0; k < b.n; k++ {
			if v, ok := vals[b.ids[k]]; !ok || v != 0 {
				unconfirmed = append(unconfirmed, b.ids[k])
			}
		}
		if len(unconfirmed) == 0 {
			return nil
		}
	}
	return fmt.Errorf("feetech: bus %s: halt: torque off not confirmed by servo(s) %v: %w", b.cfg.Name, unconfirmed, ErrNoReply)
}

// Close closes the port (if it is an io.Closer) after any transaction in
// flight. It is idempotent; every other method then returns
// robot.ErrClosed. It does not turn torque off: call Halt first.
func (b *Bus) Close() error {
	if !b.closed.CompareAndSwap(false, true) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	held := b.acquireCall(ctx) == nil
	var err error
	if c, ok := b.port.(io.Closer); ok {
		if cerr := c.Close(); cerr != nil {
			err = fmt.Errorf("feetech: bus %s: close: %w", b.cfg.Name, cerr)
		}
	}
	if held {
		b.releaseCall()
	}
	return err
}

// busCounters are the bus's statistics, updated by the port's holder and
// read by anyone.
type busCounters struct {
	reads, writes, retries, timeouts, corrupt, garbage, busy, portErrors atomic.Uint64
	lastRead, maxRead                                                    atomic.Int64
}

// BusStats are a Bus's counters since it was made.
type BusStats struct {
	Reads      uint64        `json:"reads"`       // Read calls that reached the wire
	Writes     uint64        `json:"writes"`      // Write calls that reached the wire
	Retries    uint64        `json:"retries"`     // extra read attempts
	Timeouts   uint64        `json:"timeouts"`    // read attempts that ended with servos missing
	Corrupt    uint64        `json:"corrupt"`     // damaged packets (checksum, length)
	Garbage    uint64        `json:"garbage"`     // bytes discarded between packets
	Busy       uint64        `json:"busy"`        // Read/Write calls refused with ErrBusy
	PortErrors uint64        `json:"port_errors"` // port read/write failures
	LastRead   time.Duration `json:"last_read"`   // duration of the latest Read
	MaxRead    time.Duration `json:"max_read"`    // longest Read
}

// Stats returns the bus's counters. Safe from any goroutine; lock-free.
func (b *Bus) Stats() BusStats {
	s := &b.stats
	return BusStats{Reads: s.reads.Load(), Writes: s.writes.Load(), Retries: s.retries.Load(),
		Timeouts: s.timeouts.Load(), Corrupt: s.corrupt.Load(), Garbage: s.garbage.Load(), Busy: s.busy.Load(),
		PortErrors: s.portErrors.Load(), LastRead: time.Duration(s.lastRead.Load()), MaxRead: time.Duration(s.maxRead.Load())}
}

// MotorHealth is what the bus knows about one servo.
type MotorHealth struct {
	Joint   robot.JointIndex `json:"joint"`    // its joint's index
	Name    string           `json:"name"`     // its joint's name
	ID      byte             `json:"id"`       // servo ID
	Fault   robot.JointFault `json:"fault"`    // faults of the latest read
	Status  StatusError      `json:"status"`   // status byte of its latest reply
	NoReply uint64           `json:"no_reply"` // reads it missed (after retries)
	Corrupt uint64           `json:"corrupt"`  // reads lost to damaged replies
}

// Health appends every servo's health to dst and returns it. Safe from any
// goroutine; lock-free.
func (b *Bus) Health(dst []MotorHealth) []MotorHealth {
	for k := 0; k < b.n; k++ {
		m := &b.m[k]
		dst = append(dst, MotorHealth{Joint: m.joint, Name: m.cfg.Name, ID: m.id,
			Fault: robot.JointFault(m.fault.Load()), Status: StatusError(m.errBits.Load()),
			NoReply: m.noReply.Load(), Corrupt: m.corrupN.Load()})
	}
	return dst
}
