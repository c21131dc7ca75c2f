package actuator

// Control-table addresses of the X-series (hardware.md §3.8). Items that a
// model lacks are simply absent from its Model.Fields.
const (
	AddrModelNumber          = 0   // 2 R
	AddrModelInformation     = 2   // 4 R
	AddrFirmwareVersion      = 6   // 1 R
	AddrID                   = 7   // 1 RW
	AddrBaudRate             = 8   // 1 RW (see BaudRate)
	AddrReturnDelayTime      = 9   // 1 RW, 2 µs units
	AddrDriveMode            = 10  // 1 RW: bit 0 reverse, bit 2 time-based profile
	AddrOperatingMode        = 11  // 1 RW (see the Mode constants)
	AddrSecondaryID          = 12  // 1 RW, 253..255 disable it
	AddrProtocolType         = 13  // 1 RW, 2 = Protocol 2.0
	AddrHomingOffset         = 20  // 4 RW, pulses
	AddrMovingThreshold      = 24  // 4 RW, 0.229 rpm
	AddrTemperatureLimit     = 31  // 1 RW, °C
	AddrMaxVoltageLimit      = 32  // 2 RW, 0.1 V
	AddrMinVoltageLimit      = 34  // 2 RW, 0.1 V
	AddrPWMLimit             = 36  // 2 RW, 885 = 100 %
	AddrCurrentLimit         = 38  // 2 RW, Model.CurrentUnit
	AddrAccelerationLimit    = 40  // 4 RW (XM430)
	AddrVelocityLimit        = 44  // 4 RW, 0.229 rpm
	AddrMaxPositionLimit     = 48  // 4 RW, pulses
	AddrMinPositionLimit     = 52  // 4 RW, pulses
	AddrStartupConfiguration = 60  // 1 RW (X330): bit 0 torque on, bit 1 RAM restore
	AddrPWMSlope             = 62  // 1 RW (X330)
	AddrShutdown             = 63  // 1 RW, HardwareError bits that shut down
	AddrTorqueEnable         = 64  // 1 RW; first RAM address
	AddrLED                  = 65  // 1 RW
	AddrStatusReturnLevel    = 68  // 1 RW: 0 ping only, 1 reads, 2 all
	AddrRegisteredInst       = 69  // 1 R
	AddrHardwareErrorStatus  = 70  // 1 R
	AddrVelocityIGain        = 76  // 2 RW
	AddrVelocityPGain        = 78  // 2 RW
	AddrPositionDGain        = 80  // 2 RW
	AddrPositionIGain        = 82  // 2 RW
	AddrPositionPGain        = 84  // 2 RW
	AddrFeedforward2ndGain   = 88  // 2 RW
	AddrFeedforward1stGain   = 90  // 2 RW
	AddrBusWatchdog          = 98  // 1 RW, 20 ms units; reads -1 after it fired
	AddrGoalPWM              = 100 // 2 RW signed
	AddrGoalCurrent          = 102 // 2 RW signed
	AddrGoalVelocity         = 104 // 4 RW signed
	AddrProfileAcceleration  = 108 // 4 RW, 214.577 rev/min² (ms when time-based)
	AddrProfileVelocity      = 112 // 4 RW, 0.229 rpm (ms when time-based)
	AddrGoalPosition         = 116 // 4 RW signed, pulses
	AddrRealtimeTick         = 120 // 2 R, ms
	AddrMoving               = 122 // 1 R
	AddrMovingStatus         = 123 // 1 R
	AddrPresentPWM           = 124 // 2 R signed
	AddrPresentCurrent       = 126 // 2 R signed (Present Load, 0.1 %, without current sensing)
	AddrPresentVelocity      = 128 // 4 R signed, 0.229 rpm
	AddrPresentPosition      = 132 // 4 R signed, pulses
	AddrVelocityTrajectory   = 136 // 4 R signed
	AddrPositionTrajectory   = 140 // 4 R signed
	AddrPresentInputVoltage  = 144 // 2 R, 0.1 V
	AddrPresentTemperature   = 146 // 1 R, °C
	AddrBackupReady          = 147 // 1 R (X330)
	AddrIndirectAddress1     = 168 // 2 RW each
)

// EEPROMEnd is the first RAM address: items below it are kept across REBOOT
// and power cycles and are written only while torque is off.
const EEPROMEnd = 64

// Operating modes (Operating Mode, address 11).
const (
	ModeCurrent              = 0
	ModeVelocity             = 1
	ModePosition             = 3
	ModeExtendedPosition     = 4
	ModeCurrentBasedPosition = 5
	ModePWM                  = 16
)

// Hardware error bits (Hardware Error Status 70 and Shutdown 63).
const (
	ErrorInputVoltage    = 1 << 0
	ErrorOverheating     = 1 << 2
	ErrorEncoder         = 1 << 3
	ErrorElectricalShock = 1 << 4
	ErrorOverload        = 1 << 5
)

// Model numbers of the models this package knows (Model Number, address 0).
const (
	NumberXL330M077 = 1190
	NumberXL330M288 = 1200
	NumberXC330M288 = 1240
	NumberXL430W250 = 1060
	NumberXM430W350 = 1020
)

// PWMFull is the Goal/Present PWM value of a 100 % duty cycle.
const PWMFull = 885

// Access says how the host may use a control-table item.
type Access uint8

// Access rights.
const (
	R  Access = 1 // read only
	RW Access = 3 // read and write
)

// Field is one control-table item.
type Field struct {
	Addr     uint16
	Size     uint8 // 1, 2 or 4 bytes, little-endian
	Access   Access
	Signed   bool  // two's complement
	Min, Max int32 // range accepted by a write (data range error outside)
	Default  int32 // value after factory reset (EEPROM) or boot (RAM)
}

// Model is what differs between servo models: the control table and its
// defaults, and the motor, electrical and thermal constants of the drive
// (see the package doc). A Model is a plain value; the constructors return
// a fresh copy each time, so callers may adjust the constants (the
// simulator takes the motor constants from its robot description).
type Model struct {
	Number   uint16 // Model Number register
	Name     string // maker's name, e.g. "XL330-M288-T"
	Firmware byte   // Firmware Version register
	Fields   []Field
	TableEnd uint16 // first address past the modelled table

	Modes       []byte  // Operating Mode values accepted
	MaxBaud     byte    // largest Baud Rate register value
	Backup      bool    // supports CONTROL TABLE BACKUP (X330)
	CurrentUnit float64 // amperes per Present Current unit; 0 = no current sensing (Present Load)

	NominalVoltage float64 // V, at which StallTorque and NoLoadSpeed hold
	StallTorque    float64 // N·m at the output shaft
	StallCurrent   float64 // A
	NoLoadSpeed    float64 // rad/s at the output shaft
	SupplyVoltage  float64 // V applied at boot (Present Input Voltage)

	Ambient           float64 // °C
	ThermalResistance float64 // °C per W of winding loss at equilibrium
	ThermalTime       float64 // s, thermal time constant
	OverloadTime      float64 // s of saturated drive near stall before overload
}

// rpm is one revolution per minute in rad/s.
const rpm = 2 * 3.141592653589793 / 60

// LookupModel returns the model with the given Model Number.
func LookupModel(number uint16) (Model, bool) {
	switch number {
	case NumberXL330M288:
		return XL330M288(), true
	case NumberXL330M077:
		return XL330M077(), true
	case NumberXC330M288:
		return XC330M288(), true
	case NumberXL430W250:
		return XL430W250(), true
	case NumberXM430W350:
		return XM430W350(), true
	}
	return Model{}, false
}

// Models returns the Model Numbers LookupModel knows.
func Models() []uint16 {
	return []uint16{NumberXL330M077, NumberXL330M288, NumberXC330M288, NumberXL430W250, NumberXM430W350}
}

// x330Params are the X330 defaults that differ between its three models.
type x330Params struct {
	number                 uint16
	name                   string
	currentLimit           int32
	velocityLimit          int32
	shutdown               int32
	velI, velP             int32
	posD, posI, posP       int32
	stallTorque, stallAmps float64
	noLoadRPM              float64
}

// XL330M288 is the XL330-M288-T (Reachy Mini's Stewart platform).
func XL330M288() Model {
	return x330(x330Params{number: NumberXL330M288, name: "XL330-M288-T", currentLimit: 1750, velocityLimit: 445,
		shutdown: 53, velI: 1600, velP: 180, posD: 0, posI: 0, posP: 400,
		stallTorque: 0.52, stallAmps: 1.47, noLoadRPM: 103})
}

// XL330M077 is the XL330-M077-T (Reachy Mini's antennas).
func XL330M077() Model {
	return x330(x330Params{number: NumberXL330M077, name: "XL330-M077-T", currentLimit: 1750, velocityLimit: 1620,
		shutdown: 53, velI: 400, velP: 40, posD: 0, posI: 400, posP: 400,
		stallTorque: 0.215, stallAmps: 1.47, noLoadRPM: 383})
}

// XC330M288 is the XC330-M288-T (Reachy Mini's body rotation).
func XC330M288() Model {
	return x330(x330Params{number: NumberXC330M288, name: "XC330-M288-T", currentLimit: 2352, velocityLimit: 350,
		shutdown: 52, velI: 1600, velP: 50, posD: 500, posI: 0, posP: 1100,
		stallTorque: 0.93, stallAmps: 1.8, noLoadRPM: 81})
}

func x330(p x330Params) Model {
	f := []Field{
		{Addr: AddrTemperatureLimit, Size: 1, Access: RW, Min: 0, Max: 100, Default: 70},
		{Addr: AddrMaxVoltageLimit, Size: 2, Access: RW, Min: 31, Max: 70, Default: 70},
		{Addr: AddrMinVoltageLimit, Size: 2, Access: RW, Min: 31, Max: 70, Default: 35},
		{Addr: AddrCurrentLimit, Size: 2, Access: RW, Min: 0, Max: p.currentLimit, Default: p.currentLimit},
		{Addr: AddrVelocityLimit, Size: 4, Access: RW, Min: 0, Max: 2047, Default: p.velocityLimit},
		{Addr: AddrStartupConfiguration, Size: 1, Access: RW, Min: 0, Max: 3, Default: 0},
		{Addr: AddrPWMSlope, Size: 1, Access: RW, Min: 1, Max: 255, Default: 140},
		{Addr: AddrShutdown, Size: 1, Access: RW, Min: 0, Max: 255, Default: p.shutdown},
		{Addr: AddrVelocityIGain, Size: 2, Access: RW, Min: 0, Max: 16383, Default: p.velI},
		{Addr: AddrVelocityPGain, Size: 2, Access: RW, Min: 0, Max: 16383, Default: p.velP},
		{Addr: AddrPositionDGain, Size: 2, Access: RW, Min: 0, Max: 16383, Default: p.posD},
		{Addr: AddrPositionIGain, Size: 2, Access: RW, Min: 0, Max: 16383, Default: p.posI},
		{Addr: AddrPositionPGain, Size: 2, Access: RW, Min: 0, Max: 16383, Default: p.posP},
		{Addr: AddrGoalCurrent, Size: 2, Access: RW, Signed: true, Min: -p.currentLimit, Max: p.currentLimit, Default: 0},
		{Addr: AddrBackupReady, Size: 1, Access: R},
	}
	f = append(f, commonFields(p.number, 6)...)
	f = append(f, indirectFields(20, 208)...)
	return Model{
		Number: p.number, Name: p.name, Firmware: 52, Fields: f, TableEnd: 208 + 20,
		Modes:   []byte{ModeCurrent, ModeVelocity, ModePosition, ModeExtendedPosition, ModeCurrentBasedPosition, ModePWM},
		MaxBaud: 6, Backup: true, CurrentUnit: 0.001,
		NominalVoltage: 5.0, StallTorque: p.stallTorque, StallCurrent: p.stallAmps, NoLoadSpeed: p.noLoadRPM * rpm,
		SupplyVoltage: 5.0, Ambient: 25, ThermalResistance: 25, ThermalTime: 120, OverloadTime: 2,
	}
}

// XL430W250 is the XL430-W250-T (no current sensing: address 126 is
// Present Load in 0.1 % and the current modes are absent).
func XL430W250() Model {
	f := []Field{
		{Addr: AddrTemperatureLimit, Size: 1, Access: RW, Min: 0, Max: 100, Default: 72},
		{Addr: AddrMaxVoltageLimit, Size: 2, Access: RW, Min: 60, Max: 140, Default: 140},
		{Addr: AddrMinVoltageLimit, Size: 2, Access: RW, Min: 60, Max: 140, Default: 60},
		{Addr: AddrVelocityLimit, Size: 4, Access: RW, Min: 0, Max: 1023, Default: 265},
		{Addr: AddrShutdown, Size: 1, Access: RW, Min: 0, Max: 255, Default: 52},
		{Addr: AddrVelocityIGain, Size: 2, Access: RW, Min: 0, Max: 16383, Default: 1000},
		{Addr: AddrVelocityPGain, Size: 2, Access: RW, Min: 0, Max: 16383, Default: 100},
		{Addr: AddrPositionDGain, Size: 2, Access: RW, Min: 0, Max: 16383, Default: 4000},
		{Addr: AddrPositionIGain, Size: 2, Access: RW, Min: 0, Max: 16383, Default: 0},
		{Addr: AddrPositionPGain, Size: 2, Access: RW, Min: 0, Max: 16383, Default: 640},
	}
	f = append(f, commonFields(NumberXL430W250, 7)...)
	f = append(f, indirectFields(28, 224)...)
	return Model{
		Number: NumberXL430W250, Name: "XL430-W250-T", Firmware: 46, Fields: f, TableEnd: 224 + 28,
		Modes: []byte{ModeVelocity, ModePosition, ModeExtendedPosition, ModePWM}, MaxBaud: 7,
		NominalVoltage: 11.1, StallTorque: 1.4, StallCurrent: 1.3, NoLoadSpeed: 57 * rpm,
		SupplyVoltage: 11.1, Ambient: 25, ThermalResistance: 8, ThermalTime: 240, OverloadTime: 2,
	}
}

// XM430W350 is the XM430-W350-T (current unit 2.69 mA).
func XM430W350() Model {
	f := []Field{
		{Addr: AddrTemperatureLimit, Size: 1, Access: RW, Min: 0, Max: 100, Default: 80},
		{Addr: AddrMaxVoltageLimit, Size: 2, Access: RW, Min: 95, Max: 160, Default: 160},
		{Addr: AddrMinVoltageLimit, Size: 2, Access: RW, Min: 95, Max: 160, Default: 95},
		{Addr: AddrCurrentLimit, Size: 2, Access: RW, Min: 0, Max: 1193, Default: 1193},
		{Addr: AddrAccelerationLimit, Size: 4, Access: RW, Min: 0, Max: 32767, Default: 32767},
		{Addr: AddrVelocityLimit, Size: 4, Access: RW, Min: 0, Max: 1023, Default: 350},
		{Addr: AddrShutdown, Size: 1, Access: RW, Min: 0, Max: 255, Default: 52},
		{Addr: AddrVelocityIGain, Size: 2, Access: RW, Min: 0, Max: 16383, Default: 1920},
		{Addr: AddrVelocityPGain, Size: 2, Access: RW, Min: 0, Max: 16383, Default: 100},
		{Addr: AddrPositionDGain, Size: 2, Access: RW, Min: 0, Max: 16383, Default: 0},
		{Addr: AddrPositionIGain, Size: 2, Access: RW, Min: 0, Max: 16383, Default: 0},
		{Addr: AddrPositionPGain, Size: 2, Access: RW, Min: 0, Max: 16383, Default: 800},
		{Addr: AddrGoalCurrent, Size: 2, Access: RW, Signed: true, Min: -1193, Max: 1193, Default: 0},
	}
	f = append(f, commonFields(NumberXM430W350, 7)...)
	f = append(f, indirectFields(28, 224)...)
	return Model{
		Number: NumberXM430W350, Name: "XM430-W350-T", Firmware: 46, Fields: f, TableEnd: 224 + 28,
		Modes:   []byte{ModeCurrent, ModeVelocity, ModePosition, ModeExtendedPosition, ModeCurrentBasedPosition, ModePWM},
		MaxBaud: 7, CurrentUnit: 0.00269,
		NominalVoltage: 12, StallTorque: 4.1, StallCurrent: 2.3, NoLoadSpeed: 46 * rpm,
		SupplyVoltage: 12, Ambient: 25, ThermalResistance: 6, ThermalTime: 300, OverloadTime: 2,
	}
}

// commonFields are the items every X-series model has, with the same
// layout and ranges.
func commonFields(number uint16, maxBaud int32) []Field {
	return []Field{
		{Addr: AddrModelNumber, Size: 2, Access: R, Default: int32(number)},
		{Addr: AddrModelInformation, Size: 4, Access: R},
		{Addr: AddrFirmwareVersion, Size: 1, Access: R},
		{Addr: AddrID, Size: 1, Access: RW, Min: 0, Max: 252, Default: 1},
		{Addr: AddrBaudRate, Size: 1, Access: RW, Min: 0, Max: maxBaud, Default: 1},
		{Addr: AddrReturnDelayTime, Size: 1, Access: RW, Min: 0, Max: 254, Default: 250},
		{Addr: AddrDriveMode, Size: 1, Access: RW, Min: 0, Max: 13, Default: 0},
		{Addr: AddrOperatingMode, Size: 1, Access: RW, Min: 0, Max: 16, Default: ModePosition},
		{Addr: AddrSecondaryID, Size: 1, Access: RW, Min: 0, Max: 255, Default: 255},
		{Addr: AddrProtocolType, Size: 1, Access: RW, Min: 1, Max: 2, Default: 2},
		{Addr: AddrHomingOffset, Size: 4, Access: RW, Signed: true, Min: -1044479, Max: 1044479},
		{Addr: AddrMovingThreshold, Size: 4, Access: RW, Min: 0, Max: 1023, Default: 10},
		{Addr: AddrPWMLimit, Size: 2, Access: RW, Min: 0, Max: PWMFull, Default: PWMFull},
		{Addr: AddrMaxPositionLimit, Size: 4, Access: RW, Min: 0, Max: 4095, Default: 4095},
		{Addr: AddrMinPositionLimit, Size: 4, Access: RW, Min: 0, Max: 4095, Default: 0},
		{Addr: AddrTorqueEnable, Size: 1, Access: RW, Min: 0, Max: 1},
		{Addr: AddrLED, Size: 1, Access: RW, Min: 0, Max: 1},
		{Addr: AddrStatusReturnLevel, Size: 1, Access: RW, Min: 0, Max: 2, Default: 2},
		{Addr: AddrRegisteredInst, Size: 1, Access: R},
		{Addr: AddrHardwareErrorStatus, Size: 1, Access: R},
		{Addr: AddrFeedforward2ndGain, Size: 2, Access: RW, Min: 0, Max: 16383},
		{Addr: AddrFeedforward1stGain, Size: 2, Access: RW, Min: 0, Max: 16383},
		{Addr: AddrBusWatchdog, Size: 1, Access: RW, Signed: true, Min: 0, Max: 127},
		{Addr: AddrGoalPWM, Size: 2, Access: RW, Signed: true, Min: -PWMFull, Max: PWMFull},
		{Addr: AddrGoalVelocity, Size: 4, Access: RW, Signed: true, Min: -2047, Max: 2047},
		{Addr: AddrProfileAcceleration, Size: 4, Access: RW, Min: 0, Max: 32767},
		{Addr: AddrProfileVelocity, Size: 4, Access: RW, Min: 0, Max: 32767},
		{Addr: AddrGoalPosition, Size: 4, Access: RW, Signed: true, Min: -1048575, Max: 1048575},
		{Addr: AddrRealtimeTick, Size: 2, Access: R},
		{Addr: AddrMoving, Size: 1, Access: R},
		{Addr: AddrMovingStatus, Size: 1, Access: R},
		{Addr: AddrPresentPWM, Size: 2, Access: R, Signed: true},
		{Addr: AddrPresentCurrent, Size: 2, Access: R, Signed: true},
		{Addr: AddrPresentVelocity, Size: 4, Access: R, Signed: true},
		{Addr: AddrPresentPosition, Size: 4, Access: R, Signed: true},
		{Addr: AddrVelocityTrajectory, Size: 4, Access: R, Signed: true},
		{Addr: AddrPositionTrajectory, Size: 4, Access: R, Signed: true},
		{Addr: AddrPresentInputVoltage, Size: 2, Access: R},
		{Addr: AddrPresentTemperature, Size: 1, Access: R},
	}
}

// indirectFields are n Indirect Address items at 168 (each defaulting to
// its own Indirect Data byte) and the n Indirect Data bytes at data.
func indirectFields(n int, data uint16) []Field {
	f := make([]Field, 0, 2*n)
	for k := range n {
		f = append(f, Field{Addr: AddrIndirectAddress1 + uint16(2*k), Size: 2, Access: RW,
			Min: EEPROMEnd, Max: int32(data) + int32(n) - 1, Default: int32(data) + int32(k)})
	}
	for k := range n {
		f = append(f, Field{Addr: data + uint16(k), Size: 1, Access: RW, Min: 0, Max: 255})
	}
	return f
}

// BaudRate returns the bits per second of a Baud Rate register value, or 0
// for an unknown value.
func BaudRate(v byte) int {
	switch v {
	case 0:
		return 9600
	case 1:
		return 57600
	case 2:
		return 115200
	case 3:
		return 1000000
	case 4:
		return 2000000
	case 5:
		return 3000000
	case 6:
		return 4000000
	case 7:
		return 4500000
	}
	return 0
}

// BaudValue returns the Baud Rate register value for bps, and whether there
// is one.
func BaudValue(bps int) (byte, bool) {
	for v := range byte(8) {
		if BaudRate(v) == bps {
			return v, true
		}
	}
	return 0, false
}
