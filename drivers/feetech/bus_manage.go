package feetech

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/anther-robotics/anther/robot"
)

// This file holds the Bus's non-real-time calls: Configure, the management
// calls used by tools, and the calibration calls. They may allocate and
// block; each holds the port for its whole duration.

// Device is a servo found on a bus.
type Device struct {
	ID        byte   `json:"id"`
	Model     uint16 `json:"model_number"`
	ModelName string `json:"model"`
	Firmware  string `json:"firmware"` // "major.minor"
	Baud      int    `json:"baud"`
}

// ModelName names a Feetech model number, such as "Feetech STS3215", or
// "unknown".
func ModelName(number uint16) string {
	if m, ok := robot.MotorByNumber("feetech", number); ok {
		return m.Name
	}
	switch number {
	case ModelSTS3215:
		return "Feetech STS3215"
	case ModelSTS3250:
		return "Feetech STS3250"
	case ModelSCS0009:
		return "Feetech SCS0009"
	case ModelSM8512BL:
		return "Feetech SM8512BL"
	}
	return "unknown"
}

// call runs fn with the port held by this non-real-time caller.
func (b *Bus) call(ctx context.Context, fn func() error) error {
	if b.closed.Load() {
		return robot.ErrClosed
	}
	if err := b.acquireCall(ctx); err != nil {
		return fmt.Errorf("feetech: bus %s: %w", b.cfg.Name, err)
	}
	defer b.releaseCall()
	return fn()
}

// callLatency is the least host-side allowance of a non-real-time call.
const callLatency = 10 * time.Millisecond

// callTimeout is the timeout of a non-real-time transaction.
func (b *Bus) callTimeout(tx, rx, replies int) time.Duration {
	t := b.timing
	t.Latency = max(t.Latency, callLatency)
	return t.Timeout(tx, rx, replies)
}

// request sends tx and waits for one status with size parameters from id,
// retrying up to Retries times on silence or damage. It returns the
// parameters (a copy) and the status byte.
func (b *Bus) request(ctx context.Context, tx []byte, id byte, size int) ([]byte, StatusError, error) {
	return b.requestN(ctx, tx, id, size, 1+b.cfg.Retries)
}

// requestN is request with the number of attempts given.
func (b *Bus) requestN(ctx context.Context, tx []byte, id byte, size, attempts int) ([]byte, StatusError, error) {
	err := ErrNoReply
	for attempt := 0; attempt < attempts; attempt++ {
		if cerr := ctx.Err(); cerr != nil {
			return nil, 0, cerr
		}
		b.single.id, b.single.got, b.single.bad, b.single.err, b.single.size = id, false, false, 0, size
		if perr := b.exchange(tx, rxSingle, 1, nil, b.callTimeout(len(tx), PacketLen(size), 1)); perr != nil {
			return nil, 0, perr
		}
		if b.single.got {
			return append([]byte(nil), b.single.val[:size]...), b.single.err, nil
		}
		if b.single.bad {
			err = ErrCorrupt
		} else {
			err = ErrNoReply
		}
	}
	return nil, 0, err
}

// readReg reads size (1 or 2) bytes at addr of id, unsigned little-endian,
// with the port held.
func (b *Bus) readReg(ctx context.Context, id, addr byte, size int) (int, error) {
	if size != 1 && size != 2 {
		return 0, fmt.Errorf("feetech: register size %d (use 1 or 2)", size)
	}
	v, _, err := b.request(ctx, AppendRead(b.tx[:0], id, addr, byte(size)), id, size)
	if err != nil {
		return 0, fmt.Errorf("feetech: bus %s: read id %d addr %d size %d: %w", b.cfg.Name, id, addr, size, err)
	}
	if size == 1 {
		return int(v[0]), nil
	}
	return int(Uint16(v)), nil
}

// readRegister reads r of id, decoded (sign-magnitude where r has a sign
// bit), with the port held.
func (b *Bus) readRegister(ctx context.Context, id byte, r Register) (int, error) {
	v, _, err := b.request(ctx, AppendRead(b.tx[:0], id, r.Addr(), r.Size()), id, int(r.Size()))
	if err != nil {
		return 0, fmt.Errorf("feetech: bus %s: read %v of id %d: %w", b.cfg.Name, r, id, err)
	}
	return r.Decode(v), nil
}

// writeBytes writes data at addr of id and waits for the status (none for
// BroadcastID), with the port held.
func (b *Bus) writeBytes(ctx context.Context, id, addr byte, data []byte) error {
	tx := AppendWrite(b.tx[:0], id, addr, data)
	if id == BroadcastID {
		return b.send(tx)
	}
	if _, _, err := b.request(ctx, tx, id, 0); err != nil {
		return fmt.Errorf("feetech: bus %s: write id %d addr %d % X: %w", b.cfg.Name, id, addr, data, err)
	}
	return nil
}

// writeRegister writes v to r of id (sign-magnitude where r has a sign
// bit), with the port held.
func (b *Bus) writeRegister(ctx context.Context, id byte, r Register, v int) error {
	var buf [2]byte
	return b.writeBytes(ctx, id, r.Addr(), r.Append(buf[:0], v))
}

// collect sends tx and gathers every status packet until want arrived or
// timeout passed.
func (b *Bus) collect(tx []byte, want int, timeout time.Duration) ([]Packet, error) {
	b.collected = b.collected[:0]
	if err := b.exchange(tx, rxCollect, want, nil, timeout); err != nil {
		return nil, err
	}
	out := b.collected
	b.collected = nil
	return out, nil
}

// syncReadBytes SYNC_READs one byte at addr from ids; the map holds the
// servos that answered.
func (b *Bus) syncReadBytes(addr byte, ids []byte) (map[byte]byte, error) {
	n := len(ids)
	pkts, err := b.collect(AppendSyncRead(b.tx[:0], addr, 1, ids), n,
		b.callTimeout(syncReadTxBytes(n), syncReadRxBytes(n, 1), n))
	if err != nil {
		return nil, err
	}
	vals := make(map[byte]byte, n)
	for _, p := range pkts {
		if len(p.Params) == 1 && slices.Contains(ids, p.ID) {
			vals[p.ID] = p.Params[0]
		}
	}
	return vals, nil
}

// setPortBaud switches the port (which must be a BaudSetter) and the
// timing model to baud.
func (b *Bus) setPortBaud(baud int) error {
	if baud == b.timing.Baud {
		return nil
	}
	bs, ok := b.port.(BaudSetter)
	if !ok {
		return fmt.Errorf("feetech: bus %s: the port cannot change its baud rate (to %d)", b.cfg.Name, baud)
	}
	if err := bs.SetBaud(baud); err != nil {
		return fmt.Errorf("feetech: bus %s: %w", b.cfg.Name, err)
	}
	b.timing.Baud = baud
	return nil
}

// ping pings id and reads its model number and firmware, with the port
// held.
func (b *Bus) ping(ctx context.Context, id byte, attempts int) (Device, error) {
	if _, _, err := b.requestN(ctx, AppendPing(b.tx[:0], id), id, 0, attempts); err != nil {
		return Device{}, fmt.Errorf("feetech: bus %s: ping id %d at %d baud: %w", b.cfg.Name, id, b.timing.Baud, err)
	}
	v, _, err := b.requestN(ctx, AppendRead(b.tx[:0], id, FirmwareMajor.Addr(), 5), id, 5, attempts)
	if err != nil {
		return Device{}, fmt.Errorf("feetech: bus %s: read model of id %d: %w", b.cfg.Name, id, err)
	}
	model := Uint16(v[3:5])
	return Device{ID: id, Model: model, ModelName: ModelName(model),
		Firmware: strconv.Itoa(int(v[0])) + "." + strconv.Itoa(int(v[1])), Baud: b.timing.Baud}, nil
}

// Configure brings the bus up, in LeRobot's order: it pings every servo and
// checks its model number against the description (an error names every
// missing ID and wrong model); makes Return_Delay_Time, Operating_Mode
// (position), Phase (single-turn feedback), the gains and any LeRobot
// calibration match the configuration, turning torque off only on servos
// whose EEPROM must change and clearing Lock while it writes; writes
// Acceleration; reads the calibration the servos hold where none was
// given; reads which servos hold torque; and reads the initial state.
// Torque is otherwise left as it is: the first Write sets it.
func (b *Bus) Configure(ctx context.Context) error {
	return b.call(ctx, func() error {
		if err := b.configure(ctx); err != nil {
			return err
		}
		b.configured.Store(true)
		var first robot.State
		var err error
		for range 3 { // a transient failure is retried, as the loop would
			if err = b.readState(time.Now(), &first); err == nil || !IsTransient(err) {
				break
			}
		}
		if err != nil && !errors.Is(err, ErrHardware) {
			b.configured.Store(false)
			return fmt.Errorf("feetech: bus %s: first state read: %w", b.cfg.Name, err)
		}
		b.log.Info("feetech: bus configured", "bus", b.cfg.Name, "servos", b.n, "baud", b.timing.Baud,
			"read_timeout", b.ReadTimeout(), "budget", b.budget, "cycle_wire_time", b.CycleWireTime())
		return nil
	})
}

// label names servo k for messages: "3 (elbow_flex)".
func (b *Bus) label(k int) string {
	s := strconv.Itoa(int(b.m[k].id))
	if b.m[k].cfg.Name != "" {
		s += " (" + b.m[k].cfg.Name + ")"
	}
	return s
}

func (b *Bus) configure(ctx context.Context) error {
	_ = b.port.ResetInputBuffer()
	if b.n == 0 {
		return nil
	}
	var missing, wrong []string
	for k := 0; k < b.n; k++ {
		m := &b.m[k]
		dev, err := b.ping(ctx, m.id, 1+b.cfg.Retries)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, ErrPort) {
				return err
			}
			missing = append(missing, b.label(k))
			continue
		}
		if want := m.cfg.Motor.ModelNumber; want != 0 && dev.Model != want {
			wrong = append(wrong, fmt.Sprintf("id %s is %s (model %d), the description says %s (model %d)",
				b.label(k), dev.ModelName, dev.Model, m.cfg.Motor.Name, want))
		}
	}
	if len(missing) == b.n {
		return fmt.Errorf("feetech: bus %s: no servo answered at %d baud (expected IDs %s): check power, cabling, port and baud: %w",
			b.cfg.Name, b.timing.Baud, strings.Join(missing, ", "), ErrMissingMotors)
	}
	if len(missing) > 0 {
		return fmt.Errorf("feetech: bus %s: %d of %d servos did not answer at %d baud: IDs %s: %w",
			b.cfg.Name, len(missing), b.n, b.timing.Baud, strings.Join(missing, ", "), ErrMissingMotors)
	}
	if len(wrong) > 0 {
		return fmt.Errorf("feetech: bus %s: %s: %w", b.cfg.Name, strings.Join(wrong, "; "), ErrWrongModel)
	}

	rdt := int(b.cfg.ReturnDelay / (2 * time.Microsecond))
	for k := 0; k < b.n; k++ {
		m := &b.m[k]
		type reg struct {
			r    Register
			want int
			mask int // bits that matter
		}
		regs := []reg{
			{ReturnDelay, rdt, 0xFF},
			{OperatingMode, 0, 0xFF},
			{Phase, 0, 0x10}, // single-turn position feedback (LeRobot clears bit 4)
		}
		if g := b.cfg.Gains; g != nil {
			regs = append(regs, reg{PCoefficient, int(g.P), 0xFF}, reg{ICoefficient, int(g.I), 0xFF}, reg{DCoefficient, int(g.D), 0xFF})
		}
		if c := m.cfg.Calibration; c != nil {
			regs = append(regs, reg{HomingOffset, c.HomingOffset, -1}, reg{MinPositionLimit, c.RangeMin, -1},
				reg{MaxPositionLimit, c.RangeMax, -1})
		}
		var changes []reg
		var olds []int
		for _, r := range regs {
			v, err := b.readRegister(ctx, m.id, r.r)
			if err != nil {
				return err
			}
			if v&r.mask != r.want&r.mask {
				changes = append(changes, reg{r.r, v&^r.mask | r.want&r.mask, r.mask})
				olds = append(olds, v)
			}
		}
		if len(changes) > 0 {
			if err := b.eepromWrites(ctx, k, func() error {
				for i, c := range changes {
					b.log.Info("feetech: writing servo setting", "bus", b.cfg.Name, "id", m.id, "joint", m.cfg.Name,
						"register", c.r.String(), "from", olds[i], "to", c.want)
					if err := b.writeRegister(ctx, m.id, c.r, c.want); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				return err
			}
		}
		if a := b.cfg.Acceleration; a > 0 {
			if err := b.writeRegister(ctx, m.id, Acceleration, a); err != nil {
				return err
			}
			if err := b.writeRegister(ctx, m.id, MaximumAcceleration, a); err != nil {
				return err
			}
		}
		if m.cfg.Calibration == nil {
			c, err := b.readCalibration(ctx, k)
			if err != nil {
				return err
			}
			m.setCalibration(&c)
		}
	}

	vals, err := b.syncReadBytes(TorqueEnable.Addr(), b.ids[:b.n])
	if err != nil {
		return err
	}
	on, off := 0, 0
	for _, v := range vals {
		if v != 0 {
			on++
		} else {
			off++
		}
	}
	switch {
	case off == b.n:
		b.torque = 0
	case on == b.n:
		b.torque = 1
	default:
		b.torque = -1
	}
	b.latched, b.checkSoon, b.wantTorque = false, false, false
	return nil
}

// eepromWrites runs fn, which writes EEPROM registers of servo k, with the
// servo's torque off (turned off, with a warning, if it was on) and Lock
// cleared, and sets Lock again afterwards.
func (b *Bus) eepromWrites(ctx context.Context, k int, fn func() error) error {
	m := &b.m[k]
	on, err := b.readRegister(ctx, m.id, TorqueEnable)
	if err != nil {
		return err
	}
	if on != 0 {
		b.log.Warn("feetech: turning torque off to change EEPROM settings", "bus", b.cfg.Name, "id", m.id, "joint", m.cfg.Name)
		if err := b.writeRegister(ctx, m.id, TorqueEnable, 0); err != nil {
			return err
		}
		b.torque = -1
	}
	if err := b.writeRegister(ctx, m.id, Lock, 0); err != nil {
		return err
	}
	ferr := fn()
	if err := b.writeRegister(ctx, m.id, Lock, 1); err != nil && ferr == nil {
		ferr = err
	}
	return ferr
}

// readCalibration reads servo k's calibration registers.
func (b *Bus) readCalibration(ctx context.Context, k int) (robot.MotorCalibration, error) {
	m := &b.m[k]
	c := robot.MotorCalibration{ID: int(m.id)}
	for _, x := range []struct {
		r   Register
		dst *int
	}{{HomingOffset, &c.HomingOffset}, {MinPositionLimit, &c.RangeMin}, {MaxPositionLimit, &c.RangeMax}} {
		v, err := b.readRegister(ctx, m.id, x.r)
		if err != nil {
			return c, err
		}
		*x.dst = v
	}
	return c, nil
}

// Ping pings servo id and returns its model number and firmware version.
func (b *Bus) Ping(ctx context.Context, id byte) (Device, error) {
	var d Device
	err := b.call(ctx, func() error {
		var err error
		d, err = b.ping(ctx, id, 1+b.cfg.Retries)
		return err
	})
	return d, err
}

// BaudRates lists the rates STS servos support in table t, slowest first:
// the rates Scan tries for "all".
func BaudRates(t BaudTable) []int {
	var r []int
	for v := byte(7); ; v-- {
		if rate, ok := t.Rate(v); ok {
			r = append(r, rate)
		}
		if v == 0 {
			return r
		}
	}
}

// ScanOptions says where Scan looks.
type ScanOptions struct {
	// Bauds are the baud rates to try, in order (nil: the port's current
	// rate). Trying another rate needs a port with SetBaud (BaudSetter);
	// the port is set back to its rate afterwards.
	Bauds []int
	// IDs are pinged one by one when set; otherwise one broadcast PING
	// per rate finds every servo.
	IDs []byte
	// Window is how long to collect replies to a broadcast PING (default:
	// long enough for every ID to answer, as the Feetech SDK waits: 3 ms
	// per ID plus the wire time plus 16 ms).
	Window time.Duration
}

// Scan finds the servos on the bus at each baud rate in opt, sorted by
// baud then ID.
func (b *Bus) Scan(ctx context.Context, opt ScanOptions) ([]Device, error) {
	var found []Device
	err := b.call(ctx, func() error {
		orig := b.timing.Baud
		bauds := opt.Bauds
		if len(bauds) == 0 {
			bauds = []int{orig}
		}
		defer func() {
			if err := b.setPortBaud(orig); err != nil {
				b.log.Warn("feetech: could not restore the port's baud rate", "err", err)
			}
		}()
		for _, baud := range bauds {
			if err := b.setPortBaud(baud); err != nil {
				return err
			}
			devs, err := b.scanHere(ctx, opt)
			if err != nil {
				return err
			}
			found = append(found, devs...)
		}
		return nil
	})
	slices.SortFunc(found, func(x, y Device) int {
		if x.Baud != y.Baud {
			return x.Baud - y.Baud
		}
		return int(x.ID) - int(y.ID)
	})
	return found, err
}

// scanHere finds the servos at the port's current rate.
func (b *Bus) scanHere(ctx context.Context, opt ScanOptions) ([]Device, error) {
	var ids []byte
	if len(opt.IDs) > 0 {
		for _, id := range opt.IDs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			_, _, err := b.requestN(ctx, AppendPing(b.tx[:0], id), id, 0, 1)
			if errors.Is(err, ErrPort) {
				return nil, err
			}
			if err == nil {
				ids = append(ids, id)
			}
		}
	} else {
		window := opt.Window
		if window <= 0 {
			n := int(MaxID) + 1
			window = WireTime(n*PacketLen(0), b.timing.Baud) + time.Duration(n)*3*time.Millisecond + 16*time.Millisecond
		}
		pkts, err := b.collect(AppendPing(b.tx[:0], BroadcastID), int(MaxID)+1, window)
		if err != nil {
			return nil, err
		}
		seen := map[byte]bool{}
		for _, p := range pkts {
			if len(p.Params) != 0 || seen[p.ID] || p.ID > MaxID {
				continue
			}
			seen[p.ID] = true
			ids = append(ids, p.ID)
		}
	}
	var devs []Device
	for _, id := range ids {
		d, err := b.ping(ctx, id, 1+b.cfg.Retries)
		if errors.Is(err, ErrPort) {
			return nil, err
		}
		if err != nil {
			b.log.Warn("feetech: servo answered the scan but not its model read", "id", id, "err", err)
			continue
		}
		devs = append(devs, d)
	}
	return devs, nil
}

// ReadRegister reads size (1 or 2) bytes at control-table address addr of
// servo id, as an unsigned little-endian value (decode sign-magnitude
// fields with DecodeSignMagnitude).
func (b *Bus) ReadRegister(ctx context.Context, id, addr byte, size int) (int, error) {
	var v int
	err := b.call(ctx, func() error {
		var err error
		v, err = b.readReg(ctx, id, addr, size)
		return err
	})
	return v, err
}

// WriteRegister writes value as size (1 or 2) bytes little-endian at
// control-table address addr of servo id and waits for its status
// (BroadcastID: no status). EEPROM addresses (below 40) are saved only with
// Lock (55) cleared.
func (b *Bus) WriteRegister(ctx context.Context, id, addr byte, size int, value int) error {
	if size != 1 && size != 2 {
		return fmt.Errorf("feetech: register size %d (use 1 or 2)", size)
	}
	return b.call(ctx, func() error {
		b.torque = -1 // it may have changed Torque_Enable behind the loop's back
		var data [2]byte
		PutUint16(data[:], uint16(value))
		return b.writeBytes(ctx, id, addr, data[:size])
	})
}

// Torque turns servo id's torque on or off (BroadcastID: every servo, no
// status).
func (b *Bus) Torque(ctx context.Context, id byte, on bool) error {
	v := 0
	if on {
		v = 1
	}
	return b.WriteRegister(ctx, id, TorqueEnable.Addr(), 1, v)
}

// TorqueAll turns the torque of every servo of the bus on or off, one
// WRITE each (with its status).
func (b *Bus) TorqueAll(ctx context.Context, on bool) error {
	v := 0
	if on {
		v = 1
	}
	return b.call(ctx, func() error {
		b.torque = -1
		for k := 0; k < b.n; k++ {
			if err := b.writeRegister(ctx, b.m[k].id, TorqueEnable, v); err != nil {
				return err
			}
		}
		b.torque = int8(v)
		return nil
	})
}

// SetID gives servo id the ID newID (its torque goes off; Lock is cleared
// so the ID is saved, then set again) and checks that it answers to it.
func (b *Bus) SetID(ctx context.Context, id, newID byte) error {
	if newID > MaxID {
		return fmt.Errorf("feetech: new id %d is above %d", newID, MaxID)
	}
	return b.call(ctx, func() error {
		if id == newID {
			return nil
		}
		if _, err := b.ping(ctx, newID, 1); err == nil {
			return fmt.Errorf("feetech: bus %s: id %d is already taken", b.cfg.Name, newID)
		}
		for _, w := range []struct{ r Register }{{TorqueEnable}, {Lock}} {
			if err := b.writeRegister(ctx, id, w.r, 0); err != nil {
				return err
			}
		}
		// The status comes from the old ID.
		if _, _, err := b.request(ctx, AppendWrite(b.tx[:0], id, ID.Addr(), []byte{newID}), id, 0); err != nil {
			b.log.Debug("feetech: no status to the ID change; checking the new ID", "err", err)
		}
		if _, err := b.ping(ctx, newID, 1+b.cfg.Retries); err != nil {
			return fmt.Errorf("feetech: bus %s: id %d → %d: servo does not answer to its new ID: %w", b.cfg.Name, id, newID, err)
		}
		return b.writeRegister(ctx, newID, Lock, 1)
	})
}

// SetBaud sets servo id's baud rate to baud, numbered with the bus's
// BaudTable (its torque goes off; Lock is cleared so the rate is saved).
// If the port can change its rate, SetBaud checks that the servo answers
// at the new rate, sets Lock again there, and sets the port back;
// otherwise it cannot check and the servo stays unlocked.
func (b *Bus) SetBaud(ctx context.Context, id byte, baud int) error {
	value, ok := b.cfg.BaudTable.Value(baud)
	if !ok {
		return fmt.Errorf("feetech: %d baud is not an STS rate (%v)", baud, BaudRates(b.cfg.BaudTable))
	}
	return b.call(ctx, func() error {
		for _, r := range []Register{TorqueEnable, Lock} {
			if err := b.writeRegister(ctx, id, r, 0); err != nil {
				return err
			}
		}
		if _, _, err := b.request(ctx, AppendWrite(b.tx[:0], id, BaudRate.Addr(), []byte{value}), id, 0); err != nil {
			b.log.Debug("feetech: no status to the baud change; checking at the new rate", "err", err)
		}
		if _, ok := b.port.(BaudSetter); !ok {
			return nil
		}
		orig := b.timing.Baud
		if err := b.setPortBaud(baud); err != nil {
			return err
		}
		_, perr := b.ping(ctx, id, 1+b.cfg.Retries)
		if perr == nil {
			perr = b.writeRegister(ctx, id, Lock, 1)
		}
		if err := b.setPortBaud(orig); err != nil {
			return err
		}
		if perr != nil {
			return fmt.Errorf("feetech: bus %s: id %d does not answer at %d baud after the change: %w", b.cfg.Name, id, baud, perr)
		}
		return nil
	})
}

// ReadCalibration reads the calibration every servo of the bus holds
// (Homing_Offset, Min/Max_Position_Limit; drive_mode is 0, as LeRobot
// reads it for Feetech), keyed by joint name.
func (b *Bus) ReadCalibration(ctx context.Context) (robot.Calibration, error) {
	cal := robot.Calibration{}
	err := b.call(ctx, func() error {
		for k := 0; k < b.n; k++ {
			c, err := b.readCalibration(ctx, k)
			if err != nil {
				return err
			}
			cal[b.m[k].cfg.Name] = c
		}
		return nil
	})
	return cal, err
}

// WriteCalibration writes the calibration of every joint in cal to its
// servo, as LeRobot's write_calibration does (Homing_Offset,
// Min/Max_Position_Limit, with torque off and Lock cleared, then Lock set
// again), and uses it from then on. Joints cal does not name are left
// alone. A calibration whose ID differs from the joint's servo is refused.
func (b *Bus) WriteCalibration(ctx context.Context, cal robot.Calibration) error {
	for k := 0; k < b.n; k++ {
		m := &b.m[k]
		if c, ok := cal[m.cfg.Name]; ok && c.ID != int(m.id) {
			return fmt.Errorf("feetech: joint %s: calibration is for id %d, the servo is id %d", m.cfg.Name, c.ID, m.id)
		}
	}
	return b.call(ctx, func() error {
		for k := 0; k < b.n; k++ {
			m := &b.m[k]
			c, ok := cal[m.cfg.Name]
			if !ok {
				continue
			}
			if err := b.eepromWrites(ctx, k, func() error {
				for _, w := range []struct {
					r Register
					v int
				}{{HomingOffset, c.HomingOffset}, {MinPositionLimit, c.RangeMin}, {MaxPositionLimit, c.RangeMax}} {
					if err := b.writeRegister(ctx, m.id, w.r, w.v); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				return err
			}
			m.cfg.Calibration = &c
			m.setCalibration(&c)
		}
		return nil
	})
}

// ResetCalibration puts every servo back to the uncalibrated state, as
// LeRobot's reset_calibration does: Homing_Offset 0, position limits
// 0…4095 (torque off, Lock cleared while writing).
func (b *Bus) ResetCalibration(ctx context.Context) error {
	cal := robot.Calibration{}
	for k := 0; k < b.n; k++ {
		m := &b.m[k]
		res := m.cfg.Motor.TicksPerRev
		if res <= 1 {
			res = ResolutionSTS3215
		}
		cal[m.cfg.Name] = robot.MotorCalibration{ID: int(m.id), RangeMin: 0, RangeMax: res - 1}
	}
	return b.WriteCalibration(ctx, cal)
}

// ReadPositions reads every servo's Present_Position (raw calibrated ticks)
// into dst (one per joint, in configuration order), with one SYNC_READ and
// up to five retries of the servos missing, as LeRobot's calibration does.
// A servo that never answers makes it fail, naming it.
func (b *Bus) ReadPositions(ctx context.Context, dst []int) error {
	if len(dst) < b.n {
		return fmt.Errorf("feetech: ReadPositions: %d slots for %d servos", len(dst), b.n)
	}
	return b.call(ctx, func() error {
		pending := append([]byte(nil), b.ids[:b.n]...)
		for attempt := 0; attempt < 6 && len(pending) > 0; attempt++ {
			n := len(pending)
			pkts, err := b.collect(AppendSyncRead(b.tx[:0], PresentPosition.Addr(), 2, pending), n,
				b.callTimeout(syncReadTxBytes(n), syncReadRxBytes(n, 2), n))
			if err != nil {
				return err
			}
			for _, p := range pkts {
				k := b.byID[p.ID]
				if k < 0 || len(p.Params) != 2 || !slices.Contains(pending, p.ID) {
					continue
				}
				dst[k] = PresentPosition.Decode(p.Params)
				pending = slices.DeleteFunc(pending, func(id byte) bool { return id == p.ID })
			}
		}
		if len(pending) > 0 {
			return fmt.Errorf("feetech: bus %s: servo(s) %v did not report their position: %w", b.cfg.Name, pending, ErrNoReply)
		}
		return nil
	})
}

// SetHalfTurnHomings centres every servo's range on its present position,
// as LeRobot's set_half_turn_homings does: it resets the calibration, reads
// the positions and writes Homing_Offset = position − 2047 (Present = Actual
// − Homing_Offset), so each servo now reads 2047 where it stands. It
// returns the offsets, keyed by joint name.
func (b *Bus) SetHalfTurnHomings(ctx context.Context) (map[string]int, error) {
	if err := b.ResetCalibration(ctx); err != nil {
		return nil, err
	}
	pos := make([]int, b.n)
	if err := b.ReadPositions(ctx, pos); err != nil {
		return nil, err
	}
	cal := robot.Calibration{}
	offsets := map[string]int{}
	for k := 0; k < b.n; k++ {
		m := &b.m[k]
		res := m.cfg.Motor.TicksPerRev
		if res <= 1 {
			res = ResolutionSTS3215
		}
		off := pos[k] - (res-1)/2
		offsets[m.cfg.Name] = off
		cal[m.cfg.Name] = robot.MotorCalibration{ID: int(m.id), HomingOffset: off, RangeMin: 0, RangeMax: res - 1}
	}
	if err := b.WriteCalibration(ctx, cal); err != nil {
		return nil, err
	}
	return offsets, nil
}

// ConfigFromDescription builds the BusConfig of the bus called bus in d:
// its baud rate, and for each of its joints the index, ID, motor, direction
// and offset; cal (optional) adds the LeRobot calibration of joints it
// names. SO arms (Kind "so101") get LeRobotGains. The timing
// fields are left at their defaults; set Budget from the loop period.
func ConfigFromDescription(d *robot.Description, bus string, cal robot.Calibration) (BusConfig, error) {
	bs := d.Bus(bus)
	if bs == nil {
		return BusConfig{}, fmt.Errorf("feetech: robot %s has no bus %q", d.Name, bus)
	}
	if bs.Protocol != "feetech" {
		return BusConfig{}, fmt.Errorf("feetech: bus %s speaks %s, not feetech", bus, bs.Protocol)
	}
	cfg := BusConfig{Name: bs.Name, Baud: bs.Baud}
	if d.Kind == "so101" {
		g := LeRobotGains()
		cfg.Gains = &g
	}
	for _, ji := range d.BusJoints(bus) {
		j := d.Joints[ji]
		m, ok := robot.Motors[j.Model]
		if !ok {
			return BusConfig{}, fmt.Errorf("feetech: joint %s: unknown motor model %q", j.Name, j.Model)
		}
		jc := JointConfig{Index: ji, Name: j.Name, ID: byte(j.ID), Motor: m, Direction: j.Direction, Offset: j.Offset}
		if c, ok := cal[j.Name]; ok {
			if c.ID != j.ID {
				return BusConfig{}, fmt.Errorf("feetech: joint %s: calibration is for id %d, the description says %d", j.Name, c.ID, j.ID)
			}
			if c.RangeMin >= c.RangeMax {
				return BusConfig{}, fmt.Errorf("feetech: joint %s: calibration range %d…%d is empty", j.Name, c.RangeMin, c.RangeMax)
			}
			jc.Calibration = &c
		}
		cfg.Joints = append(cfg.Joints, jc)
	}
	if len(cfg.Joints) > robot.MaxJoints {
		return BusConfig{}, fmt.Errorf("feetech: bus %s has %d joints, more than %d", bus, len(cfg.Joints), robot.MaxJoints)
	}
	return cfg, nil
}
