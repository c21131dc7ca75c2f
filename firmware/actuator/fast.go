package actuator

import "github.com/anther-robotics/anther/drivers/dynamixel"

// On a real bus every device of a FAST SYNC READ or FAST BULK READ sends its
// own part of the one combined reply (hardware.md §3.7): the device in slot
// 0 starts the packet (header, LEN, instruction) and each device sends its
// record ERR ID DATA followed by the CRC of everything on the wire so far,
// which it computes by listening to the devices before it; the last
// device's CRC is the packet's. A board uses FastPrefixLen and
// AppendFastSegment with the record Handle returns; the simulator joins the
// records itself.

// fastSlots returns the number of records a FAST read request asks for.
func fastSlots(p dynamixel.Packet) int {
	switch p.Instruction {
	case dynamixel.FastSyncRead:
		return max(0, len(p.Params)-4)
	case dynamixel.FastBulkRead:
		return len(p.Params) / 5
	}
	return 0
}

// fastSize returns the data size of record k, capped as Handle caps it.
func fastSize(p dynamixel.Packet, k int) int {
	if p.Instruction == dynamixel.FastSyncRead {
		return min(int(dynamixel.Uint16(p.Params[2:])), tableSize)
	}
	return min(int(dynamixel.Uint16(p.Params[5*k+3:])), tableSize)
}

// FastPrefixLen returns how many bytes of the combined reply to the FAST
// read request p come before the part of the device in slot (what it must
// hear, and feed to dynamixel.UpdateCRC, before sending), or -1 if p is not
// a FAST read or has no such slot.
func FastPrefixLen(p dynamixel.Packet, slot int) int {
	if slot < 0 || slot >= fastSlots(p) {
		return -1
	}
	if slot == 0 {
		return 0 // it starts the packet
	}
	n := 8 // FF FF FD 00 FE LEN_L LEN_H 55, sent by slot 0
	for k := range slot {
		n += 2 + fastSize(p, k) + 2
	}
	return n
}

// AppendFastSegment appends what the device in slot sends of the combined
// reply to the FAST read request p: for slot 0 the packet's start, then
// rec (the ERR ID DATA record Handle returned), then the running CRC. crc
// is the CRC (dynamixel.UpdateCRC from 0) of the FastPrefixLen(p, slot)
// bytes heard before; 0 for slot 0. It returns dst unchanged if slot is
// not in p.
func AppendFastSegment(dst []byte, p dynamixel.Packet, slot int, rec []byte, crc uint16) []byte {
	n := fastSlots(p)
	if slot < 0 || slot >= n {
		return dst
	}
	start := len(dst)
	if slot == 0 {
		l := 1 + 2 + 2*(n-1) // instruction, CRC, embedded CRCs
		for k := range n {
			l += 2 + fastSize(p, k)
		}
		dst = append(dst, 0xFF, 0xFF, 0xFD, 0x00, dynamixel.BroadcastID, byte(l), byte(l>>8), byte(dynamixel.Status))
	}
	dst = append(dst, rec...)
	crc = dynamixel.UpdateCRC(crc, dst[start:])
	return append(dst, byte(crc), byte(crc>>8))
}
