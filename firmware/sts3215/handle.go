package sts3215

import (
	"math"
	"time"

	"github.com/anther-robotics/anther/drivers/feetech"
)

// ReplyKind says what a device sends back for an instruction.
type ReplyKind uint8

// Kinds of reply.
const (
	NoReply     ReplyKind = iota // the device stays silent
	StatusReply                  // the bytes are one whole status packet
)

// Reply describes the bytes Handle appended.
type Reply struct {
	Kind ReplyKind
	// Slot orders the replies of devices answering one broadcast
	// instruction: the device's index in a SYNC_READ's ID list, or its ID
	// for a broadcast PING. Each reply starts after the one before it has
	// ended, plus Delay. 0 for a unicast instruction.
	Slot int
	// Delay is the device's Return_Delay_Time when the instruction came.
	Delay time.Duration
}

// Handle processes one instruction packet (decoded with
// feetech.Decoder{Status: false}) that arrived at device time now, and
// appends the device's reply to dst. It returns the extended slice (dst
// itself when the device stays silent) and what the bytes are. It ignores
// packets for other IDs and everything while the device is booting.
//
// Handle does not allocate when cap(dst)-len(dst) ≥ feetech.MaxPacket.
// A new ID or baud rate, and a RESET, take effect before Handle returns;
// the reply still comes from the old ID.
func (d *Device) Handle(now time.Duration, p feetech.Packet, dst []byte) ([]byte, Reply) {
	now = max(now, d.now)
	if !d.Listening(now) {
		return dst, Reply{}
	}
	d.now = now
	id := d.ID()
	unicast := p.ID == id
	broadcast := p.ID == feetech.BroadcastID
	if !unicast && !broadcast {
		return dst, Reply{}
	}
	r := Reply{Kind: StatusReply, Delay: d.ReturnDelay()}
	quiet := d.mem[feetech.ResponseStatusLevel.Addr()] == 0
	// status replies to a unicast instruction unless the status level
	// silences it.
	status := func() ([]byte, Reply) {
		if !unicast || quiet {
			return dst, Reply{}
		}
		return feetech.AppendStatus(dst, id, byte(d.conditions), nil), r
	}
	params := p.Params

	switch p.Instruction {
	case feetech.Ping:
		if broadcast {
			r.Slot = int(id)
		}
		return feetech.AppendStatus(dst, id, byte(d.conditions), nil), r

	case feetech.Read:
		if !unicast || len(params) != 2 {
			return dst, Reply{}
		}
		return feetech.AppendStatus(dst, id, byte(d.conditions), d.read(params[0], params[1])), r

	case feetech.Write:
		if len(params) < 2 {
			return dst, Reply{}
		}
		out, rr := status()
		d.write(params[0], params[1:])
		return out, rr

	case feetech.RegWrite:
		if len(params) < 2 {
			return dst, Reply{}
		}
		d.regAt, d.regLen = params[0], copy(d.reg[:], params[1:])
		return status()

	case feetech.Action:
		out, rr := status()
		if d.regLen > 0 {
			d.write(d.regAt, d.reg[:d.regLen])
			d.regLen = 0
		}
		return out, rr

	case feetech.SyncRead:
		if !broadcast || len(params) < 3 {
			return dst, Reply{}
		}
		slot := -1
		for k, x := range params[2:] {
			if x == id {
				slot = k
				break
			}
		}
		if slot < 0 {
			return dst, Reply{}
		}
		r.Slot = slot
		return feetech.AppendStatus(dst, id, byte(d.conditions), d.read(params[0], params[1])), r

	case feetech.SyncWrite:
		if !broadcast || len(params) < 2 || params[1] == 0 {
			return dst, Reply{}
		}
		addr, size := params[0], int(params[1])
		for k := 2; k+1+size <= len(params); k += 1 + size {
			if params[k] == id {
				d.write(addr, params[k+1:k+1+size])
				break
			}
		}
		return dst, Reply{}

	case feetech.Reset, feetech.ResetSDK:
		out, rr := status()
		d.factoryReset()
		d.powerUp(now)
		return out, rr

	case feetech.OffsetCalibration:
		out, rr := status()
		d.centre()
		return out, rr
	}
	return dst, Reply{}
}

// read returns size table bytes from addr (bytes past the table read 0) in
// the device's scratch buffer.
func (d *Device) read(addr, size byte) []byte {
	out := d.scratch[:0]
	for k := 0; k < int(size) && len(out) < feetech.MaxParams; k++ {
		a := int(addr) + k
		if a < tableSize {
			out = append(out, d.mem[a])
		} else {
			out = append(out, 0)
		}
	}
	return out
}

// write applies data at addr byte by byte (read-only bytes and bytes past
// the table are ignored), then the side effects of the items it touched.
// EEPROM bytes are saved too when Lock is 0 — as it was before this write,
// so clearing Lock and writing the EEPROM take two writes.
func (d *Device) write(addr byte, data []byte) {
	unlocked := !d.Locked()
	oldTorque := d.mem[feetech.TorqueEnable.Addr()]
	oldID, oldBaud := d.mem[feetech.ID.Addr()], d.mem[feetech.BaudRate.Addr()]
	romID, romBaud := d.rom[feetech.ID.Addr()], d.rom[feetech.BaudRate.Addr()]
	oldHoming := d.get(feetech.HomingOffset)
	oldMode := d.mem[feetech.OperatingMode.Addr()]
	touched := func(r feetech.Register) bool {
		return int(r.Addr()) < int(addr)+len(data) && int(addr) < int(r.Addr()+r.Size())
	}
	for k, b := range data {
		a := int(addr) + k
		if a >= tableSize || !d.writable[a] {
			continue
		}
		d.mem[a] = b
		if a < EEPROMEnd && unlocked {
			d.rom[a] = b
		}
	}
	// Values the servo cannot take are not stored.
	if d.mem[feetech.ID.Addr()] >= feetech.BroadcastID {
		d.mem[feetech.ID.Addr()], d.rom[feetech.ID.Addr()] = oldID, romID
	}
	if _, ok := feetech.BaudTableSDK.Rate(d.mem[feetech.BaudRate.Addr()]); !ok {
		d.mem[feetech.BaudRate.Addr()], d.rom[feetech.BaudRate.Addr()] = oldBaud, romBaud
	}
	if touched(feetech.GoalPosition) {
		d.sensed = true // the host's goal wins over the power-up one
	}
	if touched(feetech.HomingOffset) {
		// The present frame moved: keep the motion where it is.
		delta := float64(d.get(feetech.HomingOffset) - oldHoming)
		d.desPos -= delta
		d.updatePresent()
	}
	if touched(feetech.OperatingMode) && d.mem[feetech.OperatingMode.Addr()] != oldMode {
		d.holdHere()
	}
	if touched(feetech.TorqueEnable) {
		switch v := d.mem[feetech.TorqueEnable.Addr()]; {
		case v == TorqueCentre:
			d.mem[feetech.TorqueEnable.Addr()] = oldTorque
			d.centre()
		case v != 0 && oldTorque == 0:
			d.latched = 0
			d.holdHere()
			d.protect(0)
		case v == 0:
			d.duty, d.current, d.torque = 0, 0, 0
		}
	}
	d.updatePresent()
}

// holdHere makes the motion start from the present position.
func (d *Device) holdHere() {
	d.desPos, d.desVel, d.integ = float64(d.get(feetech.PresentPosition)), 0, 0
}

// centre sets Homing_Offset so that the present position reads 2048 (and
// saves it when unlocked), as OFSCAL and Torque_Enable 128 do.
func (d *Device) centre() {
	off := int(math.Round(floorMod(d.encoder, Resolution))) - 2048
	off = max(-2047, min(2047, off))
	var b [2]byte
	data := feetech.HomingOffset.Append(b[:0], off)
	d.write(feetech.HomingOffset.Addr(), data)
}
