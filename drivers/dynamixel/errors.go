package dynamixel

import "errors"

// Errors returned by the decoding functions. They are plain values: compare
// them with errors.Is.
var (
	// ErrNeedMore is returned by Decoder.Next when no whole packet is
	// buffered yet; write more bytes and call Next again.
	ErrNeedMore = errors.New("dynamixel: need more data")
	// ErrShort is returned by ParsePacket when b ends before the packet
	// does.
	ErrShort = errors.New("dynamixel: short packet")
	// ErrHeader is returned by ParsePacket when b does not start with
	// FF FF FD 00.
	ErrHeader = errors.New("dynamixel: bad header")
	// ErrID reports a packet whose ID is 0xFD or 0xFF, which no device or
	// broadcast uses.
	ErrID = errors.New("dynamixel: invalid id")
	// ErrLength reports a length that cannot be right: a LEN field too small
	// for the instruction (and, for a status, the error byte) or putting the
	// packet above MaxPacket, or a FAST read reply whose records do not fit
	// its parameters.
	ErrLength = errors.New("dynamixel: bad length")
	// ErrCRC reports a packet whose CRC does not match its bytes.
	ErrCRC = errors.New("dynamixel: crc mismatch")
	// ErrBufferFull is returned by Decoder.Write when the decoder cannot
	// take all of the bytes; call Next to drain packets and write the rest.
	ErrBufferFull = errors.New("dynamixel: decoder buffer full")
	// ErrNotStatus is returned by FastReader when the packet is not a status
	// packet.
	ErrNotStatus = errors.New("dynamixel: not a status packet")
)

// ErrorNumber is the error number of a status packet: bits 0–6 of its ERR
// byte (a number, not a bit field). Zero means no error. A non-zero
// ErrorNumber is also an error value, so it can be returned and matched
// with errors.Is(err, ErrNumAccess).
type ErrorNumber byte

// The error numbers a device reports in the ERR byte of a status packet.
const (
	ErrNumResultFail  ErrorNumber = 0x01 // the instruction failed
	ErrNumInstruction ErrorNumber = 0x02 // undefined instruction, or ACTION without REG WRITE
	ErrNumCRC         ErrorNumber = 0x03 // the instruction packet's CRC did not match
	ErrNumDataRange   ErrorNumber = 0x04 // a value is outside its range
	ErrNumDataLength  ErrorNumber = 0x05 // data shorter than the field
	ErrNumDataLimit   ErrorNumber = 0x06 // a value is outside the configured limits
	ErrNumAccess      ErrorNumber = 0x07 // read-only or undefined address, or EEPROM write with torque on
)

// String returns the e-Manual name of the error number, such as
// "data range error"; "no error" for zero.
func (e ErrorNumber) String() string {
	switch e {
	case 0:
		return "no error"
	case ErrNumResultFail:
		return "result fail"
	case ErrNumInstruction:
		return "instruction error"
	case ErrNumCRC:
		return "crc error"
	case ErrNumDataRange:
		return "data range error"
	case ErrNumDataLength:
		return "data length error"
	case ErrNumDataLimit:
		return "data limit error"
	case ErrNumAccess:
		return "access error"
	}
	return "error " + hexByte(byte(e))
}

// Error implements error: "dynamixel: device reported <name>".
func (e ErrorNumber) Error() string { return "dynamixel: device reported " + e.String() }

// alertBit is bit 7 of a status ERR byte.
const alertBit = 0x80

// statusError turns an ERR byte into nil or its ErrorNumber.
func statusError(errByte byte) error {
	if n := ErrorNumber(errByte &^ alertBit); n != 0 {
		return n
	}
	return nil
}
