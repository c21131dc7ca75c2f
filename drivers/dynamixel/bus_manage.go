package dynamixel

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

// This file holds the Bus's non-real-time calls: Configure and the
// management calls used by tools. They may allocate and block; each holds
// the port for its whole duration.

// Device is a motor found on a bus.
type Device struct {
	ID        byte   `json:"id"`
	Model     uint16 `json:"model_number"`
	ModelName string `json:"model"`
	Firmware  byte   `json:"firmware"`
	Baud      int    `json:"baud"`
}

// ModelName names a Dynamixel model number, such as "XL330-M288-T", or
// "unknown" for a number anther does not know.
func ModelName(number uint16) string {
	if m, ok := robot.MotorByNumber("dynamixel2", number); ok {
		return m.Name
	}
	switch number {
	case 1030:
		return "XM430-W210-T"
	case 1070:
		return "XC430-W150-T"
	case 1080:
		return "XC430-W240-T"
	case 1090:
		return "XL430-W250-T (2XL430)"
	case 1160:
		return "2XC430-W250-T"
	case 350:
		return "XL-320"
	}
	return "unknown"
}

// call runs fn with the port held by this non-real-time caller.
func (b *Bus) call(ctx context.Context, fn func() error) error {
	if b.closed.Load() {
		return robot.ErrClosed
	}
	if err := b.acquireCall(ctx); err != nil {
		return fmt.Errorf("dynamixel: bus %s: %w", b.cfg.Name, err)
	}
	defer b.releaseCall()
	return fn()
}

// callLatency is the least host-side allowance of a non-real-time call:
// nothing waits on it, and a busy host should not make a tool fail.
const callLatency = 10 * time.Millisecond

// callTimeout is the timeout of a non-real-time transaction of tx bytes
// out and rx bytes back from replies devices.
func (b *Bus) callTimeout(tx, rx, replies int) time.Duration {
	t := b.timing
	t.Latency = max(t.Latency, callLatency)
	return t.Timeout(tx, rx, replies)
}

// request sends tx (built once) and waits for one status with size
// parameters from id (BroadcastID: from anyone), retrying up to Retries
// times on silence or damage. A device error number is returned at once,
// wrapped with ErrDevice.
func (b *Bus) request(ctx context.Context, tx []byte, id byte, size int) ([4]byte, error) {
	return b.requestN(ctx, tx, id, size, 1+b.cfg.Retries)
}

// requestN is request with the number of attempts given.
func (b *Bus) requestN(ctx context.Context, tx []byte, id byte, size, attempts int) ([4]byte, error) {
	err := ErrNoReply
	for attempt := 0; attempt < attempts; attempt++ {
		if cerr := ctx.Err(); cerr != nil {
			return [4]byte{}, cerr
		}
		b.single.id, b.single.got, b.single.bad, b.single.err, b.single.size = id, false, false, 0, size
		if perr := b.exchange(tx, rxSingle, 1, nil, b.callTimeout(len(tx), statusBytes(size), 1)); perr != nil {
			return [4]byte{}, perr
		}
		if b.single.got {
			return b.single.val, nil
		}
		if n := ErrorNumber(b.single.err &^ alertBit); n != 0 {
			return [4]byte{}, fmt.Errorf("%w: %w", ErrDevice, n)
		}
		if b.single.bad {
			err = ErrCorrupt
		} else {
			err = ErrNoReply
		}
	}
	return [4]byte{}, err
}

// ping pings id with the port held.
func (b *Bus) ping(ctx context.Context, id byte) (Device, error) {
	return b.pingN(ctx, id, 1+b.cfg.Retries)
}

// pingN is ping with the number of attempts given.
func (b *Bus) pingN(ctx context.Context, id byte, attempts int) (Device, error) {
	v, err := b.requestN(ctx, AppendPing(b.tx[:0], id), id, 3, attempts)
	if err != nil {
		return Device{}, fmt.Errorf("dynamixel: bus %s: ping id %d at %d baud: %w", b.cfg.Name, id, b.timing.Baud, err)
	}
	model := Uint16(v[0:2])
	return Device{ID: id, Model: model, ModelName: ModelName(model), Firmware: v[2], Baud: b.timing.Baud}, nil
}

// readReg reads size (1, 2 or 4) bytes at addr of id, with the port held.
func (b *Bus) readReg(ctx context.Context, id byte, addr uint16, size int) (uint32, error) {
	if size != 1 && size != 2 && size != 4 {
		return 0, fmt.Errorf("dynamixel: register size %d (use 1, 2 or 4)", size)
	}
	v, err := b.request(ctx, AppendRead(b.tx[:0], id, addr, uint16(size)), id, size)
	if err != nil {
		return 0, fmt.Errorf("dynamixel: bus %s: read id %d addr %d size %d: %w", b.cfg.Name, id, addr, size, err)
	}
	switch size {
	case 1:
		return uint32(v[0]), nil
	case 2:
		return uint32(Uint16(v[:2])), nil
	}
	return Uint32(v[:4]), nil
}

// writeReg writes size (1, 2 or 4) bytes at addr of id and waits for the
// status (none for BroadcastID), with the port held.
func (b *Bus) writeReg(ctx context.Context, id byte, addr uint16, size int, value uint32) error {
	var data [4]byte
	switch size {
	case 1:
		data[0] = byte(value)
	case 2:
		PutUint16(data[:], uint16(value))
	case 4:
		PutUint32(data[:], value)
	default:
		return fmt.Errorf("dynamixel: register size %d (use 1, 2 or 4)", size)
	}
	tx := AppendWrite(b.tx[:0], id, addr, data[:size])
	if id == BroadcastID {
		return b.send(tx)
	}
	if _, err := b.request(ctx, tx, id, 0); err != nil {
		return fmt.Errorf("dynamixel: bus %s: write id %d addr %d = %d: %w", b.cfg.Name, id, addr, value, err)
	}
	return nil
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

// syncReadBytes SYNC READs one byte at addr from ids; the map holds the
// motors that answered without an error number.
func (b *Bus) syncReadBytes(addr uint16, ids []byte) (map[byte]byte, error) {
	n := len(ids)
	pkts, err := b.collect(AppendSyncRead(b.tx[:0], addr, 1, ids), n,
		b.callTimeout(syncReadTxBytes(n), syncReadRxBytes(n, 1), n))
	if err != nil {
		return nil, err
	}
	vals := make(map[byte]byte, n)
	for _, p := range pkts {
		if p.ErrNum() == 0 && len(p.Params) >= 1 && slices.Contains(ids, p.ID) {
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
		return fmt.Errorf("dynamixel: bus %s: the port cannot change its baud rate (to %d)", b.cfg.Name, baud)
	}
	if err := bs.SetBaud(baud); err != nil {
		return fmt.Errorf("dynamixel: bus %s: %w", b.cfg.Name, err)
	}
	b.timing.Baud = baud
	return nil
}

// Configure brings the bus up, in Pollen's and LeRobot's order: it pings
// every motor and checks its model number against the description (an
// error names every missing ID and wrong model); reads Hardware Error
// Status and, with RebootOnHardwareError, reboots motors with errors other
// than input voltage; makes Return Delay Time, Operating Mode and any
// LeRobot calibration registers match the configuration, turning torque
// off only on motors whose EEPROM must change; reads which motors hold
// torque; and reads the initial state. Torque is otherwise left as it is:
// the first Write sets it from Command.Torque.
func (b *Bus) Configure(ctx context.Context) error {
	return b.call(ctx, func() error {
		if err := b.configure(ctx); err != nil {
			return err
		}
		b.configured.Store(true)
		var first robot.State
		if err := b.readState(time.Now(), &first); err != nil && !errors.Is(err, ErrHardware) {
			b.configured.Store(false)
			return fmt.Errorf("dynamixel: bus %s: first state read: %w", b.cfg.Name, err)
		}
		b.log.Info("dynamixel: bus configured", "bus", b.cfg.Name, "motors", b.n, "baud", b.timing.Baud,
			"read", b.cfg.Read.String(), "read_timeout", b.ReadTimeout(), "budget", b.budget,
			"cycle_wire_time", b.CycleWireTime())
		return nil
	})
}

func (b *Bus) configure(ctx context.Context) error {
	_ = b.port.ResetInputBuffer()
	if b.n == 0 {
		return nil
	}
	name := func(k int) string {
		s := strconv.Itoa(int(b.m[k].id))
		if b.m[k].cfg.Name != "" {
			s += " (" + b.m[k].cfg.Name + ")"
		}
		return s
	}
	var missing, wrong []string
	for k := 0; k < b.n; k++ {
		m := &b.m[k]
		dev, err := b.ping(ctx, m.id)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, ErrPort) {
				return err
			}
			missing = append(missing, name(k))
			continue
		}
		if want := m.cfg.Motor.ModelNumber; want != 0 && dev.Model != want {
			wrong = append(wrong, fmt.Sprintf("id %s is %s (model %d), the description says %s (model %d)",
				name(k), dev.ModelName, dev.Model, m.cfg.Motor.Name, want))
		}
	}
	if len(missing) == b.n {
		return fmt.Errorf("dynamixel: bus %s: no motor answered at %d baud (expected IDs %s): check power, cabling, port and baud: %w",
			b.cfg.Name, b.timing.Baud, strings.Join(missing, ", "), ErrMissingMotors)
	}
	if len(missing) > 0 {
		return fmt.Errorf("dynamixel: bus %s: %d of %d motors did not answer at %d baud: IDs %s: %w",
			b.cfg.Name, len(missing), b.n, b.timing.Baud, strings.Join(missing, ", "), ErrMissingMotors)
	}
	if len(wrong) > 0 {
		return fmt.Errorf("dynamixel: bus %s: %s: %w", b.cfg.Name, strings.Join(wrong, "; "), ErrWrongModel)
	}

	// Hardware errors: only a REBOOT clears them.
	for k := 0; k < b.n; k++ {
		m := &b.m[k]
		hw, err := b.readReg(ctx, m.id, AddrHardwareError, 1)
		if err != nil {
			return err
		}
		if hw == 0 {
			continue
		}
		m.hwErr.Store(hw)
		if byte(hw)&^HWErrVoltage == 0 || !b.cfg.RebootOnHardwareError {
			b.log.Warn("dynamixel: motor reports a hardware error", "bus", b.cfg.Name, "id", m.id,
				"joint", m.cfg.Name, "hardware_error", HardwareErrorString(byte(hw)))
			continue
		}
		b.log.Warn("dynamixel: rebooting motor to clear its hardware error", "bus", b.cfg.Name, "id", m.id,
			"joint", m.cfg.Name, "hardware_error", HardwareErrorString(byte(hw)))
		if err := b.reboot(ctx, m.id); err != nil {
			return err
		}
		m.hwErr.Store(0)
	}

	// EEPROM settings, written only where they differ (torque off first).
	rdt := uint32(b.cfg.ReturnDelay / (2 * time.Microsecond))
	for k := 0; k < b.n; k++ {
		m := &b.m[k]
		type reg struct {
			addr uint16
			size int
			want uint32
			mask uint32 // bits that matter
		}
		regs := []reg{
			{AddrReturnDelay, 1, rdt, 0xFF},
			{AddrOperatingMode, 1, uint32(b.cfg.OperatingMode), 0xFF},
		}
		if c := m.cfg.Calibration; c != nil {
			regs = append(regs,
				reg{AddrDriveMode, 1, uint32(c.DriveMode & 1), 0x01},
				reg{AddrHomingOffset, 4, uint32(int32(c.HomingOffset)), 0xFFFFFFFF},
				reg{AddrMinPosition, 4, uint32(int32(c.RangeMin)), 0xFFFFFFFF},
				reg{AddrMaxPosition, 4, uint32(int32(c.RangeMax)), 0xFFFFFFFF})
		}
		torqueOff := false
		for _, r := range regs {
			v, err := b.readReg(ctx, m.id, r.addr, r.size)
			if err != nil {
				return err
			}
			if v&r.mask == r.want&r.mask {
				continue
			}
			if !torqueOff {
				on, err := b.readReg(ctx, m.id, AddrTorqueEnable, 1)
				if err != nil {
					return err
				}
				if on != 0 {
					b.log.Warn("dynamixel: turning torque off to change EEPROM settings", "bus", b.cfg.Name,
						"id", m.id, "joint", m.cfg.Name)
					if err := b.writeReg(ctx, m.id, AddrTorqueEnable, 1, 0); err != nil {
						return err
					}
				}
				torqueOff = true
			}
			nv := v&^r.mask | r.want&r.mask
			b.log.Info("dynamixel: writing motor setting", "bus", b.cfg.Name, "id", m.id, "joint", m.cfg.Name,
				"addr", r.addr, "from", v, "to", nv)
			if err := b.writeReg(ctx, m.id, r.addr, r.size, nv); err != nil {
				return err
			}
		}
	}

	vals, err := b.syncReadBytes(AddrTorqueEnable, b.ids[:b.n])
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

// HardwareErrorString names the bits of a Hardware Error Status value,
// e.g. "overheating|overload"; "none" for 0.
func HardwareErrorString(hw byte) string {
	if hw == 0 {
		return "none"
	}
	var parts []string
	for _, x := range []struct {
		bit  byte
		name string
	}{{HWErrVoltage, "input-voltage"}, {HWErrOverheat, "overheating"}, {HWErrEncoder, "encoder"},
		{HWErrElectrical, "electrical-shock"}, {HWErrOverload, "overload"}} {
		if hw&x.bit != 0 {
			parts = append(parts, x.name)
		}
	}
	if hw&^hwErrKnownFields != 0 {
		parts = append(parts, fmt.Sprintf("0x%02x", hw&^hwErrKnownFields))
	}
	return strings.Join(parts, "|")
}

// Ping pings motor id and returns its model number and firmware version.
func (b *Bus) Ping(ctx context.Context, id byte) (Device, error) {
	var d Device
	err := b.call(ctx, func() error {
		var err error
		d, err = b.ping(ctx, id)
		return err
	})
	return d, err
}

// ScanOptions says where Scan looks.
type ScanOptions struct {
	// Bauds are the baud rates to try, in order (nil: the port's current
	// rate). Trying another rate needs a port with SetBaud (BaudSetter);
	// the port is set back to its rate afterwards.
	Bauds []int
	// IDs are pinged one by one when set; otherwise one broadcast PING
	// per rate finds every motor.
	IDs []byte
	// Window is how long to collect replies to a broadcast PING (default:
	// long enough for every ID to answer: 3 ms per ID, as ROBOTIS' SDK
	// waits, plus the wire time).
	Window time.Duration
}

// Scan finds the motors on the bus at each baud rate in opt, sorted by
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
				b.log.Warn("dynamixel: could not restore the port's baud rate", "err", err)
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

// broadcastWindow is how long every ID up to MaxID takes to answer a
// broadcast PING at baud.
func (b *Bus) broadcastWindow() time.Duration {
	n := int(MaxID) + 1
	return WireTime(10+n*statusBytes(3), b.timing.Baud) + time.Duration(n)*3*time.Millisecond + max(b.timing.Latency, callLatency)
}

// scanHere finds the motors at the port's current rate.
func (b *Bus) scanHere(ctx context.Context, opt ScanOptions) ([]Device, error) {
	var devs []Device
	if len(opt.IDs) > 0 {
		for _, id := range opt.IDs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			// Two tries: one lost reply (noise, a busy USB adapter) must not hide a motor.
			d, err := b.pingN(ctx, id, 2)
			if errors.Is(err, ErrPort) {
				return nil, err
			}
			if err == nil {
				devs = append(devs, d)
			}
		}
		return devs, nil
	}
	window := opt.Window
	if window <= 0 {
		window = b.broadcastWindow()
	}
	pkts, err := b.collect(AppendPing(b.tx[:0], BroadcastID), int(MaxID)+1, window)
	if err != nil {
		return nil, err
	}
	seen := map[byte]bool{}
	for _, p := range pkts {
		if len(p.Params) < 3 || seen[p.ID] || p.ID > MaxID {
			continue
		}
		seen[p.ID] = true
		model := Uint16(p.Params[0:2])
		devs = append(devs, Device{ID: p.ID, Model: model, ModelName: ModelName(model), Firmware: p.Params[2], Baud: b.timing.Baud})
	}
	return devs, nil
}

// ReadRegister reads size (1, 2 or 4) bytes at control-table address addr
// of motor id, as an unsigned little-endian value.
func (b *Bus) ReadRegister(ctx context.Context, id byte, addr uint16, size int) (uint32, error) {
	var v uint32
	err := b.call(ctx, func() error {
		var err error
		v, err = b.readReg(ctx, id, addr, size)
		return err
	})
	return v, err
}

// WriteRegister writes value as size (1, 2 or 4) bytes at control-table
// address addr of motor id and waits for its status (BroadcastID: no
// status). EEPROM addresses (below 64) need torque off.
func (b *Bus) WriteRegister(ctx context.Context, id byte, addr uint16, size int, value uint32) error {
	return b.call(ctx, func() error {
		b.torque = -1 // it may have changed Torque Enable behind the loop's back
		return b.writeReg(ctx, id, addr, size, value)
	})
}

// Torque turns motor id's torque on or off (BroadcastID: every motor, no
// status).
func (b *Bus) Torque(ctx context.Context, id byte, on bool) error {
	v := uint32(0)
	if on {
		v = 1
	}
	return b.WriteRegister(ctx, id, AddrTorqueEnable, 1, v)
}

// SetID gives motor id the ID newID (torque goes off: the ID is in
// EEPROM) and checks that it answers to it.
func (b *Bus) SetID(ctx context.Context, id, newID byte) error {
	if newID > MaxID {
		return fmt.Errorf("dynamixel: new id %d is above %d", newID, MaxID)
	}
	return b.call(ctx, func() error { return b.setID(ctx, id, newID) })
}

func (b *Bus) setID(ctx context.Context, id, newID byte) error {
	if id == newID {
		return nil
	}
	if _, err := b.ping(ctx, newID); err == nil {
		return fmt.Errorf("dynamixel: bus %s: id %d is already taken", b.cfg.Name, newID)
	}
	if err := b.writeReg(ctx, id, AddrTorqueEnable, 1, 0); err != nil {
		return err
	}
	// The status may come from the old or the new ID.
	var data = [1]byte{newID}
	if _, err := b.request(ctx, AppendWrite(b.tx[:0], id, AddrID, data[:]), BroadcastID, 0); err != nil {
		b.log.Debug("dynamixel: no status to the ID change; checking the new ID", "err", err)
	}
	if _, err := b.ping(ctx, newID); err != nil {
		return fmt.Errorf("dynamixel: bus %s: id %d → %d: motor does not answer to its new ID: %w", b.cfg.Name, id, newID, err)
	}
	return nil
}

// SetBaud sets motor id's baud rate (torque goes off: it is in EEPROM).
// If the port can change its rate, SetBaud checks that the motor answers
// at the new rate and then sets the port back; otherwise it cannot check.
func (b *Bus) SetBaud(ctx context.Context, id byte, baud int) error {
	code, ok := BaudCode(baud)
	if !ok {
		return fmt.Errorf("dynamixel: %d baud is not an X-series rate (%v)", baud, BaudRates())
	}
	return b.call(ctx, func() error {
		if err := b.writeReg(ctx, id, AddrTorqueEnable, 1, 0); err != nil {
			return err
		}
		var data = [1]byte{code}
		if _, err := b.request(ctx, AppendWrite(b.tx[:0], id, AddrBaudRate, data[:]), id, 0); err != nil {
			b.log.Debug("dynamixel: no status to the baud change; checking at the new rate", "err", err)
		}
		if _, ok := b.port.(BaudSetter); !ok {
			return nil
		}
		orig := b.timing.Baud
		if err := b.setPortBaud(baud); err != nil {
			return err
		}
		_, perr := b.ping(ctx, id)
		if err := b.setPortBaud(orig); err != nil {
			return err
		}
		if perr != nil {
			return fmt.Errorf("dynamixel: bus %s: id %d does not answer at %d baud after the change: %w", b.cfg.Name, id, baud, perr)
		}
		return nil
	})
}

// Reboot reboots motor id (clearing a hardware error; torque comes back
// off) and waits up to a second for it to answer again.
func (b *Bus) Reboot(ctx context.Context, id byte) error {
	return b.call(ctx, func() error {
		b.torque = -1
		return b.reboot(ctx, id)
	})
}

func (b *Bus) reboot(ctx context.Context, id byte) error {
	if _, err := b.request(ctx, AppendReboot(b.tx[:0], id), id, 0); err != nil {
		return fmt.Errorf("dynamixel: bus %s: reboot id %d: %w", b.cfg.Name, id, err)
	}
	deadline := time.Now().Add(time.Second)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		_, err := b.ping(ctx, id)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("dynamixel: bus %s: id %d did not come back within 1 s of its reboot: %w", b.cfg.Name, id, err)
		}
	}
}

// SetupOptions says what SetupMotor gives a motor.
type SetupOptions struct {
	ID          byte          // the ID to give it
	Baud        int           // the baud rate to give it (default 1 Mbps)
	Model       uint16        // its expected model number (0: any)
	ReturnDelay time.Duration // the Return Delay Time to give it (default 0)
	// FactoryID and FactoryBaud are where a new motor answers (default
	// ID 1 at 57 600 baud, the X-series factory settings).
	FactoryID   byte
	FactoryBaud int
	// Window bounds each broadcast PING used to find a motor that is
	// neither new nor set up (default: see ScanOptions.Window).
	Window time.Duration
}

// SetupResult is what SetupMotor found and did.
type SetupResult struct {
	Found   Device // where the motor answered first
	Device  Device // the motor as it now is
	Changed bool   // false if it was already set up
}

// SetupMotor sets up the only motor on the bus, one at a time, as Pollen's
// setup_motor.py does for Reachy Mini: it finds the motor (at its factory
// ID and baud, at its target ID and baud, or by broadcast PING at every
// rate, refusing if several answer), checks its model, turns torque off and
// writes Return Delay Time, ID and Baud Rate, then checks that it answers
// at the new ID and rate. The port is left at opt.Baud, so the next motor
// of a chain can be checked at once. The port must be a BaudSetter unless
// every rate involved is the port's own.
func (b *Bus) SetupMotor(ctx context.Context, opt SetupOptions) (SetupResult, error) {
	if opt.Baud == 0 {
		opt.Baud = 1000000
	}
	if opt.FactoryID == 0 {
		opt.FactoryID = 1
	}
	if opt.FactoryBaud == 0 {
		opt.FactoryBaud = 57600
	}
	code, ok := BaudCode(opt.Baud)
	if !ok {
		return SetupResult{}, fmt.Errorf("dynamixel: %d baud is not an X-series rate (%v)", opt.Baud, BaudRates())
	}
	if opt.ID > MaxID {
		return SetupResult{}, fmt.Errorf("dynamixel: id %d is above %d", opt.ID, MaxID)
	}
	var res SetupResult
	err := b.call(ctx, func() error {
		found, err := b.findLone(ctx, opt)
		if err != nil {
			return err
		}
		res.Found = found
		if opt.Model != 0 && found.Model != opt.Model {
			return fmt.Errorf("dynamixel: bus %s: the motor found (id %d at %d baud) is %s (model %d), expected %s (model %d): %w",
				b.cfg.Name, found.ID, found.Baud, found.ModelName, found.Model, ModelName(opt.Model), opt.Model, ErrWrongModel)
		}
		if err := b.setPortBaud(found.Baud); err != nil {
			return err
		}
		rdt := uint32(opt.ReturnDelay / (2 * time.Microsecond))
		cur, err := b.readReg(ctx, found.ID, AddrReturnDelay, 1)
		if err != nil {
			return err
		}
		if cur == rdt && found.ID == opt.ID && found.Baud == opt.Baud {
			res.Device = found
			return nil
		}
		res.Changed = true
		if err := b.writeReg(ctx, found.ID, AddrTorqueEnable, 1, 0); err != nil {
			return err
		}
		if cur != rdt {
			if err := b.writeReg(ctx, found.ID, AddrReturnDelay, 1, rdt); err != nil {
				return err
			}
		}
		if err := b.setID(ctx, found.ID, opt.ID); err != nil {
			return err
		}
		if found.Baud != opt.Baud {
			var data = [1]byte{code}
			if _, err := b.request(ctx, AppendWrite(b.tx[:0], opt.ID, AddrBaudRate, data[:]), opt.ID, 0); err != nil {
				b.log.Debug("dynamixel: no status to the baud change; checking at the new rate", "err", err)
			}
			if err := b.setPortBaud(opt.Baud); err != nil {
				return err
			}
		}
		d, err := b.ping(ctx, opt.ID)
		if err != nil {
			return fmt.Errorf("dynamixel: bus %s: the motor does not answer as id %d at %d baud after set-up: %w", b.cfg.Name, opt.ID, opt.Baud, err)
		}
		res.Device = d
		return nil
	})
	return res, err
}

// findLone finds the one motor connected, with the port held.
func (b *Bus) findLone(ctx context.Context, opt SetupOptions) (Device, error) {
	// Fast paths: a new motor, or one already set up.
	for _, at := range []struct {
		id   byte
		baud int
	}{{opt.FactoryID, opt.FactoryBaud}, {opt.ID, opt.Baud}} {
		if err := b.setPortBaud(at.baud); err != nil {
			return Device{}, err
		}
		d, err := b.ping(ctx, at.id)
		if err == nil {
			return d, nil
		}
		if errors.Is(err, ErrCorrupt) {
			return Device{}, fmt.Errorf("dynamixel: bus %s: garbled replies from id %d at %d baud: several motors share that ID? connect only the motor to set up: %w",
				b.cfg.Name, at.id, at.baud, err)
		}
		if errors.Is(err, ErrPort) || ctx.Err() != nil {
			return Device{}, err
		}
	}
	// Anywhere else: broadcast PING at every rate.
	var all []Device
	for _, baud := range BaudRates() {
		if err := b.setPortBaud(baud); err != nil {
			return Device{}, err
		}
		devs, err := b.scanHere(ctx, ScanOptions{Window: opt.Window})
		if err != nil {
			return Device{}, err
		}
		all = append(all, devs...)
	}
	switch len(all) {
	case 0:
		return Device{}, fmt.Errorf("dynamixel: bus %s: no motor answered at any baud rate: check power and cabling: %w", b.cfg.Name, ErrMissingMotors)
	case 1:
		return all[0], nil
	}
	var s []string
	for _, d := range all {
		s = append(s, fmt.Sprintf("id %d at %d baud", d.ID, d.Baud))
	}
	return Device{}, fmt.Errorf("dynamixel: bus %s: %d motors answered (%s): connect only the motor to set up", b.cfg.Name, len(all), strings.Join(s, ", "))
}

// ConfigFromDescription builds the BusConfig of the bus called bus in d:
// its baud rate and read mode, and for each of its joints the index, ID,
// motor, direction and offset; cal (optional) adds the LeRobot calibration
// of joints it names. The timing fields are left at their defaults; set
// Budget from the loop period.
func ConfigFromDescription(d *robot.Description, bus string, cal robot.Calibration) (BusConfig, error) {
	bs := d.Bus(bus)
	if bs == nil {
		return BusConfig{}, fmt.Errorf("dynamixel: robot %s has no bus %q", d.Name, bus)
	}
	if bs.Protocol != "dynamixel2" {
		return BusConfig{}, fmt.Errorf("dynamixel: bus %s speaks %s, not dynamixel2", bus, bs.Protocol)
	}
	mode, err := ParseReadMode(bs.Read)
	if err != nil {
		return BusConfig{}, fmt.Errorf("dynamixel: bus %s: %w", bus, err)
	}
	cfg := BusConfig{Name: bs.Name, Baud: bs.Baud, Read: mode, RebootOnHardwareError: true}
	for _, ji := range d.BusJoints(bus) {
		j := d.Joints[ji]
		m, ok := robot.Motors[j.Model]
		if !ok {
			return BusConfig{}, fmt.Errorf("dynamixel: joint %s: unknown motor model %q", j.Name, j.Model)
		}
		jc := JointConfig{Index: ji, Name: j.Name, ID: byte(j.ID), Motor: m, Direction: j.Direction, Offset: j.Offset}
		if c, ok := cal[j.Name]; ok {
			if c.ID != j.ID {
				return BusConfig{}, fmt.Errorf("dynamixel: joint %s: calibration is for id %d, the description says %d", j.Name, c.ID, j.ID)
			}
			jc.Calibration = &c
		}
		cfg.Joints = append(cfg.Joints, jc)
	}
	if len(cfg.Joints) > robot.MaxJoints {
		return BusConfig{}, fmt.Errorf("dynamixel: bus %s has %d joints, more than %d", bus, len(cfg.Joints), robot.MaxJoints)
	}
	return cfg, nil
}
