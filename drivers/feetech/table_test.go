package feetech

import (
	"bytes"
	"testing"
)

// TestControlTable pins every register to spec/hardware.md §4.2.
func TestControlTable(t *testing.T) {
	tests := []struct {
		r          Register
		addr, size byte
		signBit    int // -1: unsigned
		name       string
	}{
		{FirmwareMajor, 0, 1, -1, "Firmware_Major_Version"},
		{FirmwareMinor, 1, 1, -1, "Firmware_Minor_Version"},
		{ModelNumber, 3, 2, -1, "Model_Number"},
		{ID, 5, 1, -1, "ID"},
		{BaudRate, 6, 1, -1, "Baud_Rate"},
		{ReturnDelay, 7, 1, -1, "Return_Delay_Time"},
		{ResponseStatusLevel, 8, 1, -1, "Response_Status_Level"},
		{MinPositionLimit, 9, 2, -1, "Min_Position_Limit"},
		{MaxPositionLimit, 11, 2, -1, "Max_Position_Limit"},
		{MaxTemperatureLimit, 13, 1, -1, "Max_Temperature_Limit"},
		{MaxVoltageLimit, 14, 1, -1, "Max_Voltage_Limit"},
		{MinVoltageLimit, 15, 1, -1, "Min_Voltage_Limit"},
		{MaxTorqueLimit, 16, 2, -1, "Max_Torque_Limit"},
		{Phase, 18, 1, -1, "Phase"},
		{UnloadingCondition, 19, 1, -1, "Unloading_Condition"},
		{LEDAlarmCondition, 20, 1, -1, "LED_Alarm_Condition"},
		{PCoefficient, 21, 1, -1, "P_Coefficient"},
		{DCoefficient, 22, 1, -1, "D_Coefficient"},
		{ICoefficient, 23, 1, -1, "I_Coefficient"},
		{MinimumStartupForce, 24, 2, -1, "Minimum_Startup_Force"},
		{CWDeadZone, 26, 1, -1, "CW_Dead_Zone"},
		{CCWDeadZone, 27, 1, -1, "CCW_Dead_Zone"},
		{ProtectionCurrent, 28, 2, -1, "Protection_Current"},
		{AngularResolution, 30, 1, -1, "Angular_Resolution"},
		{HomingOffset, 31, 2, 11, "Homing_Offset"},
		{OperatingMode, 33, 1, -1, "Operating_Mode"},
		{ProtectiveTorque, 34, 1, -1, "Protective_Torque"},
		{ProtectionTime, 35, 1, -1, "Protection_Time"},
		{OverloadTorque, 36, 1, -1, "Overload_Torque"},
		{VelocityLoopP, 37, 1, -1, "Velocity_closed_loop_P_proportional_coefficient"},
		{OverCurrentTime, 38, 1, -1, "Over_Current_Protection_Time"},
		{VelocityLoopI, 39, 1, -1, "Velocity_closed_loop_I_integral_coefficient"},
		{TorqueEnable, 40, 1, -1, "Torque_Enable"},
		{Acceleration, 41, 1, -1, "Acceleration"},
		{GoalPosition, 42, 2, 15, "Goal_Position"},
		{GoalTime, 44, 2, -1, "Goal_Time"},
		{GoalVelocity, 46, 2, 15, "Goal_Velocity"},
		{TorqueLimit, 48, 2, -1, "Torque_Limit"},
		{Lock, 55, 1, -1, "Lock"},
		{PresentPosition, 56, 2, 15, "Present_Position"},
		{PresentVelocity, 58, 2, 15, "Present_Velocity"},
		{PresentLoad, 60, 2, 10, "Present_Load"},
		{PresentVoltage, 62, 1, -1, "Present_Voltage"},
		{PresentTemperature, 63, 1, -1, "Present_Temperature"},
		{Status, 65, 1, -1, "Status"},
		{Moving, 66, 1, -1, "Moving"},
		{PresentCurrent, 69, 2, 15, "Present_Current"},
		{MaximumAcceleration, 85, 1, -1, "Maximum_Acceleration"},
	}
	seen := map[Register]bool{}
	for _, tt := range tests {
		if seen[tt.r] {
			t.Errorf("%v listed twice", tt.r)
		}
		seen[tt.r] = true
		bit, ok := tt.r.SignBit()
		if tt.r.Addr() != tt.addr || tt.r.Size() != tt.size || ok != (tt.signBit >= 0) || ok && int(bit) != tt.signBit {
			t.Errorf("%s: addr %d size %d sign %d,%v", tt.name, tt.r.Addr(), tt.r.Size(), bit, ok)
		}
		if got := tt.r.String(); got != tt.name {
			t.Errorf("String = %q, want %q", got, tt.name)
		}
	}
	if got := Register(200 | 2<<8).String(); got != "Register(0xC8/02)" {
		t.Errorf("unknown register: %q", got)
	}
	if ModelSTS3215 != 777 || ResolutionSTS3215 != 4096 {
		t.Error("model constants")
	}
}

func TestRegisterValues(t *testing.T) {
	tests := []struct {
		r    Register
		v    int
		want []byte
		back int // value decoded from want
	}{
		{PresentPosition, 2048, []byte{0x00, 0x08}, 2048},
		{GoalVelocity, -1000, []byte{0xE8, 0x83}, -1000},
		{HomingOffset, -1024, []byte{0x00, 0x0C}, -1024},
		{HomingOffset, 3000, []byte{0xFF, 0x07}, 2047}, // saturates at 2047
		{PresentLoad, -300, []byte{0x2C, 0x05}, -300},
		{GoalTime, 65535, []byte{0xFF, 0xFF}, 65535},
		{GoalTime, -1, []byte{0x00, 0x00}, 0},
		{TorqueEnable, 1, []byte{0x01}, 1},
		{ID, 300, []byte{0xFF}, 255},
		{ID, -3, []byte{0x00}, 0},
		{ModelNumber, int(ModelSTS3215), []byte{0x09, 0x03}, 777},
	}
	for _, tt := range tests {
		got := tt.r.Append([]byte{0xAA}, tt.v)
		if !bytes.Equal(got, append([]byte{0xAA}, tt.want...)) {
			t.Errorf("%v.Append(%d) = % X, want % X", tt.r, tt.v, got[1:], tt.want)
		}
		if back := tt.r.Decode(tt.want); back != tt.back {
			t.Errorf("%v.Decode(% X) = %d, want %d", tt.r, tt.want, back, tt.back)
		}
	}
}

func TestBaudTable(t *testing.T) {
	sdk := []int{1000000, 500000, 250000, 128000, 115200, 76800, 57600, 38400}
	lerobot := []int{1000000, 500000, 250000, 128000, 115200, 57600, 38400, 19200}
	for table, rates := range map[BaudTable][]int{BaudTableSDK: sdk, BaudTableLeRobot: lerobot} {
		for v, rate := range rates {
			if got, ok := table.Rate(byte(v)); !ok || got != rate {
				t.Errorf("%v.Rate(%d) = %d, %v; want %d", table, v, got, ok, rate)
			}
			if got, ok := table.Value(rate); !ok || got != byte(v) {
				t.Errorf("%v.Value(%d) = %d, %v; want %d", table, rate, got, ok, v)
			}
		}
		if _, ok := table.Rate(8); ok {
			t.Errorf("%v.Rate(8) ok", table)
		}
		if _, ok := table.Value(9600); ok {
			t.Errorf("%v.Value(9600) ok", table)
		}
	}
	if _, ok := BaudTableSDK.Value(19200); ok {
		t.Error("SDK table has no 19200")
	}
	if _, ok := BaudTableLeRobot.Value(76800); ok {
		t.Error("LeRobot table has no 76800")
	}
	var zero BaudTable
	if zero != BaudTableSDK || zero.String() != "sdk" || BaudTableLeRobot.String() != "lerobot" {
		t.Error("BaudTable zero value / String")
	}
	if _, ok := BaudTable(7).Rate(5); ok || BaudTable(7).String() != "BaudTable(0x07)" {
		t.Error("unknown table")
	}
}
