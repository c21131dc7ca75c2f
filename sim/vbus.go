package sim

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/anther-robotics/anther/drivers/dynamixel"
	"github.com/anther-robotics/anther/firmware/actuator"
	"github.com/anther-robotics/anther/robot"
)

// VirtualConfig configures a VirtualBus. Zero values take the defaults
// given.
type VirtualConfig struct {
	// Baud is the line rate in bits per second, and the rate every device is
	// configured for (default: the description's bus baud, else 1 Mbps).
	Baud int
	// ReturnDelay is the Return Delay Time every device is configured with
	// (default 0, as Reachy Mini and LeRobot set it; 2 µs steps).
	ReturnDelay time.Duration
	// Processing is a device's time to start answering, counted once per
	// reply on top of its return delay (default 10 µs; negative: none).
	Processing time.Duration
	// Substep is the physics integration step (default 250 µs).
	Substep time.Duration
	// MaxLag bounds how far the physics may trail the bus time it is asked
	// to reach: beyond it the physics skips ahead (the joints freeze for
	// the skipped time, counted in VirtualStats.Skipped) instead of
	// catching up. Zero never skips, so runs stay deterministic; a
	// transport on the wall clock sets it so a slow machine cannot stall
	// the bus (NewPty does).
	MaxLag time.Duration
}

// Motor angle and joint angle. Each device's shaft angle is θ =
// Direction·(q − Offset) for its joint angle q, so its encoder reads
// tick = 2048 + θ·4096/2π and the host maps back with q =
// Direction·(tick − 2048)·2π/4096 + Offset (the host driver's convention).
// The firmware's shaft torque τ acts on the joint as Direction·τ.

// VirtualBus is one simulated Dynamixel Protocol 2.0 bus: the firmware of
// every motor of one description bus (firmware/actuator Devices, configured
// with the joint's ID, the bus baud and ReturnDelay, torque off), driving
// the joints' dynamics (Model) with the firmware's torque output.
//
// Time is bus time, a time.Duration from the bus's creation, supplied by
// its transport (Port in process, Pty on a pseudo-terminal). The physics
// advances lazily to the bus time of each transaction, in whole Substeps,
// so a run is deterministic for the same transaction times. A wire-time
// model makes a transaction take as long as on a real bus: 10 bit times per
// byte at Baud, and before each reply the device's return delay plus
// Processing; replies to one broadcast read follow each other in slot order.
//
// All methods are safe for concurrent use (one mutex); the fault-injection
// methods take effect at the next transaction.
type VirtualBus struct {
	mu     sync.Mutex
	name   string
	baud   int
	proc   time.Duration
	step   time.Duration
	maxLag time.Duration
	joints []robot.JointIndex
	devs   []*actuator.Device
	dir    []float64
	offset []float64
	model  *Model
	ctrl   Controller
	physT  time.Duration // physics time
	dec    dynamixel.Decoder
	txFree time.Duration // the host's transmitter is free from then

	// Replies being built for one instruction.
	replyBuf []byte
	pend     [robot.MaxJoints]pending
	recs     [256]dynamixel.FastRecord
	zeros    [256]byte
	fastBuf  []byte

	// Bytes on their way to the host, in time order, and injected noise.
	line

	// Fault injection.
	corrupt int // reply sender ID whose next reply is corrupted; -1 none
	drop    [256]bool

	stats VirtualStats
}

// VirtualStats counts what a VirtualBus has done.
type VirtualStats struct {
	Instructions uint64        // instruction packets received
	Replies      uint64        // reply packets sent
	BytesIn      uint64        // bytes received from the host
	BytesOut     uint64        // bytes sent to the host
	Dropped      uint64        // reply bytes discarded because the host did not read them
	Skipped      time.Duration // physics time skipped because it lagged more than MaxLag
}

// pending is one device's reply to the current instruction.
type pending struct {
	dev      int
	off, end int
	r        actuator.Reply
}

// ErrUnplugged is returned by a transport whose bus was unplugged.
var ErrUnplugged = errors.New("sim: bus unplugged")

// NewVirtualBus builds the virtual bus for the description's bus called
// bus, with its joints at their home positions and at rest.
func NewVirtualBus(d *robot.Description, bus string, cfg VirtualConfig) (*VirtualBus, error) {
	spec := d.Bus(bus)
	if spec == nil {
		return nil, fmt.Errorf("sim: robot %s has no bus %q", d.Name, bus)
	}
	if spec.Protocol != "dynamixel2" {
		return nil, fmt.Errorf("sim: bus %s: protocol %s has no firmware simulator", bus, spec.Protocol)
	}
	if cfg.Baud == 0 {
		cfg.Baud = spec.Baud
	}
	if cfg.Baud == 0 {
		cfg.Baud = 1000000
	}
	baudValue, ok := actuator.BaudValue(cfg.Baud)
	if !ok {
		return nil, fmt.Errorf("sim: bus %s: %d bps is not a Dynamixel baud rate", bus, cfg.Baud)
	}
	if cfg.ReturnDelay < 0 || cfg.ReturnDelay > 508*time.Microsecond {
		return nil, fmt.Errorf("sim: bus %s: return delay %v outside 0..508 µs", bus, cfg.ReturnDelay)
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
	vb := &VirtualBus{name: bus, baud: cfg.Baud, proc: cfg.Processing, step: cfg.Substep, maxLag: cfg.MaxLag, corrupt: -1,
		replyBuf: make([]byte, 0, (robot.MaxJoints+1)*dynamixel.MaxPacket),
		fastBuf:  make([]byte, 0, 4*dynamixel.MaxPacket)}
	all := ParamsFromDescription(d)
	var params []JointParams
	var home []float64
	for _, ji := range d.BusJoints(bus) {
		j := d.Joints[ji]
		m, ok := robot.Motors[j.Model]
		if !ok || m.Protocol != "dynamixel2" {
			return nil, fmt.Errorf("sim: joint %s: model %q is not a Dynamixel motor", j.Name, j.Model)
		}
		fm, ok := actuator.LookupModel(m.ModelNumber)
		if !ok {
			return nil, fmt.Errorf("sim: joint %s: no firmware for model %s (%d)", j.Name, j.Model, m.ModelNumber)
		}
		if j.ID < 0 || j.ID > int(dynamixel.MaxID) {
			return nil, fmt.Errorf("sim: joint %s: ID %d out of range", j.Name, j.ID)
		}
		// The firmware drives the motor of the description's table.
		fm.StallTorque = float64(m.StallTorque)
		fm.NoLoadSpeed = float64(m.MaxVelocity)
		if m.TorquePerAmp > 0 {
			fm.StallCurrent = float64(m.StallTorque) / m.TorquePerAmp
		}
		dir := float64(j.Direction)
		if dir == 0 {
			dir = 1
		}
		dev := actuator.NewDevice(fm, byte(j.ID))
		dev.Sense(dir*float64(j.Home-j.Offset), 0)
		// Configure it as the robot's setup tool would, through its own
		// WRITE handling.
		var scratch [64]byte
		for _, w := range [...]struct {
			addr uint16
			v    byte
		}{{actuator.AddrBaudRate, baudValue}, {actuator.AddrReturnDelayTime, byte(cfg.ReturnDelay / (2 * time.Microsecond))}} {
			pkt := dynamixel.AppendWrite(scratch[:0], byte(j.ID), w.addr, []byte{w.v})
			p, _, err := dynamixel.ParsePacket(pkt)
			if err != nil {
				return nil, fmt.Errorf("sim: configure joint %s: %w", j.Name, err)
			}
			if _, r := dev.Handle(0, p, scratch[len(pkt):len(pkt)]); r.Kind == actuator.NoReply {
				return nil, fmt.Errorf("sim: configure joint %s: no reply", j.Name)
			}
		}
		vb.joints = append(vb.joints, ji)
		vb.devs = append(vb.devs, dev)
		vb.dir = append(vb.dir, dir)
		vb.offset = append(vb.offset, float64(j.Offset))
		params = append(params, all[ji])
		home = append(home, float64(j.Home))
	}
	if len(vb.devs) == 0 {
		return nil, fmt.Errorf("sim: bus %s has no joints", bus)
	}
	vb.model = NewModel(params, home)
	vb.model.Substep = vb.step.Seconds()
	vb.ctrl = firmwareController{vb}
	return vb, nil
}

// firmwareController makes the devices' firmware the Model's Controller.
type firmwareController struct{ vb *VirtualBus }

// Demand runs device i's firmware for dt at the joint's state and returns
// its torque on the joint.
func (c firmwareController) Demand(i int, pos, vel, dt float64) float64 {
	vb := c.vb
	s := vb.dir[i]
	return s * vb.devs[i].Control(dt, s*(pos-vb.offset[i]), s*vel)
}

// Name returns the bus name.
func (vb *VirtualBus) Name() string { return vb.name }

// Baud returns the line rate, bits per second.
func (vb *VirtualBus) Baud() int {
	vb.mu.Lock()
	defer vb.mu.Unlock()
	return vb.baud
}

// SetBaud changes the line rate (the host switching its port's baud).
// Devices configured for another rate no longer hear the host.
func (vb *VirtualBus) SetBaud(bps int) error {
	if _, ok := actuator.BaudValue(bps); !ok {
		return fmt.Errorf("sim: %d bps is not a Dynamixel baud rate", bps)
	}
	vb.mu.Lock()
	defer vb.mu.Unlock()
	vb.baud = bps
	return nil
}

// IDs lists the device IDs on the bus, in description order.
func (vb *VirtualBus) IDs() []byte {
	vb.mu.Lock()
	defer vb.mu.Unlock()
	ids := make([]byte, len(vb.devs))
	for i, d := range vb.devs {
		ids[i] = d.ID()
	}
	return ids
}

// WireTime returns the time n bytes take on the line (10 bit times each).
func (vb *VirtualBus) WireTime(n int) time.Duration { return wireTime(n, vb.baud) }

func wireTime(n, baud int) time.Duration {
	return time.Duration(int64(n) * 10 * int64(time.Second) / int64(baud))
}

// AdvanceTo runs the physics (and the firmware's loops) up to bus time t.
// It releases the bus's lock every few milliseconds of physics, so a long
// catch-up does not hold transactions up.
func (vb *VirtualBus) AdvanceTo(t time.Duration) {
	const slice = 5 * time.Millisecond
	for {
		vb.mu.Lock()
		vb.advance(min(t, vb.physT+slice))
		done := vb.physT+vb.step > t
		vb.mu.Unlock()
		if done {
			return
		}
	}
}

func (vb *VirtualBus) advance(t time.Duration) {
	if vb.maxLag > 0 && t-vb.physT > vb.maxLag {
		skip := (t - vb.physT - vb.maxLag) / vb.step * vb.step
		vb.physT += skip
		vb.stats.Skipped += skip
	}
	h := vb.step.Seconds()
	for vb.physT+vb.step <= t {
		vb.model.Step(h, vb.ctrl)
		vb.physT += vb.step
	}
}

// Snapshot fills the bus's joints in s (at their robot joint indices)
// with the simulated truth: position, velocity, motor torque and winding
// temperature, as of the last physics step. It is for tests and tools; a
// host reads the joints through the bus.
func (vb *VirtualBus) Snapshot(s *robot.State) {
	vb.mu.Lock()
	defer vb.mu.Unlock()
	for i, ji := range vb.joints {
		s.Position[ji] = vb.model.Pos[i]
		s.Velocity[ji] = vb.model.Vel[i]
		s.Effort[ji] = vb.model.Torque[i]
		s.Temperature[ji] = vb.devs[i].Temperature()
		if int(ji) >= s.N {
			s.N = int(ji) + 1
		}
	}
}

// Physics returns the bus time the physics has reached.
func (vb *VirtualBus) Physics() time.Duration {
	vb.mu.Lock()
	defer vb.mu.Unlock()
	return vb.physT
}

// Stats returns the bus's counters.
func (vb *VirtualBus) Stats() VirtualStats {
	vb.mu.Lock()
	defer vb.mu.Unlock()
	st := vb.stats
	st.Dropped, st.BytesOut = vb.dropped, vb.bytesOut
	return st
}

// WithDevice runs f with the device of the given ID, under the bus's lock,
// after advancing the physics to t; it reports whether there is such a
// device. f must not keep the device.
func (vb *VirtualBus) WithDevice(id byte, t time.Duration, f func(d *actuator.Device)) bool {
	vb.mu.Lock()
	defer vb.mu.Unlock()
	vb.advance(t)
	for _, d := range vb.devs {
		if d.ID() == id {
			f(d)
			return true
		}
	}
	return false
}

// Reboot power-cycles the device with the given ID at bus time t, as if
// its supply had dropped out (torque off, RAM lost).
func (vb *VirtualBus) Reboot(id byte, t time.Duration) bool {
	return vb.WithDevice(id, t, func(d *actuator.Device) { d.PowerCycle(t) })
}

// InjectHardwareError raises hardware error conditions (actuator.Error*
// bits, e.g. actuator.ErrorOverheating) in the device with the given ID.
func (vb *VirtualBus) InjectHardwareError(id byte, bits byte, t time.Duration) bool {
	return vb.WithDevice(id, t, func(d *actuator.Device) { d.InjectHardwareError(bits) })
}

// CorruptNextReply damages the CRC of the next reply sent by the device
// with the given ID; with dynamixel.BroadcastID, of the next reply at all
// (a FAST read's combined reply counts as BroadcastID's).
func (vb *VirtualBus) CorruptNextReply(id byte) {
	vb.mu.Lock()
	defer vb.mu.Unlock()
	vb.corrupt = int(id)
}

// DropNextReply silences the next reply of the device with the given ID
// (its record of a FAST read too, which truncates the combined reply).
func (vb *VirtualBus) DropNextReply(id byte) {
	vb.mu.Lock()
	defer vb.mu.Unlock()
	vb.drop[id] = true
}

// InjectGarbage sends b (at most 64 bytes) on the line just before the
// next reply, as noise between packets.
func (vb *VirtualBus) InjectGarbage(b []byte) {
	vb.mu.Lock()
	defer vb.mu.Unlock()
	vb.nGarbage = copy(vb.garbage[:], b)
}

// receive takes bytes the host started transmitting at bus time t, runs
// every whole instruction in them, and queues the replies. It returns when
// the host's transmission ends. Called with vb.mu held.
func (vb *VirtualBus) receive(t time.Duration, b []byte) time.Duration {
	start := max(t, vb.txFree)
	end := start + wireTime(len(b), vb.baud)
	vb.txFree = end
	vb.stats.BytesIn += uint64(len(b))
	raw, from := b, 0
	for len(b) > 0 {
		n, _ := vb.dec.Write(b)
		b = b[n:]
		for {
			p, err := vb.dec.Next()
			if err == dynamixel.ErrNeedMore {
				break
			}
			if err == dynamixel.ErrCRC {
				from = vb.crcError(end, raw, from)
				continue
			}
			if err != nil {
				continue
			}
			vb.handle(end, p)
		}
		if n == 0 && len(b) > 0 {
			vb.dec.Reset()
		}
	}
	return end
}

// crcError answers an instruction whose CRC did not match, as a device
// does when the packet's ID is its own: it finds, in the bytes of this
// transmission from index from on, the first packet failing its CRC, and
// lets the device with that ID reply (error 3). It returns where to search
// next time.
func (vb *VirtualBus) crcError(t time.Duration, raw []byte, from int) int {
	for i := from; i+7 <= len(raw); i++ {
		if raw[i] != 0xFF || raw[i+1] != 0xFF || raw[i+2] != 0xFD || raw[i+3] != 0x00 {
			continue
		}
		n := copy(vb.fastBuf[:cap(vb.fastBuf)], raw[i:])
		if _, _, err := dynamixel.ParsePacket(vb.fastBuf[:n]); err != dynamixel.ErrCRC {
			continue
		}
		vb.advance(t)
		for _, d := range vb.devs {
			if d.ID() != raw[i+4] || d.Baud() != vb.baud {
				continue
			}
			out, r := d.CRCError(t, vb.replyBuf[:0])
			if r.Kind == actuator.StatusReply {
				end := vb.sendGarbage(t+r.Delay+vb.proc, vb.baud) + wireTime(len(out), vb.baud)
				vb.queue(end, out)
				vb.stats.Replies++
			}
		}
		return i + 4
	}
	return len(raw)
}

// handle runs one instruction packet that was whole at bus time t.
func (vb *VirtualBus) handle(t time.Duration, p dynamixel.Packet) {
	if p.Instruction == dynamixel.Status {
		return
	}
	vb.stats.Instructions++
	vb.advance(t)
	buf := vb.replyBuf[:0]
	n := 0
	for i, d := range vb.devs {
		if d.Baud() != vb.baud {
			continue // it hears noise at another rate
		}
		off := len(buf)
		var r actuator.Reply
		buf, r = d.Handle(t, p, buf)
		if r.Kind == actuator.NoReply || n == len(vb.pend) {
			buf = buf[:off]
			continue
		}
		vb.pend[n] = pending{dev: i, off: off, end: len(buf), r: r}
		n++
	}
	vb.replyBuf = buf[:0]
	if n == 0 {
		return
	}
	pend := vb.pend[:n]
	for i := 1; i < n; i++ { // insertion sort by slot: n is small
		for j := i; j > 0 && pend[j].r.Slot < pend[j-1].r.Slot; j-- {
			pend[j], pend[j-1] = pend[j-1], pend[j]
		}
	}
	if pend[0].r.Kind == actuator.FastReply {
		vb.sendFast(t, p, pend, buf[:cap(buf)])
		return
	}
	cur := t
	for _, q := range pend {
		id := buf[q.off+4]
		if vb.drop[id] {
			vb.drop[id] = false
			continue
		}
		begin := cur + q.r.Delay + vb.proc
		begin = vb.sendGarbage(begin, vb.baud)
		data := buf[q.off:q.end]
		if vb.corrupt == int(id) || vb.corrupt == int(dynamixel.BroadcastID) {
			data[len(data)-1] ^= 0xA5
			vb.corrupt = -1
		}
		cur = begin + wireTime(len(data), vb.baud)
		vb.queue(cur, data)
		vb.stats.Replies++
	}
}

// sendFast joins the FAST read records into the combined reply, in slot
// order. A missing record (no such device, or dropped) truncates the reply
// where that device's part should start: on a real bus the next device
// waits for it in vain.
func (vb *VirtualBus) sendFast(t time.Duration, p dynamixel.Packet, pend []pending, buf []byte) {
	// The slots the request asks for.
	nslots := len(p.Params) / 5
	if p.Instruction == dynamixel.FastSyncRead {
		nslots = len(p.Params) - 4
	}
	size := func(k int) int { return fastSize(p, k) }
	nslots = min(nslots, len(vb.recs))
	total := 1 + 2
	for k := range nslots {
		total += 2 + size(k)
	}
	total += 2 * (nslots - 1)
	if nslots == 0 || 7+total > cap(vb.fastBuf) {
		return // no real host asks for that much
	}
	present, q := 0, 0
	for k := range nslots {
		rec := dynamixel.FastRecord{Data: vb.zeros[:size(k)]}
		if q < len(pend) && pend[q].r.Slot == k && present == k {
			b := buf[pend[q].off:pend[q].end]
			id := b[1]
			if vb.drop[id] {
				vb.drop[id] = false
			} else {
				rec = dynamixel.FastRecord{Err: b[0], ID: id, Data: b[2:]}
				present++
			}
			q++
		}
		vb.recs[k] = rec
	}
	if present == 0 {
		return
	}
	wire := dynamixel.AppendFastStatus(vb.fastBuf[:0], vb.recs[:nslots])
	if present < nslots {
		cut := 8
		for k := range present {
			cut += 2 + size(k) + 2
		}
		wire = wire[:cut]
	}
	corrupt := vb.corrupt == int(dynamixel.BroadcastID)
	for k := range present {
		if vb.corrupt == int(vb.recs[k].ID) {
			corrupt = true
		}
	}
	if corrupt {
		wire[len(wire)-1] ^= 0xA5
		vb.corrupt = -1
	}
	begin := vb.sendGarbage(t+pend[0].r.Delay+vb.proc, vb.baud)
	vb.queue(begin+wireTime(len(wire), vb.baud), wire)
	vb.stats.Replies++
}

// fastSize is the record size of slot k of a FAST read request (capped as
// the firmware caps it).
func fastSize(p dynamixel.Packet, k int) int {
	if p.Instruction == dynamixel.FastSyncRead {
		return min(int(dynamixel.Uint16(p.Params[2:])), 256)
	}
	return min(int(dynamixel.Uint16(p.Params[5*k+3:])), 256)
}
