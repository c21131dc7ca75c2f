// Package feetech is the wire codec for Feetech STS/SMS/SCS serial-bus
// servos (the STS3215 of the SO-100/SO-101 arms, among others).
//
// The framing is that of Dynamixel Protocol 1.0:
//
//	instruction: FF FF | ID | LEN | INST | PARAM_1 … PARAM_N | CHK
//	status:      FF FF | ID | LEN | ERR  | PARAM_1 … PARAM_N | CHK
//
// with LEN = N + 2 and CHK = ^(ID + LEN + INST/ERR + ΣPARAM) & 0xFF. There is
// no byte stuffing, so FF FF may appear inside the parameters; a receiver
// resynchronises by checksum.
//
// The package does no I/O. Encoders append to a caller-owned slice
// (AppendPing, AppendSyncWrite, …); ParsePacket decodes one frame in place;
// Decoder is a streaming decoder over a fixed internal buffer for bytes read
// from a serial port. Nothing on the encode or decode path allocates, uses
// fmt, reflect or maps, or blocks, so it is safe to call from a real-time tick
// and builds with TinyGo (the firmware side uses the same codec through
// AppendStatus and a Decoder in instruction mode).
//
// Multi-byte fields of STS/SMS servos are little-endian (Uint16, PutUint16);
// SCS servos are big-endian and are not covered by the Register helpers.
// Several STS fields are sign-magnitude rather than two's complement; see
// EncodeSignMagnitude and Register.SignBit.
//
// # Bus
//
// Bus (bus*.go) is the host side over a serial Port: a robot.Hardware for
// the servos of one description bus (Configure, Read, Write, Halt, Close)
// with one SYNC_READ and one SYNC_WRITE per tick, retries of corrupted or
// missing replies within a per-tick budget, per-joint faults, a Halt that
// any goroutine may call, LeRobot's calibration applied in the servos, and
// the management calls of `anther bus` and `anther calibrate`. The codec
// files do no I/O; the bus does, through the Port it is given.
package feetech
