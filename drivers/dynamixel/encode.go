package dynamixel

import "bytes"

// header is the start of every packet: FF FF FD followed by the reserved 00.
var header = [4]byte{0xFF, 0xFF, 0xFD, 0x00}

// headerLen is the number of bytes before the instruction: header, ID and
// LEN. LEN counts every byte after it, CRC included.
const headerLen = 7

// The fixed keys that follow the option byte of CLEAR and CONTROL TABLE
// BACKUP.
var (
	clearKey  = [4]byte{0x44, 0x58, 0x4C, 0x22}
	backupKey = [4]byte{0x43, 0x54, 0x52, 0x4C}
)

// Panic messages for arguments no packet can carry.
const (
	panicTooLong  = "dynamixel: packet length exceeds 0xFFFF"
	panicSyncData = "dynamixel: sync write data is not len(ids)*size bytes"
	panicFastNone = "dynamixel: fast status needs at least one record"
)

// packet builds one packet onto a caller's slice. It appends the stuffed
// bytes as they come and fills in LEN and the CRC at the end.
type packet struct {
	buf   []byte
	start int  // index of the first 0xFF in buf
	ff    int  // trailing 0xFF bytes seen in the stuffing region
	raw   bool // do not stuff (fast read replies)
}

// begin appends the header, ID, a LEN placeholder and the instruction.
func begin(dst []byte, id byte, inst Instruction) packet {
	p := packet{buf: dst, start: len(dst), raw: inst == Status && id == BroadcastID}
	p.buf = append(p.buf, header[0], header[1], header[2], header[3], id, 0, 0)
	p.put(byte(inst))
	return p
}

// put appends one byte of the stuffing region.
func (p *packet) put(c byte) {
	p.buf = append(p.buf, c)
	switch {
	case c == 0xFF:
		p.ff++
	case c == 0xFD && p.ff >= 2 && !p.raw:
		p.buf = append(p.buf, 0xFD)
		p.ff = 0
	default:
		p.ff = 0
	}
}

// put16 appends v little-endian.
func (p *packet) put16(v uint16) {
	p.put(byte(v))
	p.put(byte(v >> 8))
}

// write appends b, stuffing it, a whole run at a time between FD bytes.
func (p *packet) write(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, 0xFD)
		if i < 0 || p.raw {
			p.buf = append(p.buf, b...)
			p.ff = trailingFF(b, p.ff)
			return
		}
		p.buf = append(p.buf, b[:i+1]...)
		if trailingFF(b[:i], p.ff) >= 2 {
			p.buf = append(p.buf, 0xFD)
		}
		p.ff = 0
		b = b[i+1:]
	}
}

// trailingFF returns the number of 0xFF bytes that end b, adding prev when b
// is all 0xFF. Only whether it reaches 2 matters, so it stops counting there.
func trailingFF(b []byte, prev int) int {
	n := 0
	for i := len(b) - 1; i >= 0 && b[i] == 0xFF; i-- {
		if n++; n >= 2 {
			return n
		}
	}
	if n == len(b) {
		n += prev
	}
	return n
}

// end fills in LEN, appends the CRC and returns the finished slice.
func (p *packet) end() []byte {
	n := len(p.buf) - p.start - headerLen + 2
	if n > 0xFFFF {
		panic(panicTooLong)
	}
	p.buf[p.start+5] = byte(n)
	p.buf[p.start+6] = byte(n >> 8)
	crc := UpdateCRC(0, p.buf[p.start:])
	return append(p.buf, byte(crc), byte(crc>>8))
}

// AppendInstruction appends an instruction packet with the given raw
// parameters to dst and returns the extended slice. The typed Append
// functions below build the parameters for each instruction; this one is for
// anything else. inst == Status with BroadcastID gives an unstuffed packet,
// as for AppendStatus.
func AppendInstruction(dst []byte, id byte, inst Instruction, params []byte) []byte {
	p := begin(dst, id, inst)
	p.write(params)
	return p.end()
}

// AppendPing appends a PING to id (BroadcastID pings every device).
func AppendPing(dst []byte, id byte) []byte {
	p := begin(dst, id, Ping)
	return p.end()
}

// AppendRead appends a READ of size bytes at control-table address addr.
func AppendRead(dst []byte, id byte, addr, size uint16) []byte {
	p := begin(dst, id, Read)
	p.put16(addr)
	p.put16(size)
	return p.end()
}

// AppendWrite appends a WRITE of data at control-table address addr.
func AppendWrite(dst []byte, id byte, addr uint16, data []byte) []byte {
	p := begin(dst, id, Write)
	p.put16(addr)
	p.write(data)
	return p.end()
}

// AppendRegWrite appends a REG WRITE: like AppendWrite, but the device holds
// the write until an ACTION.
func AppendRegWrite(dst []byte, id byte, addr uint16, data []byte) []byte {
	p := begin(dst, id, RegWrite)
	p.put16(addr)
	p.write(data)
	return p.end()
}

// AppendAction appends an ACTION, which runs registered REG WRITEs.
func AppendAction(dst []byte, id byte) []byte {
	p := begin(dst, id, Action)
	return p.end()
}

// AppendFactoryReset appends a FACTORY RESET with option ResetAll,
// ResetExceptID or ResetExceptIDBaud.
func AppendFactoryReset(dst []byte, id byte, option byte) []byte {
	p := begin(dst, id, FactoryReset)
	p.put(option)
	return p.end()
}

// AppendReboot appends a REBOOT.
func AppendReboot(dst []byte, id byte) []byte {
	p := begin(dst, id, Reboot)
	return p.end()
}

// AppendClear appends a CLEAR with the given option (ClearMultiTurn)
// followed by the fixed key 44 58 4C 22.
func AppendClear(dst []byte, id byte, option byte) []byte {
	p := begin(dst, id, Clear)
	p.put(option)
	p.write(clearKey[:])
	return p.end()
}

// AppendControlTableBackup appends a CONTROL TABLE BACKUP with option
// BackupStore or BackupRestore followed by the fixed key 43 54 52 4C.
func AppendControlTableBackup(dst []byte, id byte, option byte) []byte {
	p := begin(dst, id, ControlTableBackup)
	p.put(option)
	p.write(backupKey[:])
	return p.end()
}

// AppendSyncRead appends a SYNC READ (broadcast) of size bytes at addr from
// every device in ids; each replies with its own status packet, in the
// order of ids.
func AppendSyncRead(dst []byte, addr, size uint16, ids []byte) []byte {
	return appendSyncRead(dst, SyncRead, addr, size, ids)
}

// AppendFastSyncRead appends a FAST SYNC READ: as AppendSyncRead, but the
// devices answer together in one status packet from BroadcastID (read it
// with FastReader).
func AppendFastSyncRead(dst []byte, addr, size uint16, ids []byte) []byte {
	return appendSyncRead(dst, FastSyncRead, addr, size, ids)
}

func appendSyncRead(dst []byte, inst Instruction, addr, size uint16, ids []byte) []byte {
	p := begin(dst, BroadcastID, inst)
	p.put16(addr)
	p.put16(size)
	p.write(ids)
	return p.end()
}

// AppendSyncWrite appends a SYNC WRITE (broadcast, no reply) of size bytes
// at addr to every device in ids. data holds len(ids)*size bytes, device i's
// at data[i*size:(i+1)*size]; any other length panics.
func AppendSyncWrite(dst []byte, addr, size uint16, ids []byte, data []byte) []byte {
	n := int(size)
	if len(data) != len(ids)*n {
		panic(panicSyncData)
	}
	p := begin(dst, BroadcastID, SyncWrite)
	p.put16(addr)
	p.put16(size)
	for i, id := range ids {
		p.put(id)
		p.write(data[i*n : i*n+n])
	}
	return p.end()
}

// BulkReadReq is one device's part of a BULK READ or FAST BULK READ: Size
// bytes at control-table address Addr of device ID.
type BulkReadReq struct {
	ID   byte
	Addr uint16
	Size uint16
}

// BulkWriteReq is one device's part of a BULK WRITE: Data written at
// control-table address Addr of device ID.
type BulkWriteReq struct {
	ID   byte
	Addr uint16
	Data []byte
}

// AppendBulkRead appends a BULK READ (broadcast); each device replies with
// its own status packet.
func AppendBulkRead(dst []byte, reqs []BulkReadReq) []byte {
	return appendBulkRead(dst, BulkRead, reqs)
}

// AppendFastBulkRead appends a FAST BULK READ: as AppendBulkRead, but the
// devices answer together in one status packet from BroadcastID (read it
// with FastReader).
func AppendFastBulkRead(dst []byte, reqs []BulkReadReq) []byte {
	return appendBulkRead(dst, FastBulkRead, reqs)
}

func appendBulkRead(dst []byte, inst Instruction, reqs []BulkReadReq) []byte {
	p := begin(dst, BroadcastID, inst)
	for _, r := range reqs {
		p.put(r.ID)
		p.put16(r.Addr)
		p.put16(r.Size)
	}
	return p.end()
}

// AppendBulkWrite appends a BULK WRITE (broadcast, no reply): each request's
// Data at its own address. A Data longer than 0xFFFF bytes panics.
func AppendBulkWrite(dst []byte, reqs []BulkWriteReq) []byte {
	p := begin(dst, BroadcastID, BulkWrite)
	for _, r := range reqs {
		if len(r.Data) > 0xFFFF {
			panic(panicTooLong)
		}
		p.put(r.ID)
		p.put16(r.Addr)
		p.put16(uint16(len(r.Data)))
		p.write(r.Data)
	}
	return p.end()
}

// AppendStatus appends a status packet (device side: firmware and
// simulator): errByte is the ERR byte (alert bit | error number) and params
// the reply data. With id == BroadcastID it is a FAST read reply and is not
// stuffed; build those with AppendFastStatus.
func AppendStatus(dst []byte, id byte, errByte byte, params []byte) []byte {
	p := begin(dst, id, Status)
	p.put(errByte)
	p.write(params)
	return p.end()
}

// AppendPacket appends pkt encoded so that ParsePacket (StuffingAuto)
// returns the same fields: AppendStatus for a status packet, else
// AppendInstruction.
func AppendPacket(dst []byte, pkt Packet) []byte {
	if pkt.Instruction == Status {
		return AppendStatus(dst, pkt.ID, pkt.Err, pkt.Params)
	}
	return AppendInstruction(dst, pkt.ID, pkt.Instruction, pkt.Params)
}
