package dynamixel

import "bytes"

// Packet is one decoded packet, instruction or status.
type Packet struct {
	ID          byte        // device ID, or BroadcastID
	Instruction Instruction // Status for a reply
	Err         byte        // ERR byte of a status packet (alert bit | error number); 0 otherwise
	// Params are the parameters, already un-stuffed; for a status packet
	// they follow the ERR byte. Params aliases the buffer the packet was
	// decoded from and is valid only as long as that buffer is unchanged.
	Params []byte
}

// Alert reports bit 7 of the ERR byte: the device has a hardware error
// (read Hardware Error Status, address 70 on X-series; REBOOT clears it).
func (p Packet) Alert() bool { return p.Err&alertBit != 0 }

// ErrNum returns the error number in bits 0–6 of the ERR byte.
func (p Packet) ErrNum() ErrorNumber { return ErrorNumber(p.Err &^ alertBit) }

// StatusError returns nil when the ERR byte carries no error number, else
// the ErrorNumber as an error. The alert bit alone is not an error.
func (p Packet) StatusError() error { return statusError(p.Err) }

// Stuffing says when ParsePacketWith and Decoder remove byte stuffing.
type Stuffing uint8

const (
	// StuffingAuto un-stuffs every packet except a status packet from
	// BroadcastID, which is a FAST SYNC/BULK READ reply and is sent raw.
	// It is the zero value and what the protocol specifies.
	StuffingAuto Stuffing = iota
	// StuffingAlways un-stuffs every packet, fast read replies included.
	StuffingAlways
	// StuffingNever leaves every packet's parameters as they came.
	StuffingNever
)

// minLen is the smallest LEN field: the instruction and the CRC.
const minLen = 3

// ParsePacket decodes the packet at the start of b, which must begin with
// the header FF FF FD 00, and returns it with the number of bytes it took.
// It un-stuffs the parameters in place (StuffingAuto), so b[:n] no longer
// holds the wire bytes afterwards; copy b first if they are still needed.
// p.Params aliases b.
//
// Errors: ErrShort if b ends before the packet (more bytes may complete it),
// ErrHeader, ErrID, ErrLength or ErrCRC if the bytes at the start of b are
// not a valid packet. n is 0 on error.
func ParsePacket(b []byte) (p Packet, n int, err error) {
	return ParsePacketWith(b, StuffingAuto)
}

// ParsePacketWith is ParsePacket with an explicit stuffing rule.
func ParsePacketWith(b []byte, s Stuffing) (p Packet, n int, err error) {
	n, err = frame(b)
	if err != nil {
		return Packet{}, 0, err
	}
	p.ID = b[4]
	p.Instruction = Instruction(b[7])
	region := b[headerLen : n-2] // INST..last param, stuffed
	if s == StuffingAlways || s == StuffingAuto && !(p.Instruction == Status && p.ID == BroadcastID) {
		region = region[:unstuff(region)]
	}
	if p.Instruction == Status {
		p.Err = region[1]
		p.Params = region[2:len(region):len(region)]
	} else {
		p.Params = region[1:len(region):len(region)]
	}
	return p, n, nil
}

// frame checks the header, ID, LEN and CRC of the packet at the start of b
// and returns its length in bytes.
func frame(b []byte) (int, error) {
	for i := 0; i < len(header) && i < len(b); i++ {
		if b[i] != header[i] {
			return 0, ErrHeader
		}
	}
	if len(b) > 4 && (b[4] == 0xFD || b[4] == 0xFF) {
		return 0, ErrID
	}
	if len(b) < headerLen {
		return 0, ErrShort
	}
	l := int(b[5]) | int(b[6])<<8
	if l < minLen || headerLen+l > MaxPacket {
		return 0, ErrLength
	}
	if len(b) > headerLen && Instruction(b[7]) == Status && l < minLen+1 {
		return 0, ErrLength
	}
	n := headerLen + l
	if len(b) < n {
		return 0, ErrShort
	}
	if UpdateCRC(0, b[:n-2]) != uint16(b[n-2])|uint16(b[n-1])<<8 {
		return 0, ErrCRC
	}
	return n, nil
}

// stuffSeq is the sequence after which a sender inserts an extra FD.
var stuffSeq = []byte{0xFF, 0xFF, 0xFD}

// unstuff removes, in place, the FD that follows each FF FF FD in b and
// returns the new length. An FF FF FD not followed by FD is kept as is.
func unstuff(b []byte) int {
	k := bytes.Index(b, stuffSeq)
	if k < 0 {
		return len(b)
	}
	j, ff := k, 0
	for i := k; i < len(b); i++ {
		c := b[i]
		b[j] = c
		j++
		switch {
		case c == 0xFF:
			ff++
		case c == 0xFD && ff >= 2:
			ff = 0
			if i+1 < len(b) && b[i+1] == 0xFD {
				i++
			}
		default:
			ff = 0
		}
	}
	return j
}
