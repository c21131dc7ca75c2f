package feetech

import "errors"

// Instruction is the instruction byte of an instruction packet.
type Instruction byte

// Instructions understood by STS/SMS/SCS servos.
const (
	Ping      Instruction = 0x01 // answer with an empty status packet
	Read      Instruction = 0x02 // params: addr, size; reply carries size bytes
	Write     Instruction = 0x03 // params: addr, data…
	RegWrite  Instruction = 0x04 // like Write, but held until Action
	Action    Instruction = 0x05 // apply held RegWrites
	Reset     Instruction = 0x06 // factory reset, numbered as in the Feetech V1.01 manual; see ResetSDK
	SyncRead  Instruction = 0x82 // params: addr, size, id…; each servo answers in turn
	SyncWrite Instruction = 0x83 // params: addr, size, (id, data[size])…

	// ResetSDK is RESET as numbered by the current official Feetech SDK
	// (INST_RESET = 0x0A). Which of Reset and ResetSDK a servo honours
	// depends on its firmware; verify on hardware before relying on either.
	ResetSDK Instruction = 0x0A
	// OffsetCalibration is OFSCAL in the Feetech SDK: the servo adjusts its
	// offset so that its present position reads as the middle (2048). Not
	// verified on hardware.
	OffsetCalibration Instruction = 0x0B
)

// String returns the protocol name of i, or its value in hex when unknown.
func (i Instruction) String() string {
	switch i {
	case Ping:
		return "PING"
	case Read:
		return "READ"
	case Write:
		return "WRITE"
	case RegWrite:
		return "REG_WRITE"
	case Action:
		return "ACTION"
	case Reset:
		return "RESET"
	case SyncRead:
		return "SYNC_READ"
	case SyncWrite:
		return "SYNC_WRITE"
	case ResetSDK:
		return "RESET(0x0A)"
	case OffsetCalibration:
		return "OFSCAL"
	}
	return hexByte("INST(0x", byte(i), ")")
}

const (
	// BroadcastID addresses every servo on the bus. Servos do not answer
	// broadcast instructions, except SYNC_READ, where each listed servo does.
	BroadcastID byte = 0xFE
	// MaxID is the largest ID the Feetech SDK scans for (MAX_ID). The frame
	// format itself allows servo IDs 0–253.
	MaxID byte = 0xFC

	// MaxParams is the largest number of parameter bytes a frame can carry
	// (LEN is one byte and counts the instruction and checksum too).
	MaxParams = 255 - 2
	// MaxPacket is the largest frame the format can express, in bytes. A
	// buffer of this capacity holds any packet. Servo firmware and the
	// Feetech SDK accept less (the SDK caps frames at 250 bytes).
	MaxPacket = 4 + 255
	// minPacket is the smallest frame: header, ID, LEN, INST/ERR, CHK.
	minPacket = 6
)

// Sentinel errors. ParsePacket and Decoder.Next return them unwrapped;
// encoders panic with ErrBadID, ErrTooLong or ErrSyncData on caller bugs.
var (
	// ErrNeedMore: the bytes so far are an incomplete frame.
	ErrNeedMore = errors.New("feetech: need more data")
	// ErrHeader: ParsePacket input does not start with FF FF.
	ErrHeader = errors.New("feetech: missing FF FF header")
	// ErrBadID: ID 0xFF, which the framing cannot carry.
	ErrBadID = errors.New("feetech: invalid id 0xFF")
	// ErrBadLength: a LEN byte below 2.
	ErrBadLength = errors.New("feetech: invalid length byte")
	// ErrChecksum: a frame whose checksum does not match its bytes.
	ErrChecksum = errors.New("feetech: checksum mismatch")
	// ErrBufferFull: Decoder.Write stored only part of its input.
	ErrBufferFull = errors.New("feetech: decoder buffer full")
	// ErrTooLong: more than MaxParams parameter bytes.
	ErrTooLong = errors.New("feetech: packet exceeds MaxPacket")
	// ErrSyncData: AppendSyncWrite data is not len(ids)*size bytes.
	ErrSyncData = errors.New("feetech: sync write data length is not len(ids)*size")
)

// PacketLen returns the length in bytes of a frame with n parameter bytes.
// A READ of size bytes is answered by a status packet of PacketLen(size).
func PacketLen(n int) int { return minPacket + n }

// Checksum returns the Feetech/Dynamixel 1.0 checksum of b, which must be the
// bytes of a frame from ID up to and including the last parameter (without
// the FF FF header and without the checksum byte itself): the one's
// complement of their sum, truncated to a byte.
func Checksum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return ^s
}

// begin appends the header, ID, LEN and slot byte of a frame with n params.
func begin(dst []byte, id byte, n int, slot byte) []byte {
	if id == 0xFF {
		panic(ErrBadID)
	}
	if n > MaxParams {
		panic(ErrTooLong)
	}
	return append(dst, 0xFF, 0xFF, id, byte(n+2), slot)
}

// finish appends the checksum of the frame that starts at dst[start].
func finish(dst []byte, start int) []byte {
	return append(dst, Checksum(dst[start+2:]))
}

// AppendInstruction appends an instruction packet for servo id (or
// BroadcastID) with the given parameters to dst and returns the extended
// slice. With cap(dst)-len(dst) ≥ PacketLen(len(params)) it does not
// allocate.
//
// It panics with ErrBadID if id is 0xFF and with ErrTooLong if params is
// longer than MaxParams: both are programming errors, like an index out of
// range.
func AppendInstruction(dst []byte, id byte, inst Instruction, params []byte) []byte {
	start := len(dst)
	dst = begin(dst, id, len(params), byte(inst))
	dst = append(dst, params...)
	return finish(dst, start)
}

// AppendStatus appends a status packet, as sent by the servo with the given
// id, carrying errByte (a StatusError bit set) and params. It is the device
// side of the protocol (firmware, simulator). It panics like
// AppendInstruction.
func AppendStatus(dst []byte, id byte, errByte byte, params []byte) []byte {
	start := len(dst)
	dst = begin(dst, id, len(params), errByte)
	dst = append(dst, params...)
	return finish(dst, start)
}

// AppendPing appends a PING for servo id.
func AppendPing(dst []byte, id byte) []byte {
	return AppendInstruction(dst, id, Ping, nil)
}

// AppendRead appends a READ of size bytes starting at control-table address
// addr of servo id.
func AppendRead(dst []byte, id byte, addr, size byte) []byte {
	start := len(dst)
	dst = begin(dst, id, 2, byte(Read))
	dst = append(dst, addr, size)
	return finish(dst, start)
}

// AppendWrite appends a WRITE of data at control-table address addr of servo
// id. It panics with ErrTooLong if len(data) > MaxParams-1.
func AppendWrite(dst []byte, id byte, addr byte, data []byte) []byte {
	return appendAddrData(dst, id, Write, addr, data)
}

// AppendRegWrite appends a REG_WRITE: like AppendWrite, but the servo holds
// the data until an ACTION (AppendAction).
func AppendRegWrite(dst []byte, id byte, addr byte, data []byte) []byte {
	return appendAddrData(dst, id, RegWrite, addr, data)
}

func appendAddrData(dst []byte, id byte, inst Instruction, addr byte, data []byte) []byte {
	start := len(dst)
	dst = begin(dst, id, 1+len(data), byte(inst))
	dst = append(dst, addr)
	dst = append(dst, data...)
	return finish(dst, start)
}

// AppendAction appends a broadcast ACTION, which makes every servo apply its
// pending REG_WRITE. For a single servo use AppendInstruction(dst, id,
// Action, nil).
func AppendAction(dst []byte) []byte {
	return AppendInstruction(dst, BroadcastID, Action, nil)
}

// AppendReset appends a RESET (instruction 0x06, see Reset and ResetSDK) for
// servo id. A reset restores factory settings, including the ID and baud
// rate.
func AppendReset(dst []byte, id byte) []byte {
	return AppendInstruction(dst, id, Reset, nil)
}

// AppendSyncRead appends a broadcast SYNC_READ of size bytes at addr from
// each servo in ids. Each servo answers, in the order of ids, with its own
// status packet of PacketLen(size) bytes. It panics with ErrTooLong if
// len(ids) > MaxParams-2.
func AppendSyncRead(dst []byte, addr, size byte, ids []byte) []byte {
	start := len(dst)
	dst = begin(dst, BroadcastID, 2+len(ids), byte(SyncRead))
	dst = append(dst, addr, size)
	dst = append(dst, ids...)
	return finish(dst, start)
}

// AppendSyncWrite appends a broadcast SYNC_WRITE of size bytes at addr to
// every servo in ids; servo ids[i] receives data[i*size : (i+1)*size]. It
// panics with ErrSyncData if len(data) != len(ids)*size and with ErrTooLong if
// the frame would exceed MaxPacket (2 + len(ids)*(size+1) > MaxParams).
func AppendSyncWrite(dst []byte, addr, size byte, ids []byte, data []byte) []byte {
	sz := int(size)
	if len(data) != len(ids)*sz {
		panic(ErrSyncData)
	}
	start := len(dst)
	dst = begin(dst, BroadcastID, 2+len(ids)*(sz+1), byte(SyncWrite))
	dst = append(dst, addr, size)
	for i, id := range ids {
		dst = append(dst, id)
		dst = append(dst, data[i*sz:(i+1)*sz]...)
	}
	return finish(dst, start)
}

// Packet is one decoded frame. Params aliases the buffer it was decoded
// from; copy it to keep it beyond that buffer's lifetime.
type Packet struct {
	// ID is the servo addressed (instruction) or answering (status); it
	// may be BroadcastID in an instruction packet.
	ID byte
	// Instruction is the instruction of an instruction packet; it is zero
	// in a status packet, whose slot holds Err instead.
	Instruction Instruction
	// Err is the error byte of a status packet (see StatusError); it is
	// zero in an instruction packet.
	Err byte
	// Params are the parameter bytes (possibly empty): for a READ reply,
	// the data read; for a WRITE, the address followed by the data.
	Params []byte
}

// ParsePacket decodes the frame at the start of b, as a status packet if
// status is true and as an instruction packet otherwise, and returns it with
// its length in bytes. The returned Params alias b (capacity-limited, so
// appending to them never overwrites b).
//
// On error it returns n == 0 and one of ErrNeedMore (b is a truncated
// frame), ErrHeader, ErrBadID, ErrBadLength or ErrChecksum. To find frames
// in a byte stream, use a Decoder.
func ParsePacket(b []byte, status bool) (Packet, int, error) {
	if len(b) >= 1 && b[0] != 0xFF || len(b) >= 2 && b[1] != 0xFF {
		return Packet{}, 0, ErrHeader
	}
	if len(b) >= 3 && b[2] == 0xFF {
		return Packet{}, 0, ErrBadID
	}
	if len(b) >= 4 && b[3] < 2 {
		return Packet{}, 0, ErrBadLength
	}
	if len(b) < 4 {
		return Packet{}, 0, ErrNeedMore
	}
	n := 4 + int(b[3])
	if len(b) < n {
		return Packet{}, 0, ErrNeedMore
	}
	if Checksum(b[2:n-1]) != b[n-1] {
		return Packet{}, 0, ErrChecksum
	}
	p := Packet{ID: b[2], Params: b[5 : n-1 : n-1]}
	if status {
		p.Err = b[4]
	} else {
		p.Instruction = Instruction(b[4])
	}
	return p, n, nil
}

// hexByte returns prefix + two hex digits of v + suffix.
func hexByte(prefix string, v byte, suffix string) string {
	const digits = "0123456789ABCDEF"
	return prefix + string([]byte{digits[v>>4], digits[v&0x0F]}) + suffix
}
