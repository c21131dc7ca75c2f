package sts3215

import (
	"math"
	"time"

	"github.com/anther-robotics/anther/drivers/feetech"
)

// Motor holds the electrical, mechanical and thermal constants of the
// drive, at the output shaft. DefaultMotor gives the STS3215's; the
// simulator takes the torque and speed from its robot description.
type Motor struct {
	NominalVoltage    float64 // V, at which StallTorque and NoLoadSpeed hold
	SupplyVoltage     float64 // V applied at power-up
	StallTorque       float64 // N·m
	StallCurrent      float64 // A
	NoLoadSpeed       float64 // rad/s
	Ambient           float64 // °C
	ThermalResistance float64 // °C per W of winding loss at equilibrium
	ThermalTime       float64 // s, thermal time constant
}

// DefaultMotor returns the constants of an STS3215 at 7.4 V: 1.9 N·m
// (19.5 kg·cm) stall torque, 2.7 A stall current, 45 rpm no-load speed.
func DefaultMotor() Motor {
	return Motor{NominalVoltage: 7.4, SupplyVoltage: 7.4, StallTorque: 1.9, StallCurrent: 2.7,
		NoLoadSpeed: 45 * 2 * math.Pi / 60, Ambient: 25, ThermalResistance: 20, ThermalTime: 60}
}

// Device is one STS3215's firmware: its control table and its drive.
// Create it with NewDevice; a bus feeds it packets with Handle and the
// physics asks it for torque with Control. Not safe for concurrent use.
type Device struct {
	motor    Motor
	mem      [tableSize]byte // the live control table
	rom      [EEPROMEnd]byte // the EEPROM as saved
	writable [tableSize]bool // bytes a WRITE may change
	reg      [tableSize]byte // REG_WRITE data, applied by ACTION
	regLen   int             // 0: nothing registered
	regAt    byte            // REG_WRITE address
	now      time.Duration   // device clock
	offUntil time.Duration   // deaf until then (booting)
	scratch  [tableSize]byte // READ replies

	// BootTime is how long the device stays deaf after a power cycle or a
	// RESET. Zero (the default) answers at once.
	BootTime time.Duration

	// Drive state.
	sensed   bool    // Sense or Control has reported the shaft since power-up
	encoder  float64 // encoder reading, ticks, continuous (2048 at shaft angle 0)
	velocity float64 // shaft velocity, rad/s
	desPos   float64 // profile: desired position, ticks (Present frame)
	desVel   float64 // profile: desired velocity, ticks/s
	integ    float64 // position error integral, tick·100 ms
	duty     float64 // last duty, −1…1
	current  float64 // A
	torque   float64 // N·m
	temp     float64 // winding temperature, °C
	volts    float64 // supply, V

	overloadT  float64             // s of duty at the overload threshold
	overcurT   float64             // s of current over the protection current
	latched    feetech.StatusError // overload / over-current, until torque on
	injected   feetech.StatusError // injected faults, until a power cycle
	conditions feetech.StatusError // active fault conditions
}

// NewDevice returns a device with the motor constants m, freshly powered
// with its factory settings except the ID, which is set (and saved) to id.
// The shaft is at encoder position 2048 until Sense or Control reports it.
func NewDevice(m Motor, id byte) *Device {
	d := &Device{motor: m, temp: m.Ambient, volts: m.SupplyVoltage, encoder: 2048}
	for _, f := range fieldTable() {
		if f.Access != RW {
			continue
		}
		for k := byte(0); k < f.Reg.Size(); k++ {
			d.writable[f.Reg.Addr()+k] = true
		}
	}
	d.factoryReset()
	d.mem[feetech.ID.Addr()] = id
	d.rom[feetech.ID.Addr()] = id
	d.powerUp(0)
	return d
}

// get returns the value of r from the live table.
func (d *Device) get(r feetech.Register) int { return r.Decode(d.mem[r.Addr():]) }

// set stores v in r (saturating as feetech.Register.Append does).
func (d *Device) set(r feetech.Register, v int) {
	var b [2]byte
	copy(d.mem[r.Addr():], r.Append(b[:0], v))
}

// factoryReset writes the factory values of the EEPROM area, live and
// saved.
func (d *Device) factoryReset() {
	for _, f := range fieldTable() {
		if f.Reg.Addr() < EEPROMEnd {
			d.set(f.Reg, f.Default)
		}
	}
	copy(d.rom[:], d.mem[:EEPROMEnd])
}

// powerUp loads the saved EEPROM and the RAM defaults, as at power-up:
// torque off, Lock 1, Goal_Position at the present position, every latched
// or injected fault cleared.
func (d *Device) powerUp(now time.Duration) {
	for a := range d.mem {
		d.mem[a] = 0
	}
	copy(d.mem[:EEPROMEnd], d.rom[:])
	for _, f := range fieldTable() {
		if f.Reg.Addr() >= EEPROMEnd && f.Access == RW {
			d.set(f.Reg, f.Default)
		}
	}
	d.set(feetech.TorqueLimit, d.get(feetech.MaxTorqueLimit))
	d.now = max(d.now, now)
	d.offUntil = d.now + d.BootTime
	d.regLen = 0
	d.duty, d.current, d.torque, d.integ, d.desVel = 0, 0, 0, 0, 0
	d.overloadT, d.overcurT = 0, 0
	d.latched, d.injected, d.conditions = 0, 0, 0
	d.updatePresent()
	d.desPos = float64(d.get(feetech.PresentPosition))
	d.set(feetech.GoalPosition, d.get(feetech.PresentPosition))
}

// ID returns the device's ID (address 5).
func (d *Device) ID() byte { return d.mem[feetech.ID.Addr()] }

// Baud returns the bits per second the device listens at (Baud_Rate,
// address 6, read with the Feetech SDK's table), 0 for an unknown value.
func (d *Device) Baud() int {
	r, _ := feetech.BaudTableSDK.Rate(d.mem[feetech.BaudRate.Addr()])
	return r
}

// ReturnDelay returns how long the device waits before a status packet
// (Return_Delay_Time, address 7, 2 µs units).
func (d *Device) ReturnDelay() time.Duration {
	return time.Duration(d.mem[feetech.ReturnDelay.Addr()]) * 2 * time.Microsecond
}

// TorqueEnabled reports Torque_Enable (address 40).
func (d *Device) TorqueEnabled() bool { return d.mem[feetech.TorqueEnable.Addr()] != 0 }

// Locked reports Lock (address 55): EEPROM writes are not saved.
func (d *Device) Locked() bool { return d.mem[feetech.Lock.Addr()] != 0 }

// Temperature returns the modelled winding temperature, °C.
func (d *Device) Temperature() float64 { return d.temp }

// Duty returns the duty the loops chose at the last Control call, −1…1.
func (d *Device) Duty() float64 { return d.duty }

// Conditions returns the active fault conditions, the bits of every status
// packet's error byte.
func (d *Device) Conditions() feetech.StatusError { return d.conditions }

// Listening reports whether the device hears the bus at time now (it is
// not booting).
func (d *Device) Listening(now time.Duration) bool { return now >= d.offUntil }

// Register returns the live value of r, decoded (sign-magnitude where r
// has a sign bit).
func (d *Device) Register(r feetech.Register) int { return d.get(r) }

// Saved returns the value of the EEPROM item r as saved (what a power
// cycle brings back), and false if r is not in the EEPROM area.
func (d *Device) Saved(r feetech.Register) (int, bool) {
	if r.Addr()+r.Size() > EEPROMEnd {
		return 0, false
	}
	return r.Decode(d.rom[r.Addr():]), true
}

// Peek copies table bytes from addr into dst without the rules of READ and
// returns how many it copied. For tests and tools.
func (d *Device) Peek(addr byte, dst []byte) int {
	if int(addr) >= tableSize {
		return 0
	}
	return copy(dst, d.mem[addr:])
}

// PowerCycle restarts the device as a supply dropout does: the saved
// EEPROM comes back, RAM returns to its defaults (torque off), latched and
// injected faults clear. The motor's temperature is kept.
func (d *Device) PowerCycle(now time.Duration) { d.powerUp(now) }

// InjectFault raises fault conditions (e.g. feetech.StatusAngle for a
// failed angle sensor) until the next power cycle; those armed in
// Unloading_Condition turn torque off.
func (d *Device) InjectFault(bits feetech.StatusError) {
	d.injected |= bits
	d.protect(0)
}

// SetTemperature forces the winding temperature (°C); it then evolves with
// the thermal model.
func (d *Device) SetTemperature(c float64) { d.temp = c; d.protect(0); d.updatePresent() }

// SetSupplyVoltage sets the supply voltage (V) the drive sees.
func (d *Device) SetSupplyVoltage(v float64) { d.volts = v; d.protect(0); d.updatePresent() }
