package dynamixel

// Instruction is a Protocol 2.0 instruction byte: the INST field of a packet.
type Instruction byte

// The Protocol 2.0 instructions. Status (0x55) marks a status (reply)
// packet; all others are sent by the host.
const (
	Ping               Instruction = 0x01 // PING: reply carries model number (2) and firmware version (1)
	Read               Instruction = 0x02 // READ addr(2) size(2)
	Write              Instruction = 0x03 // WRITE addr(2) data...
	RegWrite           Instruction = 0x04 // REG WRITE addr(2) data..., run later by Action
	Action             Instruction = 0x05 // ACTION: run the registered REG WRITE
	FactoryReset       Instruction = 0x06 // FACTORY RESET option(1)
	Reboot             Instruction = 0x08 // REBOOT
	Clear              Instruction = 0x10 // CLEAR option(1) + fixed 44 58 4C 22
	ControlTableBackup Instruction = 0x20 // CONTROL TABLE BACKUP option(1) + fixed 43 54 52 4C
	Status             Instruction = 0x55 // STATUS: a device's reply
	SyncRead           Instruction = 0x82 // SYNC READ addr(2) size(2) id...; one status per ID
	SyncWrite          Instruction = 0x83 // SYNC WRITE addr(2) size(2) [id data(size)]...
	FastSyncRead       Instruction = 0x8A // FAST SYNC READ, as SyncRead; one combined status
	BulkRead           Instruction = 0x92 // BULK READ [id addr(2) size(2)]...; one status per ID
	BulkWrite          Instruction = 0x93 // BULK WRITE [id addr(2) size(2) data...]...
	FastBulkRead       Instruction = 0x9A // FAST BULK READ, as BulkRead; one combined status
)

// BroadcastID addresses every device on the bus. Only PING and the
// (fast) sync and bulk reads get replies to it. A status packet with this ID
// is a FAST SYNC READ or FAST BULK READ reply.
const BroadcastID byte = 0xFE

// MaxID is the largest ID a device may have (0xFD and 0xFF are never IDs).
const MaxID byte = 0xFC

// MaxPacket is the largest packet, in wire bytes from the first 0xFF to the
// last CRC byte, that ParsePacket and Decoder accept. It matches the receive
// buffer of ROBOTIS' DynamixelSDK and covers every X-series transaction: a
// READ of a whole control table (0..661) is 673 bytes and a FAST SYNC READ
// of 10 bytes from 18 motors is 260. Buffers of MaxPacket bytes are enough
// for encoding too, but the Append functions do not enforce it.
const MaxPacket = 1024

// Options of FACTORY RESET (AppendFactoryReset).
const (
	ResetAll          byte = 0xFF // reset everything (refused on broadcast, firmware >= 42)
	ResetExceptID     byte = 0x01 // reset all but the ID
	ResetExceptIDBaud byte = 0x02 // reset all but the ID and the baud rate
)

// Options of CLEAR (AppendClear).
const (
	ClearMultiTurn byte = 0x01 // reset Present Position to within one turn; only while stopped
)

// Options of CONTROL TABLE BACKUP (AppendControlTableBackup). Torque must be
// off.
const (
	BackupStore   byte = 0x01 // store the control table in the backup area
	BackupRestore byte = 0x02 // restore the control table from the backup area
)

// String returns the instruction's e-Manual name, such as "SYNC_WRITE", or
// "INST_0x07" for an unknown byte.
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
	case FactoryReset:
		return "FACTORY_RESET"
	case Reboot:
		return "REBOOT"
	case Clear:
		return "CLEAR"
	case ControlTableBackup:
		return "CONTROL_TABLE_BACKUP"
	case Status:
		return "STATUS"
	case SyncRead:
		return "SYNC_READ"
	case SyncWrite:
		return "SYNC_WRITE"
	case FastSyncRead:
		return "FAST_SYNC_READ"
	case BulkRead:
		return "BULK_READ"
	case BulkWrite:
		return "BULK_WRITE"
	case FastBulkRead:
		return "FAST_BULK_READ"
	}
	return "INST_" + hexByte(byte(i))
}

// hexByte formats b as "0xNN" without fmt.
func hexByte(b byte) string {
	const digits = "0123456789ABCDEF"
	return string([]byte{'0', 'x', digits[b>>4], digits[b&0x0F]})
}
