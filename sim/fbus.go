package sim

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/anther-robotics/anther/drivers/feetech"
	"github.com/anther-robotics/anther/firmware/sts3215"
	"github.com/anther-robotics/anther/robot"
)

// FeetechConfig configures a FeetechBus. Zero values take the defaults
// given.
type FeetechConfig struct {
	// Baud is the line rate in bits per second, and the rate every device
	// is configured for (default: the description's bus baud, else 1 Mbps).
	Baud int
	// ReturnDelay is the Return_Delay_Time every device is configured with
	// (default 0, as LeRobot sets it; 2 µs steps, at most 510 µs).
	ReturnDelay time.Duration
	// Processing is a device's time to start answering, counted once per
	// reply on top of its return delay (default 10 µs; negative: none).
	Processing time.Duration
	// Substep is the physics integration step (default 250 µs).
	Substep time.Duration
	// MaxLag bounds how far the physics may trail the bus time it is asked
	// to reach (see VirtualConfig.MaxLag; NewPty sets it).
	MaxLag time.Duration
}

// Hand moves the joints of a simulated bus from outside, as a person moves
// a leader arm: every physics substep it pulls each joint it holds toward
// its target with a spring and a damper, as an external torque, so the
// joint's motor (torque on or off) and its end stops act as they would
// against a hand.
type Hand struct {
	// Target returns where the hand wants the joint with robot index joint
	// at bus time t, and false to let go of it. It is called under the
	// bus's lock: it must not call the bus.
	Target func(t time.Duration, joint robot.JointIndex) (float64, bool)
	// Stiffness is the spring, N·m/rad (default 2).
	Stiffness float64
	// Damping is the damper, N·m·s/rad (default: critical damping for the
	// joint's inertia).
	Damping float64
}

// FeetechBus is one simulated Feetech STS bus: the firmware of every motor
// of one description bus (firmware/sts3215 Devices, configured with the
// joint's ID, the bus baud and ReturnDelay, torque off), driving the
// joints' dynamics (Model) with the firmware's torque, and optionally a
// Hand moving them. It is the Feetech twin of VirtualBus and keeps its
// conventions: bus time from its transport (Port in process, Pty on a
// pseudo-terminal), lazy deterministic physics in whole substeps, and the
// same wire-time model (10 bit times per byte at Baud; before each reply
// the device's return delay plus Processing; the replies to one SYNC_READ
// or broadcast PING one after the other, in slot order). A device's shaft
// angle is θ = Direction·(q − Offset) for its joint angle q, so its encoder
// reads 2048 + θ·4096/2π.
//
// Instructions with a bad checksum are dropped by every device, as on a
// real bus. All methods are safe for concurrent use (one mutex); fault
// injection takes effect at the next transaction.
type FeetechBus struct {
	mu     sync.Mutex
	name   string
	baud   int
	proc   time.Duration
	step   time.Duration
	maxLag time.Duration
	joints []robot.JointIndex
	devs   []*sts3215.Device
	dir    []float64
	offset []float64
	model  *Model
	ctrl   feetechController
	physT  time.Duration
	dec    feetech.Decoder
	txFree time.Duration
	hand   *Hand
	handK  [robot.MaxJoints]float64
	handD  [robot.MaxJoints]float64

	replyBuf []byte
	pend     [robot.MaxJoints]fpending

	line

	corrupt int // reply sender ID whose next reply is corrupted; -1 none
	drop    [256]bool
	silent  [256]bool

	stats VirtualStats
}

// fpending is one device's reply to the current instruction.
type fpending struct {
	off, end int
	r        sts3215.Reply
}

// NewFeetechBus builds the simulated bus for the description's bus called
// bus, with its joints at their home positions and at rest.
func NewFeetechBus(d *robot.Description, bus string, cfg FeetechConfig) (*FeetechBus, error) {
	spec := d.Bus(bus)
	if spec == nil {
		return nil, fmt.Errorf("sim: robot %s has no bus %q", d.Name, bus)
	}
	if spec.Protocol != "feetech" {
		return nil, fmt.Errorf("sim: bus %s speaks %s, not feetech", bus, spec.Protocol)
	}
	if cfg.Baud == 0 {
		cfg.Baud = spec.Baud
	}
	if cfg.Baud == 0 {
		cfg.Baud = 1000000
	}
	baudValue, ok := feetech.BaudTableSDK.Value(cfg.Baud)
	if !ok {
		return nil, fmt.Errorf("sim: bus %s: %d bps is not a Feetech baud rate", bus, cfg.Baud)
	}
	if cfg.ReturnDelay < 0 || cfg.ReturnDelay > 510*time.Microsecond {
		return nil, fmt.Errorf("sim: bus %s: return delay %v outside 0..510 µs", bus, cfg.ReturnDelay)
	}
	if cfg.Processing == 0 {
		cfg.Processing = 10 * time.Microsecond
	}
	if cfg.Processing < 0 {
		cfg.Processing = 0
	}
	if cfg.Substep <= 0 {
		cfg.Substep = 250 * time.Microsecond
	}
	fb := &FeetechBus{name: bus, baud: cfg.Baud, proc: cfg.Processing, step: cfg.Substep, maxLag: cfg.MaxLag,
		corrupt: -1, replyBuf: make([]byte, 0, (robot.MaxJoints+1)*feetech.MaxPacket)}
	all := ParamsFromDescription(d)
	var params []JointParams
	var home []float64
	for _, ji := range d.BusJoints(bus) {
		j := d.Joints[ji]
		m, ok := robot.Motors[j.Model]
		if !ok || m.Protocol != "feetech" {
			return nil, fmt.Errorf("sim: joint %s: model %q is not a Feetech motor", j.Name, j.Model)
		}
		if m.ModelNumber != sts3215.ModelNumber {
			return nil, fmt.Errorf("sim: joint %s: no firmware for model %s (%d)", j.Name, j.Model, m.ModelNumber)
		}
		if j.ID < 0 || j.ID > int(feetech.MaxID) {
			return nil, fmt.Errorf("sim: joint %s: ID %d out of range", j.Name, j.ID)
		}
		fm := sts3215.DefaultMotor()
		fm.StallTorque = float64(m.StallTorque)
		fm.NoLoadSpeed = float64(m.MaxVelocity)
		if m.TorquePerAmp > 0 {
			fm.StallCurrent = float64(m.StallTorque) / m.TorquePerAmp
		}
		dir := float64(j.Direction)
		if dir == 0 {
			dir = 1
		}
		dev := sts3215.NewDevice(fm, byte(j.ID))
		dev.Sense(dir*float64(j.Home-j.Offset), 0)
		// Configure it as a setup tool would, through its own WRITE
		// handling (Lock cleared so the settings are saved).
		var scratch [64]byte
		for _, w := range [...]struct{ addr, v byte }{
			{feetech.Lock.Addr(), 0},
			{feetech.BaudRate.Addr(), baudValue},
			{feetech.ReturnDelay.Addr(), byte(cfg.ReturnDelay / (2 * time.Microsecond))},
			{feetech.Lock.Addr(), 1},
		} {
			pkt := feetech.AppendWrite(scratch[:0], byte(j.ID), w.addr, []byte{w.v})
			p, _, err := feetech.ParsePacket(pkt, false)
			if err != nil {
				return nil, fmt.Errorf("sim: configure joint %s: %w", j.Name, err)
			}
			dev.Handle(0, p, scratch[len(pkt):len(pkt)])
		}
		fb.joints = append(fb.joints, ji)
		fb.devs = append(fb.devs, dev)
		fb.dir = append(fb.dir, dir)
		fb.offset = append(fb.offset, float64(j.Offset))
		params = append(params, all[ji])
		home = append(home, float64(j.Home))
	}
	if len(fb.devs) == 0 {
		return nil, fmt.Errorf("sim: bus %s has no joints", bus)
	}
	fb.model = NewModel(params, home)
	fb.model.Substep = fb.step.Seconds()
	fb.ctrl = feetechController{fb}
	return fb, nil
}

// NewHosted builds the simulated bus for the description's bus called
// bus, for its protocol: a VirtualBus for dynamixel2, a FeetechBus for
// feetech. baud 0 takes the description's.
func NewHosted(d *robot.Description, bus string, baud int) (Hosted, error) {
	spec := d.Bus(bus)
	if spec == nil {
		return nil, fmt.Errorf("sim: robot %s has no bus %q", d.Name, bus)
	}
	switch spec.Protocol {
	case "feetech":
		return NewFeetechBus(d, bus, FeetechConfig{Baud: baud})
	case "dynamixel2":
		return NewVirtualBus(d, bus, VirtualConfig{Baud: baud})
	}
	return nil, fmt.Errorf("sim: bus %s: protocol %s has no firmware simulator", bus, spec.Protocol)
}

// feetechController makes the devices' firmware the Model's Controller.
type feetechController struct{ fb *FeetechBus }

// Demand runs device i's firmware for dt at the joint's state and returns
// its torque on the joint.
func (c feetechController) Demand(i int, pos, vel, dt float64) float64 {
	fb := c.fb
	s := fb.dir[i]
	return s * fb.devs[i].Control(dt, s*(pos-fb.offset[i]), s*vel)
}

// Port returns a new in-process port on the bus (see VirtualBus.Port).
func (fb *FeetechBus) Port(clock Clock) *Port { return newPort(fb, clock) }

// Name returns the bus name.
func (fb *FeetechBus) Name() string { return fb.name }

// Baud returns the line rate, bits per second.
func (fb *FeetechBus) Baud() int {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return fb.baud
}

// SetBaud changes the line rate (the host switching its port's baud).
// Devices configured for another rate no longer hear the host.
func (fb *FeetechBus) SetBaud(bps int) error {
	if _, ok := feetech.BaudTableSDK.Value(bps); !ok {
		return fmt.Errorf("sim: %d bps is not a Feetech baud rate", bps)
	}
	fb.mu.Lock()
	defer fb.mu.Unlock()
	fb.baud = bps
	return nil
}

// IDs lists the device IDs on the bus, in description order.
func (fb *FeetechBus) IDs() []byte {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	ids := make([]byte, len(fb.devs))
	for i, d := range fb.devs {
		ids[i] = d.ID()
	}
	return ids
}

// SetHand makes h move the bus's joints from the next physics substep on
// (nil: let go).
func (fb *FeetechBus) SetHand(h *Hand) {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	fb.hand = h
	for i := range fb.devs {
		fb.model.External[i] = 0
		if h == nil {
			continue
		}
		k := h.Stiffness
		if k <= 0 {
			k = 2
		}
		dmp := h.Damping
		if dmp <= 0 {
			dmp = 2 * math.Sqrt(k*fb.model.Params[i].Inertia)
		}
		fb.handK[i], fb.handD[i] = k, dmp
	}
}

// AdvanceTo runs the physics (and the firmware's loops) up to bus time t,
// releasing the lock every few milliseconds of physics.
func (fb *FeetechBus) AdvanceTo(t time.Duration) {
	const slice = 5 * time.Millisecond
	for {
		fb.mu.Lock()
		fb.advance(min(t, fb.physT+slice))
		done := fb.physT+fb.step > t
		fb.mu.Unlock()
		if done {
			return
		}
	}
}

func (fb *FeetechBus) advance(t time.Duration) {
	if fb.maxLag > 0 && t-fb.physT > fb.maxLag {
		skip := (t - fb.physT - fb.maxLag) / fb.step * fb.step
		fb.physT += skip
		fb.stats.Skipped += skip
	}
	h := fb.step.Seconds()
	m := fb.model
	for fb.physT+fb.step <= t {
		if fb.hand != nil {
			for i, ji := range fb.joints {
				m.External[i] = 0
				if q, ok := fb.hand.Target(fb.physT, ji); ok && !math.IsNaN(q) && !math.IsInf(q, 0) {
					m.External[i] = fb.handK[i]*(q-m.Pos[i]) - fb.handD[i]*m.Vel[i]
				}
			}
		}
		m.Step(h, fb.ctrl)
		fb.physT += fb.step
	}
}

// Snapshot fills the bus's joints in s (at their robot joint indices) with
// the simulated truth: position, velocity, motor torque and winding
// temperature, as of the last physics step. For tests and tools.
func (fb *FeetechBus) Snapshot(s *robot.State) {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	for i, ji := range fb.joints {
		s.Position[ji] = fb.model.Pos[i]
		s.Velocity[ji] = fb.model.Vel[i]
		s.Effort[ji] = fb.model.Torque[i]
		s.Temperature[ji] = fb.devs[i].Temperature()
		if int(ji) >= s.N {
			s.N = int(ji) + 1
		}
	}
}

// Physics returns the bus time the physics has reached.
func (fb *FeetechBus) Physics() time.Duration {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return fb.physT
}

// Stats returns the bus's counters.
func (fb *FeetechBus) Stats() VirtualStats {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	st := fb.stats
	st.Dropped, st.BytesOut = fb.dropped, fb.bytesOut
	return st
}

// WithDevice runs f with the device of the given ID, under the bus's lock,
// after advancing the physics to t; it reports whether there is such a
// device. f must not keep the device.
func (fb *FeetechBus) WithDevice(id byte, t time.Duration, f func(d *sts3215.Device)) bool {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	fb.advance(t)
	for _, d := range fb.devs {
		if d.ID() == id {
			f(d)
			return true
		}
	}
	return false
}

// PowerCycle power-cycles the device with the given ID at bus time t, as a
// supply dropout does (torque off, unsaved EEPROM writes lost).
func (fb *FeetechBus) PowerCycle(id byte, t time.Duration) bool {
	return fb.WithDevice(id, t, func(d *sts3215.Device) { d.PowerCycle(t) })
}

// InjectFault raises fault conditions (feetech.StatusError bits) in the
// device with the given ID until its next power cycle.
func (fb *FeetechBus) InjectFault(id byte, bits feetech.StatusError, t time.Duration) bool {
	return fb.WithDevice(id, t, func(d *sts3215.Device) { d.InjectFault(bits) })
}

// CorruptNextReply damages the checksum of the next reply sent by the
// device with the given ID (feetech.BroadcastID: of the next reply at all).
func (fb *FeetechBus) CorruptNextReply(id byte) {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	fb.corrupt = int(id)
}

// DropNextReply silences the next reply of the device with the given ID.
func (fb *FeetechBus) DropNextReply(id byte) {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	fb.drop[id] = true
}

// Silence makes the device with the given ID stop answering (a cut data
// wire: it still hears and obeys the host) until called with false.
func (fb *FeetechBus) Silence(id byte, silent bool) {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	fb.silent[id] = silent
}

// InjectGarbage sends b (at most 64 bytes) on the line just before the
// next reply, as noise between packets.
func (fb *FeetechBus) InjectGarbage(b []byte) {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	fb.nGarbage = copy(fb.garbage[:], b)
}

func (fb *FeetechBus) lock() *sync.Mutex { return &fb.mu }
func (fb *FeetechBus) out() *line        { return &fb.line }
func (fb *FeetechBus) defaultMaxLag(d time.Duration) {
	fb.mu.Lock()
	if fb.maxLag == 0 {
		fb.maxLag = d
	}
	fb.mu.Unlock()
}

// receive takes bytes the host started transmitting at bus time t, runs
// every whole instruction in them, and queues the replies. It returns when
// the host's transmission ends. Called with fb.mu held.
func (fb *FeetechBus) receive(t time.Duration, b []byte) time.Duration {
	start := max(t, fb.txFree)
	end := start + wireTime(len(b), fb.baud)
	fb.txFree = end
	fb.stats.BytesIn += uint64(len(b))
	for len(b) > 0 {
		n, _ := fb.dec.Write(b)
		b = b[n:]
		for {
			p, err := fb.dec.Next()
			if err == feetech.ErrNeedMore {
				break
			}
			if err != nil {
				continue // a damaged instruction: no servo answers it
			}
			fb.handle(end, p)
		}
		if n == 0 && len(b) > 0 {
			fb.dec.Reset()
		}
	}
	return end
}

// handle runs one instruction packet that was whole at bus time t.
func (fb *FeetechBus) handle(t time.Duration, p feetech.Packet) {
	fb.stats.Instructions++
	fb.advance(t)
	buf := fb.replyBuf[:0]
	n := 0
	for _, d := range fb.devs {
		if d.Baud() != fb.baud {
			continue // it hears noise at another rate
		}
		off := len(buf)
		var r sts3215.Reply
		buf, r = d.Handle(t, p, buf)
		if r.Kind == sts3215.NoReply || n == len(fb.pend) {
			buf = buf[:off]
			continue
		}
		fb.pend[n] = fpending{off: off, end: len(buf), r: r}
		n++
	}
	fb.replyBuf = buf[:0]
	pend := fb.pend[:n]
	for i := 1; i < n; i++ { // insertion sort by slot: n is small
		for j := i; j > 0 && pend[j].r.Slot < pend[j-1].r.Slot; j-- {
			pend[j], pend[j-1] = pend[j-1], pend[j]
		}
	}
	cur := t
	for _, q := range pend {
		data := buf[q.off:q.end]
		id := data[2]
		if fb.silent[id] {
			continue
		}
		if fb.drop[id] {
			fb.drop[id] = false
			continue
		}
		begin := fb.sendGarbage(cur+q.r.Delay+fb.proc, fb.baud)
		if fb.corrupt == int(id) || fb.corrupt == int(feetech.BroadcastID) {
			data[len(data)-1] ^= 0xA5
			fb.corrupt = -1
		}
		cur = begin + wireTime(len(data), fb.baud)
		fb.queue(cur, data)
		fb.stats.Replies++
	}
}
