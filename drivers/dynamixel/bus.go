package dynamixel

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
// (8N1 kept). Scan over several rates, SetBaud's check and SetupMotor need
// it; drivers/serialport's ports have it.
type BaudSetter interface {
	SetBaud(baud int) error
}

// ReadMode is how a Bus reads its motors each tick.
type ReadMode uint8

// Read modes.
const (
	// ReadSync is SYNC READ: one request, one status packet per motor.
	ReadSync ReadMode = iota
	// ReadFast is FAST SYNC READ: one request, one combined status packet
	// (X330 firmware ≥ 46, X430/X540 ≥ 45). Its retries fall back to SYNC
	// READ of the motors still missing, so a silent motor can be named.
	ReadFast
)

// String returns "sync" or "fast", as robot descriptions spell them.
func (m ReadMode) String() string {
	if m == ReadFast {
		return "fast"
	}
	return "sync"
}

// ParseReadMode parses a description's read mode: "sync" (or "") or "fast".
func ParseReadMode(s string) (ReadMode, error) {
	switch s {
	case "", "sync":
		return ReadSync, nil
	case "fast":
		return ReadFast, nil
	}
	return 0, fmt.Errorf("dynamixel: unknown read mode %q (use sync or fast)", s)
}

// JointConfig is one motor of a bus and the joint it drives.
//
// Units: joint angle (rad) = Direction·(tick − TicksPerRev/2)·2π/TicksPerRev
// + Offset, so the centre tick (2048 on X-series) is the joint's Offset, as
// Pollen's controller does for Reachy Mini. Velocity (rad/s) =
// Direction·Present Velocity·Motor.VelocityUnit; effort (N·m) =
// Direction·Present Current·Motor.CurrentUnit·Motor.TorquePerAmp.
//
// A LeRobot calibration is applied the way LeRobot applies it to Dynamixel
// motors: in the motor itself. Its homing_offset is the Homing Offset
// register (Present Position = actual + Homing Offset), drive_mode is bit 0
// of Drive Mode (reverse), range_min/range_max are the Min/Max Position
// Limit registers. Configure reads those registers and writes the ones that
// differ (torque off, EEPROM); the ticks the bus then reads are already
// calibrated, and the formula above applies to them unchanged. Direction and
// Offset come on top of the calibration.
type JointConfig struct {
	Index       robot.JointIndex        // the joint's index in State and Command
	Name        string                  // the joint's name, for messages
	ID          byte                    // motor ID on the bus
	Motor       robot.Motor             // motor model facts
	Direction   int                     // +1 or −1; 0 means +1
	Offset      robot.Radians           // joint angle at the centre tick
	Calibration *robot.MotorCalibration // optional LeRobot calibration, written to the motor by Configure
}

// BusConfig configures a Bus. Zero values take the defaults given.
type BusConfig struct {
	Name string   // bus name, for messages and logs
	Baud int      // bits per second the port runs at (default 1 Mbps)
	Read ReadMode // ReadSync or ReadFast

	// ReturnDelay is the Return Delay Time Configure writes to every motor
	// (0..508 µs in 2 µs steps; default 0, as Reachy Mini and LeRobot do;
	// the factory default is 500 µs). The timeouts count it per reply.
	ReturnDelay time.Duration
	// OperatingMode is written by Configure (default ModePosition; the bus
	// writes Goal Position, so only ModePosition, ModeExtendedPosition
	// and ModeCurrentPosition make sense). In ModeCurrentPosition the
	// bus also writes Goal Current from Command.Effort when it changes.
	OperatingMode byte

	// Retries is how many more times a Read asks the motors that did not
	// answer (default 2; negative: none). Retries stop early when the next
	// one would overrun Budget.
	Retries int
	// Budget is the most time one Read may take, retries included
	// (default: 1 + Retries read timeouts). Set it to a fraction of the
	// loop period.
	Budget time.Duration
	// Latency is the host-side allowance added to every read timeout: USB
	// latency timer and scheduling (default 2 ms; with an FTDI adapter at
	// its 16 ms default latency timer use at least 2×16 ms).
	Latency time.Duration
	// Processing is a motor's time to start answering, beyond its return
	// delay, counted once per reply (default 50 µs).
	Processing time.Duration
	// BusyWait is how long Read and Write wait for a non-real-time call
	// (Halt, a management call) to release the port (default 2 ms).
	BusyWait time.Duration
	// CheckEvery is how many Reads pass between two slow checks, each one
	// more SYNC READ of one byte per motor, alternately Torque Enable
	// (a motor that rebooted, e.g. on a brown-out, comes back with torque
	// off) and Present Temperature (default 50; negative: never). A check
	// runs only when the Read's budget has room for it; a motor that comes
	// back after missing replies has its Torque Enable checked at once.
	CheckEvery int

	// RebootOnHardwareError makes Configure REBOOT motors whose Hardware
	// Error Status has a bit other than input voltage set, as Pollen's
	// controller does at start-up (a REBOOT is the only way to clear it).
	RebootOnHardwareError bool

	Joints []JointConfig // the motors on this bus
	Logger *slog.Logger  // for Configure and management calls (default slog.Default())
}

// motor is a Bus's per-motor state.
type motor struct {
	cfg        JointConfig
	joint      robot.JointIndex
	id         byte
	dir        float64
	offset     float64
	center     float64 // ticks
	radPerTick float64
	velUnit    float64 // rad/s per Present Velocity unit
	effUnit    float64 // N·m per Present Current unit
	curPerNm   float64 // Goal Current units per N·m
	maxTick    int32   // largest goal in ModePosition
	goal       int32   // last goal written

	// Per read, owned by the port's holder.
	got        bool
	corrupt    bool
	alert      bool
	data       [stateSize]byte
	missed     int     // consecutive reads without data
	hwKnown    bool    // hwErr was read since the alert bit came up
	gotByte    bool    // a slow check's byte arrived
	byteVal    byte    // the slow check's byte
	torqueLost bool    // torque found off while it should be on
	temp       float64 // Present Temperature, °C (0: not read yet)

	// Published for other goroutines.
	fault   atomic.Uint32 // robot.JointFault of the latest read
	hwErr   atomic.Uint32 // Hardware Error Status while the alert bit is up
	noReply atomic.Uint64
	corrupN atomic.Uint64
}

func (m *motor) toRad(tick int32) float64 {
	return m.dir*(float64(tick)-m.center)*m.radPerTick + m.offset
}

func (m *motor) toTick(rad float64) int32 {
	t := math.Round(m.center + m.dir*(rad-m.offset)/m.radPerTick)
	return int32(max(-(1 << 30), min(1<<30, t)))
}

// Who holds the port.
const (
	ownerIdle int32 = iota
	ownerTick       // Read or Write, on the loop's thread
	ownerCall       // Configure, Halt, Close or a management call
)

// What the receive loop is collecting.
const (
	rxSync    = iota // one status per motor, for the state block
	rxFast           // one combined status, for the state block
	rxSingle         // one status from b.single.id
	rxCollect        // every status, copied into b.collected (not real-time)
	rxByte           // one status per motor with one byte, into motor.byteVal
)

// Bus is one Dynamixel Protocol 2.0 bus implementing robot.Hardware for its
// joints: Read does one SYNC READ (or FAST SYNC READ) of Present Current,
// Velocity and Position (addresses 126–135) for every motor, Write one SYNC
// WRITE of Goal Position, plus Torque Enable when Command.Torque changes.
// Read and Write are for the control loop's thread: they do not allocate
// and take at most BusConfig.Budget (Read) or the time to queue a few
// packets (Write).
//
// Halt may be called from any goroutine. It never interleaves bytes with a
// transaction in flight: the port has one holder at a time (an atomic owner
// word; the loop's Read/Write take it without locking, let a waiting
// non-real-time caller go first, and wait for one at most BusyWait, then
// fail with ErrBusy). Halt sets a flag that the next
// Write honours, then also takes the port itself (waiting for the tick's
// transaction to end) and writes torque off at once, checking with a
// read-back; whichever comes first does it, so torque goes off promptly
// whether or not the loop is running. After a Halt, torque stays off even
// if commands ask for it, until a Command with Torque false has been
// written (the loop acknowledging it is inactive); meanwhile Read reports
// robot.FaultTorqueOff on every joint.
//
// The management calls (Ping, Scan, ReadRegister, WriteRegister, SetID,
// SetBaud, Reboot, Torque, SetupMotor) are for tools; they may allocate
// and block, and hold the port for their whole duration.
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
	data     [robot.MaxJoints * 4]byte
	retryIDs [robot.MaxJoints]byte
	single   struct {
		id   byte // expected sender, or BroadcastID for anyone
		got  bool // a valid reply with size parameters came
		bad  bool // a damaged packet came
		err  byte // ERR byte of the last status from id
		size int
		val  [4]byte
	}
	collected  []Packet               // rxCollect: copies of every status (management calls only)
	seen       int                    // replies (or damaged packets) seen in the current attempt
	torque     int8                   // -1 unknown, 0 off, 1 on, as last written to all motors
	latched    bool                   // torque held off after a Halt, until a Command with Torque false
	wantTorque bool                   // Torque of the last Command
	reads      uint64                 // Reads so far, for the slow checks
	checkSoon  bool                   // check Torque Enable on the next Read
	checkTemp  bool                   // the next slow check reads the temperature
	current    [robot.MaxJoints]int16 // Goal Current last written (ModeCurrentPosition)

	owner      atomic.Int32
	waiting    atomic.Int32  // non-real-time callers waiting for the port
	sem        chan struct{} // serialises the non-real-time callers
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
	if cfg.OperatingMode == 0 {
		cfg.OperatingMode = ModePosition
	}
	if cfg.Retries == 0 {
		cfg.Retries = 2
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	}
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
	cfg.ReturnDelay = min(max(cfg.ReturnDelay, 0), 508*time.Microsecond)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Name == "" {
		cfg.Name = "dynamixel"
	}
	if len(cfg.Joints) > robot.MaxJoints {
		cfg.Joints = cfg.Joints[:robot.MaxJoints]
	}
	b := &Bus{port: port, cfg: cfg, log: cfg.Logger, n: len(cfg.Joints), torque: -1, sem: make(chan struct{}, 1)}
	b.timing = Timing{Baud: cfg.Baud, ReturnDelay: cfg.ReturnDelay, Processing: cfg.Processing, Latency: cfg.Latency}
	for i := range b.byID {
		b.byID[i] = -1
	}
	for k, jc := range cfg.Joints {
		m := &b.m[k]
		m.cfg = jc
		m.joint, m.id = jc.Index, jc.ID
		m.dir = 1
		if jc.Direction < 0 {
			m.dir = -1
		}
		m.offset = float64(jc.Offset)
		tpr := jc.Motor.TicksPerRev
		if tpr <= 0 {
			tpr = 4096
		}
		m.center = float64(tpr / 2)
		m.radPerTick = 2 * math.Pi / float64(tpr)
		m.maxTick = int32(tpr - 1)
		m.velUnit = jc.Motor.VelocityUnit
		m.effUnit = jc.Motor.CurrentUnit * jc.Motor.TorquePerAmp
		if jc.Motor.CurrentUnit > 0 && jc.Motor.TorquePerAmp > 0 {
			m.curPerNm = 1 / (jc.Motor.CurrentUnit * jc.Motor.TorquePerAmp)
		}
		b.ids[k] = jc.ID
		b.byID[jc.ID] = int8(k)
	}
	b.budget = cfg.Budget
	if b.budget <= 0 {
		b.budget = time.Duration(1+cfg.Retries) * b.readTimeout(b.n, cfg.Read == ReadFast)
	}
	return b
}

// Name is the bus name from the configuration.
func (b *Bus) Name() string { return b.cfg.Name }

// readTimeout is the timeout of one state read of n motors.
func (b *Bus) readTimeout(n int, fast bool) time.Duration {
	return b.timing.SyncReadTimeout(n, stateSize, fast)
}

// Timing returns the bus's timing model (baud, return delay, allowances).
func (b *Bus) Timing() Timing { return b.timing }

// CycleWireTime is the lower bound of one Read plus Write on the wire: the
// state read's request and replies, each motor's return delay, and the Goal
// Position SYNC WRITE (hardware.md §3.9). Host latency comes on top.
func (b *Bus) CycleWireTime() time.Duration {
	n := b.n
	rx := syncReadRxBytes(n, stateSize)
	if b.cfg.Read == ReadFast {
		rx = fastReadRxBytes(n, stateSize)
	}
	bytes := syncReadTxBytes(n) + rx + syncWriteBytes(n, 4)
	return WireTime(bytes, b.timing.Baud) + time.Duration(n)*b.timing.ReturnDelay
}

// ReadTimeout is the timeout of one attempt of the per-tick state read.
func (b *Bus) ReadTimeout() time.Duration { return b.readTimeout(b.n, b.cfg.Read == ReadFast) }

// Budget is the most time one Read may take, retries included.
func (b *Bus) Budget() time.Duration { return b.budget }

// acquireTick takes the port for Read or Write, waiting at most BusyWait
// in a plain spin (the loop's thread is locked, the wait is short, and
// yielding a locked thread's P can stall it far longer on a loaded machine).
//
// A waiting non-real-time caller goes first: otherwise a loop that ticks
// back to back could keep Halt out.
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

// Read fills the bus's joints in s (Position, Velocity, Effort, Fault) and
// sets s.Time to now. It is real-time safe: no allocation, at most Budget.
//
// A motor that did not answer (after retries) keeps its previous values
// and gets robot.FaultNoReply, or robot.FaultCorrupt if damaged replies
// were seen; Read then returns ErrNoReply or ErrCorrupt (transient). A
// motor whose status has the Alert bit gets the faults of its Hardware
// Error Status (read once, at address 70, when the alert appears); Read
// returns ErrHardware (fatal) unless the only error is input voltage,
// which, like Pollen's controller, it reports as robot.FaultVoltage
// without failing the read.
func (b *Bus) Read(now time.Time, s *robot.State) error {
	if err := b.enterTick(); err != nil {
		return err
	}
	err := b.readState(now, s)
	b.releaseTick()
	return err
}

// enterTick checks that the bus may be used and takes the port for Read
// or Write.
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
		m.got, m.corrupt, m.alert = false, false, false
	}
	ids := b.ids[:b.n]
	fast := b.cfg.Read == ReadFast
	var portErr error
	for attempt := 0; ; attempt++ {
		timeout := b.readTimeout(len(ids), fast)
		if attempt == 0 {
			timeout = min(timeout, b.budget) // the budget bounds even the first attempt
		} else {
			if attempt > b.cfg.Retries || time.Now().Add(timeout).After(deadline) {
				break
			}
			b.stats.retries.Add(1)
		}
		if portErr = b.stateAttempt(ids, fast, timeout); portErr != nil {
			break
		}
		// Retry only the motors still missing, with a plain SYNC READ
		// (a FAST reply is lost as a whole when one motor is silent).
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
		fast = false
	}
	b.reads++
	for k := 0; k < b.n; k++ {
		if b.m[k].got && b.m[k].missed > 0 {
			b.checkSoon = true // back from silence: it may have rebooted, losing its torque
		}
	}
	if portErr == nil {
		portErr = b.slowCheck(deadline)
	}

	var missing, corrupt, hardware, lost bool
	for k := 0; k < b.n; k++ {
		m := &b.m[k]
		j := m.joint
		var f robot.JointFault
		if m.got {
			s.Effort[j] = m.dir * float64(Int16(m.data[0:2])) * m.effUnit
			s.Velocity[j] = m.dir * float64(Int32(m.data[2:6])) * m.velUnit
			s.Position[j] = m.toRad(Int32(m.data[6:10]))
			m.missed = 0
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
		switch {
		case m.got && m.alert:
			if !m.hwKnown && portErr == nil && time.Now().Add(b.singleTimeout(1)).Before(deadline) {
				if v, ok, err := b.readByte(m.id, AddrHardwareError); err != nil {
					portErr = err
				} else if ok {
					m.hwErr.Store(uint32(v))
					m.hwKnown = true
				}
			}
			hw := byte(m.hwErr.Load())
			f |= hwFaults(hw)
			if !m.hwKnown || hw&^HWErrVoltage != 0 {
				hardware = true
			}
		case m.got:
			m.hwKnown = false
			m.hwErr.Store(0)
		}
		if b.wantTorque && (b.latched || b.torque == 0 || m.torqueLost) {
			f |= robot.FaultTorqueOff
			lost = lost || m.torqueLost && !b.latched
		}
		if m.temp > 0 {
			s.Temperature[j] = m.temp
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

// slowCheck runs the periodic one-byte SYNC READ (see
// BusConfig.CheckEvery) if it is due and fits before deadline. It returns
// only port errors.
func (b *Bus) slowCheck(deadline time.Time) error {
	every := b.cfg.CheckEvery
	if every < 0 || !b.checkSoon && b.reads%uint64(every) != 0 {
		return nil
	}
	n := b.n
	timeout := b.timing.Timeout(syncReadTxBytes(n), syncReadRxBytes(n, 1), n)
	if time.Now().Add(timeout).After(deadline) {
		return nil
	}
	addr := AddrTorqueEnable
	if b.checkTemp && !b.checkSoon {
		addr = AddrPresentTemp
	}
	if !b.checkSoon {
		b.checkTemp = !b.checkTemp
	}
	b.checkSoon = false
	for k := 0; k < n; k++ {
		b.m[k].gotByte = false
	}
	if err := b.exchange(AppendSyncRead(b.tx[:0], addr, 1, b.ids[:n]), rxByte, n, b.ids[:n], timeout); err != nil {
		return err
	}
	for k := 0; k < n; k++ {
		m := &b.m[k]
		switch {
		case !m.gotByte:
		case addr == AddrPresentTemp:
			m.temp = float64(m.byteVal)
		case m.byteVal == 0 && b.torque == 1 && b.wantTorque && !b.latched:
			m.torqueLost = true
		}
	}
	return nil
}

// hwFaults maps Hardware Error Status bits to joint faults.
func hwFaults(hw byte) robot.JointFault {
	var f robot.JointFault
	if hw&HWErrVoltage != 0 {
		f |= robot.FaultVoltage
	}
	if hw&HWErrOverheat != 0 {
		f |= robot.FaultOverheat
	}
	if hw&HWErrOverload != 0 {
		f |= robot.FaultOverload
	}
	if hw&(HWErrElectrical|HWErrEncoder) != 0 {
		f |= robot.FaultElectrical
	}
	return f
}

// stateAttempt sends one state read to ids and collects the replies into
// the motors until all have answered or timeout passes. It returns only
// port errors.
func (b *Bus) stateAttempt(ids []byte, fast bool, timeout time.Duration) error {
	var tx []byte
	mode := rxSync
	if fast {
		tx = AppendFastSyncRead(b.tx[:0], stateAddr, stateSize, ids)
		mode = rxFast
	} else {
		tx = AppendSyncRead(b.tx[:0], stateAddr, stateSize, ids)
	}
	want := len(ids)
	if fast {
		want = 1
	}
	return b.exchange(tx, mode, want, ids, timeout)
}

// exchange sends tx, then receives and dispatches status packets (see
// absorb) until want packets were seen or timeout passes. Port errors are
// returned; everything else is recorded in the motors or b.single.
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
	if b.seen < want && b.dec.Resync() {
		b.absorb(mode, ids) // a whole packet may hide behind a truncated one
	}
	st := b.dec.Stats()
	b.stats.corrupt.Add(st.CRCErrors + st.LengthErrors + st.IDErrors)
	b.stats.garbage.Add(st.Garbage)
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
			if err != ErrCRC {
				continue // noise: a false header (the decoder counts it)
			}
			// A damaged packet: in a SYNC READ it is some motor's reply;
			// whoever is still missing at the end is marked corrupt.
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
		if p.Instruction != Status {
			continue // our own request, echoed by a half-duplex adapter
		}
		switch mode {
		case rxSync:
			k := b.byID[p.ID]
			if k < 0 || b.m[k].got {
				continue
			}
			m := &b.m[k]
			if p.ErrNum() != 0 {
				b.seen++
				m.corrupt = true
				continue
			}
			if len(p.Params) != stateSize {
				continue // a late reply to another request
			}
			b.seen++
			copy(m.data[:], p.Params[:stateSize])
			m.got, m.alert = true, p.Alert()
		case rxFast:
			if p.ID != BroadcastID {
				continue
			}
			b.seen++
			b.takeFast(p, ids)
		case rxSingle:
			if p.ID != b.single.id && b.single.id != BroadcastID {
				continue
			}
			if p.ErrNum() == 0 && len(p.Params) != b.single.size {
				continue // a late reply to another request
			}
			b.seen++
			b.single.err = p.Err
			if p.ErrNum() != 0 {
				continue
			}
			copy(b.single.val[:], p.Params[:b.single.size])
			b.single.got = true
		case rxByte:
			k := b.byID[p.ID]
			if k < 0 || b.m[k].gotByte {
				continue
			}
			if len(p.Params) != 1 && p.ErrNum() == 0 {
				continue // a late reply to another request
			}
			b.seen++
			if p.ErrNum() == 0 {
				b.m[k].byteVal, b.m[k].gotByte = p.Params[0], true
			}
		case rxCollect:
			b.seen++
			p.Params = append([]byte(nil), p.Params...)
			b.collected = append(b.collected, p)
		}
	}
}

// takeFast distributes a FAST SYNC READ reply to the motors.
func (b *Bus) takeFast(p Packet, ids []byte) {
	fr := NewFastReader(p)
	for i, id := range ids {
		rec, err := fr.Next(stateSize)
		if err != nil || rec.ID != id {
			for _, rest := range ids[i:] {
				if k := b.byID[rest]; k >= 0 {
					b.m[k].corrupt = true
				}
			}
			return
		}
		m := &b.m[b.byID[id]]
		if rec.ErrNum() != 0 {
			m.corrupt = true
			continue
		}
		copy(m.data[:], rec.Data)
		m.got, m.alert = true, rec.Alert()
	}
}

// singleTimeout is the timeout of a READ of size bytes from one motor.
func (b *Bus) singleTimeout(size int) time.Duration {
	return b.timing.Timeout(readTxBytes(), statusBytes(size), 1)
}

// readByte READs one byte at addr of motor id, once. ok is false if no
// valid reply came.
func (b *Bus) readByte(id byte, addr uint16) (v byte, ok bool, err error) {
	b.single.id, b.single.got, b.single.bad, b.single.err, b.single.size = id, false, false, 0, 1
	tx := AppendRead(b.tx[:0], id, addr, 1)
	if err := b.exchange(tx, rxSingle, 1, nil, b.singleTimeout(1)); err != nil {
		return 0, false, err
	}
	return b.single.val[0], b.single.got, nil
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
	return fmt.Errorf("dynamixel: bus %s: %w: %w", b.cfg.Name, ErrPort, err)
}

// Write sends c for the bus's joints: Goal Position to every motor in one
// SYNC WRITE while torque is on, and Torque Enable (one SYNC WRITE) when
// c.Torque changes or a Halt is pending.
// Turning torque on writes the goals first, so the motors do not jump to
// stale goals. In ModeCurrentPosition it also writes Goal Current from
// c.Effort when that changes. It is real-time safe: no allocation; it
// waits for no reply.
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
	on := c.Torque && !b.latched
	if !on {
		if b.torque != 0 {
			return b.sendTorque(false)
		}
		return nil
	}
	for k := 0; k < b.n; k++ {
		m := &b.m[k]
		x := c.Position[m.joint]
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			t := m.toTick(x)
			if b.cfg.OperatingMode == ModePosition {
				t = max(0, min(m.maxTick, t))
			}
			m.goal = t
		}
		PutUint32(b.data[4*k:], uint32(m.goal))
	}
	if err := b.send(AppendSyncWrite(b.tx[:0], AddrGoalPosition, 4, b.ids[:b.n], b.data[:4*b.n])); err != nil {
		return err
	}
	if b.cfg.OperatingMode == ModeCurrentPosition {
		if err := b.writeCurrent(c, b.torque != 1); err != nil {
			return err
		}
	}
	if b.torque != 1 {
		return b.sendTorque(true)
	}
	return nil
}

// writeCurrent sends Goal Current (ModeCurrentPosition) from the effort
// limits when one changed or force is set.
func (b *Bus) writeCurrent(c *robot.Command, force bool) error {
	changed := force
	for k := 0; k < b.n; k++ {
		m := &b.m[k]
		e := c.Effort[m.joint]
		if e <= 0 || math.IsNaN(e) || math.IsInf(e, 0) {
			e = float64(m.cfg.Motor.StallTorque)
		}
		v := int16(max(0, min(32767, math.Round(e*m.curPerNm))))
		if v != b.current[k] {
			b.current[k] = v
			changed = true
		}
		PutUint16(b.data[2*k:], uint16(v))
	}
	if !changed {
		return nil
	}
	return b.send(AppendSyncWrite(b.tx[:0], AddrGoalCurrent, 2, b.ids[:b.n], b.data[:2*b.n]))
}

// sendTorque writes Torque Enable to every motor in one SYNC WRITE.
func (b *Bus) sendTorque(on bool) error {
	v := byte(0)
	if on {
		v = 1
	}
	for k := 0; k < b.n; k++ {
		b.data[k] = v
	}
	b.torque = -1
	if err := b.send(AppendSyncWrite(b.tx[:0], AddrTorqueEnable, 1, b.ids[:b.n], b.data[:b.n])); err != nil {
		return err
	}
	b.torque = int8(v)
	for k := 0; k < b.n; k++ {
		b.m[k].torqueLost = false
	}
	return nil
}

// haltWait is how long Halt waits for the port before leaving the
// torque-off to the next Write.
const haltWait = 250 * time.Millisecond

// Halt turns torque off on every motor of the bus, from any goroutine, at
// any time, more than once. See Bus for how it avoids the loop's
// transactions. It returns an error naming the motors that did not confirm
// torque off (or, if the port stayed busy, ErrBusy: the torque-off is then
// queued for the next Write).
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
		return fmt.Errorf("dynamixel: bus %s: halt: port held longer than %v, torque-off queued for the next write: %w",
			b.cfg.Name, haltWait, ErrBusy)
	}
	defer b.releaseCall()
	b.haltReq.Store(false)
	b.latched = true
	return b.torqueOffConfirmed()
}

// torqueOffConfirmed writes torque off to every motor and reads Torque
// Enable back, writing again (up to three times) while a motor still
// reports it on or does not answer.
func (b *Bus) torqueOffConfirmed() error {
	var unconfirmed []byte
	for try := 0; try < 3; try++ {
		if err := b.sendTorque(false); err != nil {
			b.haltReq.Store(true)
			return err
		}
		vals, err := b.syncReadBytes(AddrTorqueEnable, b.ids[:b.n])
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
	return fmt.Errorf("dynamixel: bus %s: halt: torque off not confirmed by motor(s) %v: %w", b.cfg.Name, unconfirmed, ErrNoReply)
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
			err = fmt.Errorf("dynamixel: bus %s: close: %w", b.cfg.Name, cerr)
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
	Timeouts   uint64        `json:"timeouts"`    // read attempts that ended with motors missing
	Corrupt    uint64        `json:"corrupt"`     // damaged packets (CRC, length, ID)
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

// MotorHealth is what the bus knows about one motor.
type MotorHealth struct {
	Joint         robot.JointIndex `json:"joint"`          // its joint's index
	Name          string           `json:"name"`           // its joint's name
	ID            byte             `json:"id"`             // motor ID
	Fault         robot.JointFault `json:"fault"`          // faults of the latest read
	HardwareError byte             `json:"hardware_error"` // Hardware Error Status while the alert bit is up, else 0
	NoReply       uint64           `json:"no_reply"`       // reads it missed (after retries)
	Corrupt       uint64           `json:"corrupt"`        // reads lost to damaged replies
}

// Health appends every motor's health to dst and returns it. Safe from
// any goroutine; lock-free (each field is read atomically).
func (b *Bus) Health(dst []MotorHealth) []MotorHealth {
	for k := 0; k < b.n; k++ {
		m := &b.m[k]
		dst = append(dst, MotorHealth{Joint: m.joint, Name: m.cfg.Name, ID: m.id,
			Fault: robot.JointFault(m.fault.Load()), HardwareError: byte(m.hwErr.Load()),
			NoReply: m.noReply.Load(), Corrupt: m.corrupN.Load()})
	}
	return dst
}
