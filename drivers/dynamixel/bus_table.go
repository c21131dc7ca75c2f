package dynamixel

import "time"

// Control-table addresses of the X-series motors (XL330, XC330, XL430,
// XM430; hardware.md §3.8) that the bus uses.
const (
	AddrModelNumber     uint16 = 0   // 2 bytes, read-only
	AddrFirmwareVersion uint16 = 6   // 1 byte, read-only
	AddrID              uint16 = 7   // 1 byte, EEPROM
	AddrBaudRate        uint16 = 8   // 1 byte, EEPROM, see BaudCode
	AddrReturnDelay     uint16 = 9   // 1 byte, EEPROM, 2 µs units
	AddrDriveMode       uint16 = 10  // 1 byte, EEPROM; bit 0 reverses the direction
	AddrOperatingMode   uint16 = 11  // 1 byte, EEPROM
	AddrHomingOffset    uint16 = 20  // 4 bytes, EEPROM, signed ticks; Present = Actual + Homing Offset
	AddrMaxPosition     uint16 = 48  // 4 bytes, EEPROM
	AddrMinPosition     uint16 = 52  // 4 bytes, EEPROM
	AddrTorqueEnable    uint16 = 64  // 1 byte
	AddrHardwareError   uint16 = 70  // 1 byte, read-only, see HardwareError bits
	AddrGoalCurrent     uint16 = 102 // 2 bytes, signed
	AddrGoalPosition    uint16 = 116 // 4 bytes, signed
	AddrPresentCurrent  uint16 = 126 // 2 bytes, signed
	AddrPresentVelocity uint16 = 128 // 4 bytes, signed
	AddrPresentPosition uint16 = 132 // 4 bytes, signed
	AddrPresentVoltage  uint16 = 144 // 2 bytes, 0.1 V
	AddrPresentTemp     uint16 = 146 // 1 byte, °C
)

// The block the bus reads every tick: Present Current (2), Present Velocity
// (4) and Present Position (4), contiguous from address 126.
const (
	stateAddr = AddrPresentCurrent
	stateSize = 10
)

// Operating modes (address 11).
const (
	ModeCurrent          byte = 0
	ModeVelocity         byte = 1
	ModePosition         byte = 3 // the default; 0..4095 ticks within the position limits
	ModeExtendedPosition byte = 4
	ModeCurrentPosition  byte = 5 // position with a current (torque) limit from Goal Current
	ModePWM              byte = 16
)

// Hardware Error Status bits (address 70) and Shutdown (63).
const (
	HWErrVoltage     byte = 1 << 0 // input voltage out of range
	HWErrOverheat    byte = 1 << 2 // internal temperature above the limit
	HWErrEncoder     byte = 1 << 3 // motor encoder malfunction
	HWErrElectrical  byte = 1 << 4 // electrical shock or insufficient power
	HWErrOverload    byte = 1 << 5 // persistent load above the maximum
	hwErrKnownFields      = HWErrVoltage | HWErrOverheat | HWErrEncoder | HWErrElectrical | HWErrOverload
)

// baudCodes maps the Baud Rate register (address 8) to bits per second on
// X-series motors (4.5 Mbps only on XM/XH/XW, not X330).
var baudCodes = [...]int{9600, 57600, 115200, 1000000, 2000000, 3000000, 4000000, 4500000}

// BaudCode returns the Baud Rate register value for baud, and false if
// X-series motors cannot run at that rate.
func BaudCode(baud int) (byte, bool) {
	for i, b := range baudCodes {
		if b == baud {
			return byte(i), true
		}
	}
	return 0, false
}

// BaudRates lists the rates X-series motors support, slowest first: the
// rates Scan tries for "all".
func BaudRates() []int { return append([]int(nil), baudCodes[:]...) }

// baudFromCode is the inverse of BaudCode (0 for an unknown code).
func baudFromCode(c byte) int {
	if int(c) < len(baudCodes) {
		return baudCodes[c]
	}
	return 0
}

// WireTime is how long n bytes take on the wire at baud bits per second,
// 8N1 (ten bit times per byte).
func WireTime(n, baud int) time.Duration {
	if baud <= 0 {
		return 0
	}
	return time.Duration(int64(n) * 10 * int64(time.Second) / int64(baud))
}

// Packet sizes on the wire, unstuffed (hardware.md §3.9).
func syncReadTxBytes(n int) int       { return 14 + n }
func syncReadRxBytes(n, size int) int { return n * (11 + size) }
func fastReadRxBytes(n, size int) int { return 8 + n*(size+4) }
func syncWriteBytes(n, size int) int  { return 14 + n*(1+size) }
func readTxBytes() int                { return 14 }
func statusBytes(params int) int      { return 11 + params }
func writeTxBytes(size int) int       { return 12 + size }

// Timing is the bus's model of one transaction's duration, used to set read
// timeouts: the wire time of the bytes, each reply's return delay and
// processing time, and a fixed allowance for the host side (USB latency,
// scheduling).
type Timing struct {
	Baud        int           // bits per second
	ReturnDelay time.Duration // each device's Return Delay Time
	Processing  time.Duration // a device's time to start answering after the request, beyond the return delay
	Latency     time.Duration // host-side allowance: USB latency timer, scheduling
}

// Timeout is how long to wait for the replies of a transaction that puts
// tx then rx bytes on the wire and gets replies from devices devices.
func (t Timing) Timeout(tx, rx, replies int) time.Duration {
	return WireTime(tx+rx, t.Baud) + time.Duration(replies)*(t.ReturnDelay+t.Processing) + t.Latency
}

// SyncReadTimeout is the timeout of a SYNC READ (fast: FAST SYNC READ) of
// size bytes from n motors. Stuffing may add a few bytes; the Latency
// allowance covers them.
func (t Timing) SyncReadTimeout(n, size int, fast bool) time.Duration {
	if fast {
		// One reply, but each motor's segment follows the previous one.
		return t.Timeout(syncReadTxBytes(n), fastReadRxBytes(n, size), n)
	}
	return t.Timeout(syncReadTxBytes(n), syncReadRxBytes(n, size), n)
}
