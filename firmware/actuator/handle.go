package actuator

import (
	"time"

	"github.com/anther-robotics/anther/drivers/dynamixel"
)

// ReplyKind says what a device sends back for an instruction.
type ReplyKind uint8

// Kinds of reply.
const (
	// NoReply: the device stays silent.
	NoReply ReplyKind = iota
	// StatusReply: the bytes are one whole status packet.
	StatusReply
	// FastReply: the bytes are this device's record of a FAST SYNC READ or
	// FAST BULK READ reply, ERR ID DATA, without any CRC. The bus joins the
	// records of all devices, in slot order, into one packet from
	// BroadcastID with the running CRCs (dynamixel.AppendFastStatus), as the
	// devices do on a real bus by monitoring each other.
	FastReply
)

// Reply describes the bytes Handle appended.
type Reply struct {
	Kind ReplyKind
	// Slot orders the replies of devices answering one broadcast
	// instruction: the index of the device in the ID list of a SYNC or BULK
	// READ (fast or not), or the device ID for a broadcast PING. Each reply
	// starts after the one before it has ended, plus Delay. 0 for a
	// unicast instruction.
	Slot int
	// Delay is the device's Return Delay Time when it received the
	// instruction: the wait before its reply begins.
	Delay time.Duration
}

// The fixed keys that follow the option of CLEAR ("DXL\"") and CONTROL
// TABLE BACKUP ("CTRL"), little-endian.
const (
	clearKey  = 0x224C5844
	backupKey = 0x4C525443
)

// Handle processes one instruction packet that arrived at device time now
// and appends the device's reply to dst. It returns the extended slice
// (dst itself when the device stays silent) and what the bytes are. It
// ignores status packets, packets for other IDs, and everything while the
// device is booting or speaks another protocol.
//
// Handle does not allocate when cap(dst)-len(dst) is at least
// dynamixel.MaxPacket. Effects that follow the reply on a real device
// (REBOOT, FACTORY RESET, a new ID or baud rate) take effect before
// Handle returns; the reply still carries the old ID.
func (d *Device) Handle(now time.Duration, p dynamixel.Packet, dst []byte) ([]byte, Reply) {
	now = max(now, d.now) // the device clock never runs back
	if !d.Listening(now) || p.Instruction == dynamixel.Status {
		return dst, Reply{}
	}
	d.tick(now)
	id := d.mem[AddrID]
	sec := d.mem[AddrSecondaryID]
	r := Reply{Delay: d.ReturnDelay()}
	unicast := p.ID == id
	broadcast := p.ID == dynamixel.BroadcastID
	if !unicast && !broadcast && !(sec <= dynamixel.MaxID && p.ID == sec) {
		return dst, Reply{}
	}
	silent := !unicast // broadcast and secondary-ID instructions get no status
	srl := d.mem[AddrStatusReturnLevel]
	status := func(e byte, params []byte) ([]byte, Reply) {
		if silent || srl < 2 {
			return dst, Reply{}
		}
		r.Kind = StatusReply
		return d.appendStatus(dst, id, e, params), r
	}
	params := p.Params
	var scratch [tableSize]byte

	switch p.Instruction {
	case dynamixel.Ping:
		d.lastRx = now
		if !unicast && !broadcast {
			return dst, Reply{}
		}
		if broadcast {
			r.Slot = int(id)
		}
		r.Kind = StatusReply
		out := append(scratch[:0], byte(d.model.Number), byte(d.model.Number>>8), d.mem[AddrFirmwareVersion])
		return d.appendStatus(dst, id, errNone, out), r

	case dynamixel.Read:
		d.lastRx = now
		if silent || srl < 1 {
			return dst, Reply{}
		}
		r.Kind = StatusReply
		if len(params) != 4 {
			return d.appendStatus(dst, id, errDataLength, nil), r
		}
		out, e := d.readTable(scratch[:0], dynamixel.Uint16(params), dynamixel.Uint16(params[2:]))
		if e != errNone {
			out = nil
		}
		return d.appendStatus(dst, id, e, out), r

	case dynamixel.Write:
		d.lastRx = now
		if len(params) < 3 {
			return status(errDataLength, nil)
		}
		return status(d.writeTable(dynamixel.Uint16(params), params[2:], true), nil)

	case dynamixel.RegWrite:
		d.lastRx = now
		if len(params) < 3 {
			return status(errDataLength, nil)
		}
		addr, data := dynamixel.Uint16(params), params[2:]
		e := d.writeTable(addr, data, false)
		if e == errNone {
			d.regAt, d.regLen = addr, copy(d.reg[:], data)
			d.mem[AddrRegisteredInst] = 1
		}
		return status(e, nil)

	case dynamixel.Action:
		d.lastRx = now
		if d.regLen == 0 {
			return status(errInstruction, nil)
		}
		e := d.writeTable(d.regAt, d.reg[:d.regLen], true)
		d.regLen = 0
		d.mem[AddrRegisteredInst] = 0
		return status(e, nil)

	case dynamixel.FactoryReset:
		d.lastRx = now
		if len(params) < 1 {
			return status(errDataLength, nil)
		}
		opt := params[0]
		switch {
		case opt != dynamixel.ResetAll && opt != dynamixel.ResetExceptID && opt != dynamixel.ResetExceptIDBaud:
			return status(errDataRange, nil)
		case broadcast && opt == dynamixel.ResetAll:
			return dst, Reply{} // refused (firmware >= 42)
		case d.TorqueEnabled():
			return status(errAccess, nil)
		}
		out, rr := status(errNone, nil)
		d.factoryReset(opt)
		d.boot(now)
		return out, rr

	case dynamixel.Reboot:
		d.lastRx = now
		out, rr := status(errNone, nil)
		d.boot(now)
		return out, rr

	case dynamixel.Clear:
		d.lastRx = now
		if len(params) < 5 {
			return status(errDataLength, nil)
		}
		if params[0] != dynamixel.ClearMultiTurn || dynamixel.Uint32(params[1:]) != clearKey {
			return status(errDataRange, nil)
		}
		if d.moving() {
			return status(errResultFail, nil)
		}
		d.clearMultiTurn()
		return status(errNone, nil)

	case dynamixel.ControlTableBackup:
		d.lastRx = now
		if !d.model.Backup {
			return status(errInstruction, nil)
		}
		if len(params) < 5 {
			return status(errDataLength, nil)
		}
		opt := params[0]
		if opt != dynamixel.BackupStore && opt != dynamixel.BackupRestore || dynamixel.Uint32(params[1:]) != backupKey {
			return status(errDataRange, nil)
		}
		if d.TorqueEnabled() {
			return status(errAccess, nil)
		}
		if opt == dynamixel.BackupStore {
			d.backup = d.mem
			d.backupReady = true
			d.mem[AddrBackupReady] = 1
			return status(errNone, nil)
		}
		if !d.backupReady {
			return status(errResultFail, nil)
		}
		d.restore()
		return status(errNone, nil)

	case dynamixel.SyncRead, dynamixel.FastSyncRead:
		if !broadcast {
			return status(errInstruction, nil)
		}
		if len(params) < 5 {
			return dst, Reply{}
		}
		slot := indexOf(params[4:], id)
		if slot < 0 {
			return dst, Reply{}
		}
		d.lastRx = now
		if srl < 1 {
			return dst, Reply{}
		}
		r.Slot = slot
		return d.readReply(dst, id, p.Instruction == dynamixel.FastSyncRead, dynamixel.Uint16(params), dynamixel.Uint16(params[2:]), r)

	case dynamixel.BulkRead, dynamixel.FastBulkRead:
		if !broadcast {
			return status(errInstruction, nil)
		}
		for k := 0; k+5 <= len(params); k += 5 {
			if params[k] != id {
				continue
			}
			d.lastRx = now
			if srl < 1 {
				return dst, Reply{}
			}
			r.Slot = k / 5
			return d.readReply(dst, id, p.Instruction == dynamixel.FastBulkRead,
				dynamixel.Uint16(params[k+1:]), dynamixel.Uint16(params[k+3:]), r)
		}
		return dst, Reply{}

	case dynamixel.SyncWrite:
		if !broadcast {
			return status(errInstruction, nil)
		}
		if len(params) < 4 {
			return dst, Reply{}
		}
		addr, size := dynamixel.Uint16(params), int(dynamixel.Uint16(params[2:]))
		if size == 0 {
			return dst, Reply{}
		}
		for k := 4; k+1+size <= len(params); k += 1 + size {
			if params[k] == id {
				d.lastRx = now
				d.writeTable(addr, params[k+1:k+1+size], true)
				break
			}
		}
		return dst, Reply{}

	case dynamixel.BulkWrite:
		if !broadcast {
			return status(errInstruction, nil)
		}
		for k := 0; k+5 <= len(params); {
			size := int(dynamixel.Uint16(params[k+3:]))
			if k+5+size > len(params) {
				break
			}
			if params[k] == id {
				d.lastRx = now
				d.writeTable(dynamixel.Uint16(params[k+1:]), params[k+5:k+5+size], true)
				break
			}
			k += 5 + size
		}
		return dst, Reply{}
	}
	d.lastRx = now
	return status(errInstruction, nil)
}

// readReply appends the reply to one device's part of a SYNC or BULK READ:
// a status packet, or for the fast variants a record ERR ID DATA (DATA is
// size zero bytes when the read fails, so the combined packet keeps its
// layout).
func (d *Device) readReply(dst []byte, id byte, fast bool, addr, size uint16, r Reply) ([]byte, Reply) {
	if !fast {
		var scratch [tableSize]byte
		out, e := d.readTable(scratch[:0], addr, size)
		if e != errNone {
			out = nil
		}
		r.Kind = StatusReply
		return d.appendStatus(dst, id, e, out), r
	}
	if size > tableSize {
		size = tableSize // a read that large fails anyway; keep the record bounded
	}
	r.Kind = FastReply
	start := len(dst)
	dst = append(dst, 0, id)
	dst, e := d.readTable(dst, addr, size)
	if e != errNone {
		dst = dst[:start+2]
		for range size {
			dst = append(dst, 0)
		}
	}
	dst[start] = e | d.alert()
	return dst, r
}

// CRCError appends the status a device sends for an instruction to it whose
// CRC did not match (error 3), when its Status Return Level asks for one.
// The bus calls it for a damaged packet whose ID is the device's.
func (d *Device) CRCError(now time.Duration, dst []byte) ([]byte, Reply) {
	if !d.Listening(max(now, d.now)) || d.mem[AddrStatusReturnLevel] < 2 {
		return dst, Reply{}
	}
	return d.appendStatus(dst, d.mem[AddrID], errCRC, nil), Reply{Kind: StatusReply, Delay: d.ReturnDelay()}
}

// appendStatus appends a status packet with error number e and the Alert
// bit when a hardware error is latched.
func (d *Device) appendStatus(dst []byte, id, e byte, params []byte) []byte {
	return dynamixel.AppendStatus(dst, id, e|d.alert(), params)
}

// alert returns the Alert bit for the ERR byte.
func (d *Device) alert() byte {
	if d.mem[AddrHardwareErrorStatus] != 0 {
		return alertBit
	}
	return 0
}

// tick moves the device clock to now (never back) and updates Realtime
// Tick.
func (d *Device) tick(now time.Duration) {
	if now > d.now {
		d.now = now
	}
	d.setU(AddrRealtimeTick, uint32((d.now-d.bootAt)/time.Millisecond)%32768)
}

func indexOf(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
