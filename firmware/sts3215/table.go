package sts3215

import "github.com/anther-robotics/anther/drivers/feetech"

// Access says how the host may use a control-table item.
type Access uint8

// Access rights.
const (
	R  Access = 1 // read only
	RW Access = 3 // read and write
)

// Field is one item of the control table, with its factory value.
type Field struct {
	Reg     feetech.Register // address, size and sign bit
	Access  Access
	Default int // value after a factory reset (EEPROM) or a power-up (RAM)
}

const (
	// tableSize is the size of the table memory.
	tableSize = 128
	// tableEnd is the first address past the modelled items.
	tableEnd = 86
	// EEPROMEnd is the first RAM address (Torque_Enable): items below it
	// are kept across power cycles when written with Lock 0.
	EEPROMEnd = 40
)

// Factory values that other code refers to.
const (
	// ModelNumber is the STS3215's Model_Number.
	ModelNumber = 777
	// FirmwareMajor and FirmwareMinor are the version the model reports.
	FirmwareMajor = 3
	FirmwareMinor = 10
	// Resolution is the encoder's ticks per turn.
	Resolution = 4096
	// CurrentUnit is amperes per Present_Current unit.
	CurrentUnit = 0.0065
)

// fieldTable is the STS3215 control table (spec/hardware.md §4.2) with
// the factory values. Goal_Position's default is the present position at
// power-up. It is a function so that no package state can be changed.
func fieldTable() [48]Field {
	return [...]Field{
		{feetech.FirmwareMajor, R, FirmwareMajor},
		{feetech.FirmwareMinor, R, FirmwareMinor},
		{feetech.ModelNumber, R, ModelNumber},
		{feetech.ID, RW, 1},
		{feetech.BaudRate, RW, 0},
		{feetech.ReturnDelay, RW, 250},
		{feetech.ResponseStatusLevel, RW, 1},
		{feetech.MinPositionLimit, RW, 0},
		{feetech.MaxPositionLimit, RW, 4095},
		{feetech.MaxTemperatureLimit, RW, 70},
		{feetech.MaxVoltageLimit, RW, 140},
		{feetech.MinVoltageLimit, RW, 40},
		{feetech.MaxTorqueLimit, RW, 1000},
		{feetech.Phase, RW, 0x0C},
		{feetech.UnloadingCondition, RW, 44}, // overheat | over-current | overload
		{feetech.LEDAlarmCondition, RW, 47},
		{feetech.PCoefficient, RW, 32},
		{feetech.DCoefficient, RW, 32},
		{feetech.ICoefficient, RW, 0},
		{feetech.MinimumStartupForce, RW, 16},
		{feetech.CWDeadZone, RW, 1},
		{feetech.CCWDeadZone, RW, 1},
		{feetech.ProtectionCurrent, RW, 500},
		{feetech.AngularResolution, RW, 1},
		{feetech.HomingOffset, RW, 0},
		{feetech.OperatingMode, RW, 0},
		{feetech.ProtectiveTorque, RW, 20},
		{feetech.ProtectionTime, RW, 200},
		{feetech.OverloadTorque, RW, 80},
		{feetech.VelocityLoopP, RW, 10},
		{feetech.OverCurrentTime, RW, 200},
		{feetech.VelocityLoopI, RW, 200},
		{feetech.TorqueEnable, RW, 0},
		{feetech.Acceleration, RW, 0},
		{feetech.GoalPosition, RW, 0},
		{feetech.GoalTime, RW, 0},
		{feetech.GoalVelocity, RW, 0},
		{feetech.TorqueLimit, RW, 1000},
		{feetech.Lock, RW, 1},
		{feetech.PresentPosition, R, 0},
		{feetech.PresentVelocity, R, 0},
		{feetech.PresentLoad, R, 0},
		{feetech.PresentVoltage, R, 0},
		{feetech.PresentTemperature, R, 0},
		{feetech.Status, R, 0},
		{feetech.Moving, R, 0},
		{feetech.PresentCurrent, R, 0},
		{feetech.MaximumAcceleration, RW, 0},
	}
}

// Fields returns the control table with its factory values.
func Fields() []Field {
	t := fieldTable()
	return t[:]
}

// Operating modes (Operating_Mode, address 33).
const (
	ModePosition = 0 // servo to Goal_Position
	ModeWheel    = 1 // constant speed Goal_Velocity
	ModePWM      = 2 // open loop, duty from Goal_Time (±1000)
)

// TorqueCentre is the Torque_Enable value that, instead of switching the
// torque, sets Homing_Offset so the present position reads 2048 (the
// STS "middle position calibration").
const TorqueCentre = 128
