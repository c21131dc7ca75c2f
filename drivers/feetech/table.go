package feetech

// Register is one field of the STS3215 control table: its address, its size
// in bytes and, for sign-magnitude fields, its sign bit, packed into one
// constant so that address and size cannot drift apart:
//
//	dst = feetech.AppendRead(dst, id, feetech.PresentPosition.Addr(), feetech.PresentPosition.Size())
//	pos := feetech.PresentPosition.Decode(p.Params)
//
// The table is that of LeRobot's STS_SMS_SERIES_CONTROL_TABLE, cross-checked
// with rustypot and the Feetech SDK (spec/hardware.md §4.2); other STS/SMS
// models share most of it. Addresses from TorqueEnable (40) up are RAM; those
// below are EEPROM and are written only with Lock cleared.
type Register uint32

// Layout of a Register: address in bits 0–7, size in bits 8–15, sign bit in
// bits 16–23, regSigned set for sign-magnitude fields.
const (
	regSize   = 1 << 8
	regSign   = 1 << 16
	regSigned = 1 << 24
)

// STS3215 control table. Sign bits follow the Feetech SDK: position and
// velocity fields use bit 15 (LeRobot's current table only lists
// HomingOffset and the velocities, which is equivalent for 0…4095 positions),
// Present_Load uses bit 10 and Present_Current bit 15.
const (
	FirmwareMajor       Register = 0 | 1*regSize
	FirmwareMinor       Register = 1 | 1*regSize
	ModelNumber         Register = 3 | 2*regSize // ModelSTS3215 etc.
	ID                  Register = 5 | 1*regSize
	BaudRate            Register = 6 | 1*regSize // see BaudTable
	ReturnDelay         Register = 7 | 1*regSize // units of 2 µs
	ResponseStatusLevel Register = 8 | 1*regSize
	MinPositionLimit    Register = 9 | 2*regSize
	MaxPositionLimit    Register = 11 | 2*regSize
	MaxTemperatureLimit Register = 13 | 1*regSize // °C
	MaxVoltageLimit     Register = 14 | 1*regSize // 0.1 V
	MinVoltageLimit     Register = 15 | 1*regSize // 0.1 V
	MaxTorqueLimit      Register = 16 | 2*regSize
	Phase               Register = 18 | 1*regSize
	UnloadingCondition  Register = 19 | 1*regSize
	LEDAlarmCondition   Register = 20 | 1*regSize
	PCoefficient        Register = 21 | 1*regSize
	DCoefficient        Register = 22 | 1*regSize
	ICoefficient        Register = 23 | 1*regSize
	MinimumStartupForce Register = 24 | 2*regSize
	CWDeadZone          Register = 26 | 1*regSize
	CCWDeadZone         Register = 27 | 1*regSize
	ProtectionCurrent   Register = 28 | 2*regSize
	AngularResolution   Register = 30 | 1*regSize
	HomingOffset        Register = 31 | 2*regSize | 11*regSign | regSigned // Present = Actual − HomingOffset
	OperatingMode       Register = 33 | 1*regSize                          // 0 position, 1 velocity (wheel); 2 PWM, 3 step per third-party docs (unverified)
	ProtectiveTorque    Register = 34 | 1*regSize
	ProtectionTime      Register = 35 | 1*regSize
	OverloadTorque      Register = 36 | 1*regSize
	VelocityLoopP       Register = 37 | 1*regSize
	OverCurrentTime     Register = 38 | 1*regSize
	VelocityLoopI       Register = 39 | 1*regSize
	TorqueEnable        Register = 40 | 1*regSize
	Acceleration        Register = 41 | 1*regSize
	GoalPosition        Register = 42 | 2*regSize | 15*regSign | regSigned
	GoalTime            Register = 44 | 2*regSize
	GoalVelocity        Register = 46 | 2*regSize | 15*regSign | regSigned
	TorqueLimit         Register = 48 | 2*regSize
	Lock                Register = 55 | 1*regSize
	PresentPosition     Register = 56 | 2*regSize | 15*regSign | regSigned
	PresentVelocity     Register = 58 | 2*regSize | 15*regSign | regSigned
	PresentLoad         Register = 60 | 2*regSize | 10*regSign | regSigned
	PresentVoltage      Register = 62 | 1*regSize // 0.1 V
	PresentTemperature  Register = 63 | 1*regSize // °C
	Status              Register = 65 | 1*regSize
	Moving              Register = 66 | 1*regSize
	PresentCurrent      Register = 69 | 2*regSize | 15*regSign | regSigned
	MaximumAcceleration Register = 85 | 1*regSize
)

// Model numbers, as read from ModelNumber.
const (
	ModelSTS3215  uint16 = 777
	ModelSTS3250  uint16 = 2825
	ModelSCS0009  uint16 = 1284
	ModelSM8512BL uint16 = 11272
)

// ResolutionSTS3215 is the number of encoder ticks per turn of an STS3215
// (positions run 0…4095). SCS0009 servos have 1024.
const ResolutionSTS3215 = 4096

// Addr returns the control-table address of r.
func (r Register) Addr() byte { return byte(r) }

// Size returns the size of r in bytes (1 or 2).
func (r Register) Size() byte { return byte(r >> 8) }

// SignBit returns the sign bit of a sign-magnitude register, and ok == false
// for unsigned registers.
func (r Register) SignBit() (bit uint, ok bool) {
	if r&regSigned == 0 {
		return 16, false
	}
	return uint(byte(r >> 16)), true
}

// Decode returns the value of r from the first r.Size() bytes of b
// (little-endian), applying sign-magnitude decoding where r has a sign bit.
// It panics if b is shorter than r.Size().
func (r Register) Decode(b []byte) int {
	if r.Size() == 1 {
		return int(b[0])
	}
	bit, _ := r.SignBit()
	return DecodeSignMagnitude(Uint16(b), bit)
}

// Append appends v encoded for r to dst: one byte, or two little-endian bytes
// with sign-magnitude encoding where r has a sign bit. Out-of-range values
// saturate (see EncodeSignMagnitude); one-byte registers clamp to 0…255.
func (r Register) Append(dst []byte, v int) []byte {
	if r.Size() == 1 {
		if v < 0 {
			v = 0
		} else if v > 0xFF {
			v = 0xFF
		}
		return append(dst, byte(v))
	}
	bit, _ := r.SignBit()
	return AppendUint16(dst, EncodeSignMagnitude(v, bit))
}

// String returns the LeRobot name of r ("Present_Position"), or its address
// and size for a value that is not in the table.
func (r Register) String() string {
	switch r {
	case FirmwareMajor:
		return "Firmware_Major_Version"
	case FirmwareMinor:
		return "Firmware_Minor_Version"
	case ModelNumber:
		return "Model_Number"
	case ID:
		return "ID"
	case BaudRate:
		return "Baud_Rate"
	case ReturnDelay:
		return "Return_Delay_Time"
	case ResponseStatusLevel:
		return "Response_Status_Level"
	case MinPositionLimit:
		return "Min_Position_Limit"
	case MaxPositionLimit:
		return "Max_Position_Limit"
	case MaxTemperatureLimit:
		return "Max_Temperature_Limit"
	case MaxVoltageLimit:
		return "Max_Voltage_Limit"
	case MinVoltageLimit:
		return "Min_Voltage_Limit"
	case MaxTorqueLimit:
		return "Max_Torque_Limit"
	case Phase:
		return "Phase"
	case UnloadingCondition:
		return "Unloading_Condition"
	case LEDAlarmCondition:
		return "LED_Alarm_Condition"
	case PCoefficient:
		return "P_Coefficient"
	case DCoefficient:
		return "D_Coefficient"
	case ICoefficient:
		return "I_Coefficient"
	case MinimumStartupForce:
		return "Minimum_Startup_Force"
	case CWDeadZone:
		return "CW_Dead_Zone"
	case CCWDeadZone:
		return "CCW_Dead_Zone"
	case ProtectionCurrent:
		return "Protection_Current"
	case AngularResolution:
		return "Angular_Resolution"
	case HomingOffset:
		return "Homing_Offset"
	case OperatingMode:
		return "Operating_Mode"
	case ProtectiveTorque:
		return "Protective_Torque"
	case ProtectionTime:
		return "Protection_Time"
	case OverloadTorque:
		return "Overload_Torque"
	case VelocityLoopP:
		return "Velocity_closed_loop_P_proportional_coefficient"
	case OverCurrentTime:
		return "Over_Current_Protection_Time"
	case VelocityLoopI:
		return "Velocity_closed_loop_I_integral_coefficient"
	case TorqueEnable:
		return "Torque_Enable"
	case Acceleration:
		return "Acceleration"
	case GoalPosition:
		return "Goal_Position"
	case GoalTime:
		return "Goal_Time"
	case GoalVelocity:
		return "Goal_Velocity"
	case TorqueLimit:
		return "Torque_Limit"
	case Lock:
		return "Lock"
	case PresentPosition:
		return "Present_Position"
	case PresentVelocity:
		return "Present_Velocity"
	case PresentLoad:
		return "Present_Load"
	case PresentVoltage:
		return "Present_Voltage"
	case PresentTemperature:
		return "Present_Temperature"
	case Status:
		return "Status"
	case Moving:
		return "Moving"
	case PresentCurrent:
		return "Present_Current"
	case MaximumAcceleration:
		return "Maximum_Acceleration"
	}
	return hexByte("Register(0x", r.Addr(), hexByte("/", r.Size(), ")"))
}

// BaudTable selects how values of the BaudRate register map to bit rates.
// Sources disagree for values 5–7 (spec/hardware.md §4.2):
//
//	value          0      1      2      3      4      5      6      7
//	BaudTableSDK   1M   500k   250k   128k 115200  76800  57600  38400
//	BaudTableLeRobot                 (same 0–4)    57600  38400  19200
//
// BaudTableSDK, the zero value, follows the official Feetech SDK and STS
// header files, which are what the firmware implements; BaudTableLeRobot
// reproduces LeRobot's tables.py, e.g. to read back what a LeRobot tool
// meant. SO-100/SO-101 arms run at 1 Mbps (value 0), where both agree.
type BaudTable byte

// Baud-rate tables; see BaudTable.
const (
	BaudTableSDK BaudTable = iota
	BaudTableLeRobot
)

// Rate returns the bit rate for BaudRate register value v, and false if v is
// not in table t.
func (t BaudTable) Rate(v byte) (int, bool) {
	switch v {
	case 0:
		return 1000000, true
	case 1:
		return 500000, true
	case 2:
		return 250000, true
	case 3:
		return 128000, true
	case 4:
		return 115200, true
	}
	if v > 7 {
		return 0, false
	}
	switch t {
	case BaudTableSDK:
		return [...]int{76800, 57600, 38400}[v-5], true
	case BaudTableLeRobot:
		return [...]int{57600, 38400, 19200}[v-5], true
	}
	return 0, false
}

// Value returns the BaudRate register value for bit rate rate, and false if
// table t has no such rate.
func (t BaudTable) Value(rate int) (byte, bool) {
	for v := byte(0); v <= 7; v++ {
		if r, ok := t.Rate(v); ok && r == rate {
			return v, true
		}
	}
	return 0, false
}

// String names the table: "sdk" or "lerobot".
func (t BaudTable) String() string {
	switch t {
	case BaudTableSDK:
		return "sdk"
	case BaudTableLeRobot:
		return "lerobot"
	}
	return hexByte("BaudTable(0x", byte(t), ")")
}
