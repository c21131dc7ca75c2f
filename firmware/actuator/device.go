package actuator

import (
	"time"

	"github.com/anther-robotics/anther/drivers/dynamixel"
)

// tableSize is the size of a Device's control-table memory; every model's
// TableEnd fits in it.
const tableSize = 256

// Error numbers, as named in package dynamixel, kept as plain bytes here.
const (
	errNone        = 0
	errResultFail  = byte(dynamixel.ErrNumResultFail)
	errInstruction = byte(dynamixel.ErrNumInstruction)
	errCRC         = byte(dynamixel.ErrNumCRC)
	errDataRange   = byte(dynamixel.ErrNumDataRange)
	errDataLength  = byte(dynamixel.ErrNumDataLength)
	errDataLimit   = byte(dynamixel.ErrNumDataLimit)
	errAccess      = byte(dynamixel.ErrNumAccess)
	alertBit       = 0x80
)

// Device is one servo's firmware: its control table and its control loops.
// Create it with NewDevice; a bus feeds it packets with Handle and the
// physics asks it for torque with Control. Not safe for concurrent use.
type Device struct {
	model Model
	index [tableSize]uint8 // index[a] = 1 + index in model.Fields of the item holding byte a; 0 = reserved
	mem   [tableSize]byte  // the control table

	// Indirect Data bytes live at [indData, indData+indN).
	indData, indN uint16

	now      time.Duration // device clock: the latest Handle time or Control advance
	lastRx   time.Duration // when the last instruction addressed to this device arrived
	bootAt   time.Duration // when the device last booted
	offUntil time.Duration // deaf until then (booting)

	// BootTime is how long the device stays deaf after REBOOT, FACTORY
	// RESET or a power cycle. Zero (the default) answers at once; real
	// X-series servos take a few hundred milliseconds.
	BootTime time.Duration

	// Registered REG WRITE, run by ACTION.
	reg    [tableSize]byte
	regLen int
	regAt  uint16

	// CONTROL TABLE BACKUP area (X330): the EEPROM and the gains.
	backup      [tableSize]byte
	backupReady bool

	// Drive state.
	sensed    bool    // Control has been called since boot
	turnBase  float64 // pulses added to the encoder reading so the boot position is within one turn
	encoder   float64 // encoder reading, pulses, continuous
	present   int32   // Present Position, pulses
	velocity  float64 // shaft velocity in the drive's direction, rad/s
	desPos    float64 // profile: desired position, pulses
	desVel    float64 // profile: desired velocity, pulses/s
	profV     float64 // profile: velocity bound, pulses/s (0 = none)
	profA     float64 // profile: acceleration bound, pulses/s² (0 = none)
	integPos  float64 // position error integral, pulse·ms
	integVel  float64 // velocity error integral, unit·ms
	duty      float64 // last duty cycle, -1..1
	current   float64 // A
	torque    float64 // N·m in the drive's direction
	temp      float64 // winding temperature, °C
	volts     float64 // supply voltage, V
	overload  float64 // s of saturated drive near stall
	watchdogT time.Duration
}

// NewDevice returns a device of the given model, freshly booted with its
// factory settings except the ID, which is set to id. The motor is at rest
// at encoder position 2048 until the first Control call reports the shaft.
func NewDevice(m Model, id byte) *Device {
	d := &Device{model: m, temp: m.Ambient, volts: m.SupplyVoltage}
	for i, f := range m.Fields {
		for k := range uint16(f.Size) {
			if a := f.Addr + k; a < tableSize {
				d.index[a] = uint8(i + 1)
			}
		}
	}
	d.indData, d.indN = indirectRange(m)
	d.encoder = 2048
	d.factoryReset(0xFF)
	d.setU(AddrID, uint32(id))
	d.boot(0)
	return d
}

// indirectRange finds the Indirect Data bytes of m: the run of 1-byte items
// right after the last Indirect Address item.
func indirectRange(m Model) (start, n uint16) {
	var addrs uint16
	for _, f := range m.Fields {
		if f.Addr >= AddrIndirectAddress1 && f.Size == 2 && f.Access == RW && f.Addr < AddrIndirectAddress1+2*64 {
			if k := (f.Addr-AddrIndirectAddress1)/2 + 1; k > addrs {
				addrs = k
			}
		}
	}
	if addrs == 0 {
		return 0, 0
	}
	// Indirect Data follows the addresses' range: 168 + 2n rounded up to
	// the model's data start, which is where Indirect Address 1 points.
	for _, f := range m.Fields {
		if f.Addr == AddrIndirectAddress1 {
			return uint16(f.Default), addrs
		}
	}
	return 0, 0
}

// Model returns the device's model.
func (d *Device) Model() Model { return d.model }

// ID returns the device's current ID (address 7).
func (d *Device) ID() byte { return d.mem[AddrID] }

// Baud returns the bits per second the device listens at (address 8).
func (d *Device) Baud() int { return BaudRate(d.mem[AddrBaudRate]) }

// ReturnDelay returns how long the device waits after an instruction
// before its status packet (Return Delay Time, address 9, 2 µs units).
func (d *Device) ReturnDelay() time.Duration {
	return time.Duration(d.mem[AddrReturnDelayTime]) * 2 * time.Microsecond
}

// TorqueEnabled reports Torque Enable (address 64).
func (d *Device) TorqueEnabled() bool { return d.mem[AddrTorqueEnable] != 0 }

// HardwareError returns Hardware Error Status (address 70).
func (d *Device) HardwareError() byte { return d.mem[AddrHardwareErrorStatus] }

// Temperature returns the modelled winding temperature, °C.
func (d *Device) Temperature() float64 { return d.temp }

// Duty returns the H-bridge duty cycle the loops chose at the last Control
// call, -1..1 in the shaft's sign convention: what a board drives its PWM
// with.
func (d *Device) Duty() float64 { return d.direction() * d.duty }

// Current returns the modelled motor current, A.
func (d *Device) Current() float64 { return d.current }

// Listening reports whether the device can receive at time now: it is
// powered, not booting, and speaks Protocol 2.0.
func (d *Device) Listening(now time.Duration) bool {
	return now >= d.offUntil && d.mem[AddrProtocolType] == 2
}

// Peek copies control-table bytes starting at addr into dst, without the
// access rules of READ (reserved bytes read 0), and returns how many it
// copied. It is for tests and tools, not for the bus.
func (d *Device) Peek(addr uint16, dst []byte) int {
	if int(addr) >= tableSize {
		return 0
	}
	return copy(dst, d.mem[addr:])
}

// Register returns the value of the item at addr, sign-extended for signed
// items, and whether there is such an item.
func (d *Device) Register(addr uint16) (int32, bool) {
	if int(addr) >= tableSize || d.index[addr] == 0 || d.field(addr).Addr != addr {
		return 0, false
	}
	return d.get(d.field(addr)), true
}

// field returns the item holding byte a; a must be defined.
func (d *Device) field(a uint16) *Field { return &d.model.Fields[d.index[a]-1] }

// get returns the value of f from the table.
func (d *Device) get(f *Field) int32 { return getIn(&d.mem, f) }

func getIn(mem *[tableSize]byte, f *Field) int32 {
	b := mem[f.Addr : f.Addr+uint16(f.Size)]
	switch f.Size {
	case 1:
		if f.Signed {
			return int32(int8(b[0]))
		}
		return int32(b[0])
	case 2:
		if f.Signed {
			return int32(dynamixel.Int16(b))
		}
		return int32(dynamixel.Uint16(b))
	}
	return dynamixel.Int32(b)
}

// getU reads an item known to exist in every model, unsigned.
func (d *Device) getU(addr uint16) uint32 { return uint32(d.get(d.field(addr))) }

// getS reads an item known to exist in every model.
func (d *Device) getS(addr uint16) int32 { return d.get(d.field(addr)) }

// has reports whether the model has an item at addr.
func (d *Device) has(addr uint16) bool {
	return int(addr) < tableSize && d.index[addr] != 0 && d.field(addr).Addr == addr
}

// setU stores v in the item at addr (any access), if the model has it.
func (d *Device) setU(addr uint16, v uint32) {
	if !d.has(addr) {
		return
	}
	f := d.field(addr)
	b := d.mem[f.Addr : f.Addr+uint16(f.Size)]
	switch f.Size {
	case 1:
		b[0] = byte(v)
	case 2:
		dynamixel.PutUint16(b, uint16(v))
	default:
		dynamixel.PutUint32(b, v)
	}
}

// setS stores a signed value, saturating it to the item's size.
func (d *Device) setS(addr uint16, v int64) {
	if !d.has(addr) {
		return
	}
	switch d.field(addr).Size {
	case 1:
		v = max(-128, min(127, v))
	case 2:
		v = max(-32768, min(32767, v))
	default:
		v = max(-2147483648, min(2147483647, v))
	}
	d.setU(addr, uint32(v))
}

// factoryReset writes the defaults of the EEPROM area (option 0xFF: all;
// 0x01: keep the ID; 0x02: keep the ID and the baud rate).
func (d *Device) factoryReset(option byte) {
	id, baud := d.mem[AddrID], d.mem[AddrBaudRate]
	for i := range d.model.Fields {
		f := &d.model.Fields[i]
		if f.Addr < EEPROMEnd {
			d.setU(f.Addr, uint32(f.Default))
		}
	}
	d.mem[AddrFirmwareVersion] = d.model.Firmware
	if option == 0x01 || option == 0x02 {
		d.mem[AddrID] = id
	}
	if option == 0x02 {
		d.mem[AddrBaudRate] = baud
	}
}

// boot resets the RAM area as at power-up: defaults, torque off, no
// hardware error, Present Position within one turn, Goal Position at it.
func (d *Device) boot(now time.Duration) {
	for a := EEPROMEnd; a < tableSize; a++ {
		d.mem[a] = 0
	}
	for i := range d.model.Fields {
		f := &d.model.Fields[i]
		if f.Addr >= EEPROMEnd {
			d.setU(f.Addr, uint32(f.Default))
		}
	}
	d.now, d.bootAt, d.lastRx = now, now, now
	d.offUntil = now + d.BootTime
	d.regLen = 0
	d.integPos, d.integVel, d.desVel, d.overload = 0, 0, 0, 0
	d.duty, d.current, d.torque = 0, 0, 0
	// The absolute encoder knows the angle within one turn only.
	d.turnBase = 0
	raw := d.encoder
	d.turnBase = floorMod(raw, 4096) - raw
	d.updatePresent()
	d.desPos = float64(d.present)
	d.setS(AddrGoalPosition, int64(d.present))
	d.setS(AddrPositionTrajectory, int64(d.present))
	// Goal PWM and Goal Current start at their limits, so they bound
	// nothing until the host lowers them.
	d.setU(AddrGoalPWM, d.getU(AddrPWMLimit))
	if d.has(AddrCurrentLimit) {
		d.setU(AddrGoalCurrent, d.getU(AddrCurrentLimit))
	}
	if d.backupReady {
		d.mem[AddrBackupReady] = 1
	}
	sc := d.mem[AddrStartupConfiguration]
	if !d.has(AddrStartupConfiguration) {
		sc = 0
	}
	if sc&2 != 0 && d.backupReady {
		d.restore()
	}
	if sc&1 != 0 {
		d.mem[AddrTorqueEnable] = 1
	}
	d.detect(0)
}

// Reboot restarts the device as REBOOT does: the RAM area returns to its
// defaults (torque off, hardware error cleared), the EEPROM area is kept.
func (d *Device) Reboot(now time.Duration) { d.boot(now) }

// PowerCycle is Reboot after the supply was cut: the same for the control
// table; the motor's temperature is kept (it cools with Control calls).
func (d *Device) PowerCycle(now time.Duration) { d.boot(now) }

// InjectHardwareError raises the given hardware error conditions (Error*
// bits) as if the device had detected them: they are latched in Hardware
// Error Status, and those armed in Shutdown turn torque off, until REBOOT.
func (d *Device) InjectHardwareError(bits byte) {
	d.mem[AddrHardwareErrorStatus] |= bits
	if bits&d.mem[AddrShutdown] != 0 {
		d.shutdown()
	}
}

// SetTemperature forces the winding temperature (°C); it then evolves with
// the thermal model.
func (d *Device) SetTemperature(c float64) { d.temp = c; d.updatePresent() }

// SetSupplyVoltage sets the supply voltage (V) seen by the drive and Present
// Input Voltage.
func (d *Device) SetSupplyVoltage(v float64) { d.volts = v; d.updatePresent() }

// shutdown turns torque off because of a latched hardware error.
func (d *Device) shutdown() {
	d.mem[AddrTorqueEnable] = 0
	d.duty, d.current, d.torque = 0, 0, 0
}

// floorMod returns x mod m in [0, m).
func floorMod(x, m float64) float64 {
	r := x - m*float64(int64(x/m))
	if r < 0 {
		r += m
	}
	return r
}
