package dynamixel_test

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/anther-robotics/anther/drivers/dynamixel"
)

// gen makes random packet fields that are rich in FF, FD and FF FF FD.
type gen struct{ r *rand.Rand }

func newGen() gen { return gen{rand.New(rand.NewPCG(0x616E74686572, 2))} }

// pieces are what payloads are made of, so that every stuffing corner
// (runs of FF, FD FD, sequences at the start or end) comes up often.
var pieces = [][]byte{
	{0xFF}, {0xFD}, {0x00}, {0xFF, 0xFF}, {0xFF, 0xFF, 0xFD}, {0xFF, 0xFF, 0xFD, 0xFD},
	{0xFF, 0xFF, 0xFD, 0x00}, {0xFF, 0xFF, 0xFF, 0xFD}, {0x55}, {0xFD, 0xFD},
}

func (g gen) bytes(max int) []byte {
	n := g.r.IntN(max + 1)
	b := make([]byte, 0, n+4)
	for len(b) < n {
		if g.r.IntN(3) == 0 {
			b = append(b, byte(g.r.Uint32()))
		} else {
			b = append(b, pieces[g.r.IntN(len(pieces))]...)
		}
	}
	return b[:n]
}

// byte returns a byte biased to the stuffing bytes.
func (g gen) byte() byte {
	switch g.r.IntN(4) {
	case 0:
		return 0xFF
	case 1:
		return 0xFD
	}
	return byte(g.r.Uint32())
}

func (g gen) u16() uint16 { return uint16(g.byte()) | uint16(g.byte())<<8 }

// id returns a valid device ID or BroadcastID.
func (g gen) id() byte {
	if g.r.IntN(8) == 0 {
		return dynamixel.BroadcastID
	}
	return byte(g.r.IntN(int(dynamixel.MaxID) + 1))
}

func (g gen) ids(max int) []byte {
	ids := make([]byte, g.r.IntN(max+1))
	for i := range ids {
		ids[i] = byte(g.r.IntN(int(dynamixel.MaxID) + 1))
		if g.r.IntN(4) == 0 {
			ids[i] = 0xFF // not a valid ID, but the codec must stuff it
		}
	}
	return ids
}

// refStuff is a second, naive implementation of §3.3: after every window
// FF FF FD of the original region (INST..params), insert FD.
func refStuff(region []byte) []byte {
	var out []byte
	for i, c := range region {
		out = append(out, c)
		if i >= 2 && region[i-2] == 0xFF && region[i-1] == 0xFF && c == 0xFD {
			out = append(out, 0xFD)
		}
	}
	return out
}

func le16(v uint16) []byte { return []byte{byte(v), byte(v >> 8)} }

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// randomCase returns an encoded packet and the fields it must decode to,
// for a random instruction kind.
func (g gen) randomCase() (wire []byte, want dynamixel.Packet) {
	id := g.id()
	switch g.r.IntN(17) {
	case 0:
		insts := []dynamixel.Instruction{dynamixel.Ping, dynamixel.Read, dynamixel.Write, dynamixel.RegWrite,
			dynamixel.Action, dynamixel.FactoryReset, dynamixel.Reboot, dynamixel.Clear, dynamixel.ControlTableBackup,
			dynamixel.SyncRead, dynamixel.SyncWrite, dynamixel.FastSyncRead, dynamixel.BulkRead, dynamixel.BulkWrite,
			dynamixel.FastBulkRead, 0xFF, 0xFD, 0x00}
		inst := insts[g.r.IntN(len(insts))]
		p := g.bytes(300)
		return dynamixel.AppendInstruction(nil, id, inst, p), in(id, inst, p...)
	case 1:
		return dynamixel.AppendPing(nil, id), in(id, dynamixel.Ping)
	case 2:
		a, s := g.u16(), g.u16()
		return dynamixel.AppendRead(nil, id, a, s), in(id, dynamixel.Read, cat(le16(a), le16(s))...)
	case 3:
		a, d := g.u16(), g.bytes(200)
		return dynamixel.AppendWrite(nil, id, a, d), in(id, dynamixel.Write, cat(le16(a), d)...)
	case 4:
		a, d := g.u16(), g.bytes(200)
		return dynamixel.AppendRegWrite(nil, id, a, d), in(id, dynamixel.RegWrite, cat(le16(a), d)...)
	case 5:
		return dynamixel.AppendAction(nil, id), in(id, dynamixel.Action)
	case 6:
		o := g.byte()
		return dynamixel.AppendFactoryReset(nil, id, o), in(id, dynamixel.FactoryReset, o)
	case 7:
		return dynamixel.AppendReboot(nil, id), in(id, dynamixel.Reboot)
	case 8:
		o := g.byte()
		return dynamixel.AppendClear(nil, id, o), in(id, dynamixel.Clear, o, 0x44, 0x58, 0x4C, 0x22)
	case 9:
		o := g.byte()
		return dynamixel.AppendControlTableBackup(nil, id, o), in(id, dynamixel.ControlTableBackup, o, 0x43, 0x54, 0x52, 0x4C)
	case 10, 11:
		a, s, ids := g.u16(), g.u16(), g.ids(40)
		if g.r.IntN(2) == 0 {
			return dynamixel.AppendSyncRead(nil, a, s, ids), in(0xFE, dynamixel.SyncRead, cat(le16(a), le16(s), ids)...)
		}
		return dynamixel.AppendFastSyncRead(nil, a, s, ids), in(0xFE, dynamixel.FastSyncRead, cat(le16(a), le16(s), ids)...)
	case 12:
		a, size, ids := g.u16(), g.r.IntN(9), g.ids(30)
		data := g.bytes(len(ids) * size)
		data = append(data, make([]byte, len(ids)*size-len(data))...)
		params := cat(le16(a), le16(uint16(size)))
		for i, id := range ids {
			params = append(append(params, id), data[i*size:(i+1)*size]...)
		}
		return dynamixel.AppendSyncWrite(nil, a, uint16(size), ids, data), in(0xFE, dynamixel.SyncWrite, params...)
	case 13:
		reqs := make([]dynamixel.BulkReadReq, g.r.IntN(20))
		var params []byte
		for i := range reqs {
			reqs[i] = dynamixel.BulkReadReq{ID: g.byte(), Addr: g.u16(), Size: g.u16()}
			params = cat(params, []byte{reqs[i].ID}, le16(reqs[i].Addr), le16(reqs[i].Size))
		}
		if g.r.IntN(2) == 0 {
			return dynamixel.AppendBulkRead(nil, reqs), in(0xFE, dynamixel.BulkRead, params...)
		}
		return dynamixel.AppendFastBulkRead(nil, reqs), in(0xFE, dynamixel.FastBulkRead, params...)
	case 14:
		reqs := make([]dynamixel.BulkWriteReq, g.r.IntN(10))
		var params []byte
		for i := range reqs {
			reqs[i] = dynamixel.BulkWriteReq{ID: g.byte(), Addr: g.u16(), Data: g.bytes(20)}
			params = cat(params, []byte{reqs[i].ID}, le16(reqs[i].Addr), le16(uint16(len(reqs[i].Data))), reqs[i].Data)
		}
		return dynamixel.AppendBulkWrite(nil, reqs), in(0xFE, dynamixel.BulkWrite, params...)
	default:
		id := byte(g.r.IntN(int(dynamixel.MaxID) + 1)) // a status comes from a device
		e, p := g.byte(), g.bytes(300)
		return dynamixel.AppendStatus(nil, id, e, p), st(id, e, p...)
	}
}

// TestPropertyRoundTrip encodes random packets of every kind, checks the
// bytes against the naive stuffer, and decodes them back.
func TestPropertyRoundTrip(t *testing.T) {
	g := newGen()
	stuffed := 0
	for i := range 20000 {
		wire, want := g.randomCase()
		region := []byte{byte(want.Instruction)}
		if want.Instruction == dynamixel.Status {
			region = append(region, want.Err)
		}
		region = append(region, want.Params...)
		ref := rawPacket(want.ID, refStuff(region)...)
		if !bytes.Equal(wire, ref) {
			t.Fatalf("case %d (%v): encoder and reference stuffer differ\n got %s\nwant %s", i, want.Instruction, fmtHex(wire), fmtHex(ref))
		}
		if len(ref) > len(region)+9 {
			stuffed++
		}
		p, n, err := parseCopy(wire)
		if err != nil || n != len(wire) || !samePacket(p, want) {
			t.Fatalf("case %d (%v): decoded %+v, n = %d, err = %v\nwant %+v", i, want.Instruction, p, n, err, want)
		}
	}
	if stuffed < 1000 {
		t.Errorf("only %d of the packets needed stuffing; the generator is too tame", stuffed)
	}
}

// TestPropertyFastStatus builds random fast read replies and walks them.
func TestPropertyFastStatus(t *testing.T) {
	g := newGen()
	for i := range 5000 {
		recs := make([]dynamixel.FastRecord, 1+g.r.IntN(18))
		sizes := make([]int, len(recs))
		fixed := g.r.IntN(2) == 0 // sync read: one size for all
		for k := range recs {
			sizes[k] = g.r.IntN(12)
			if fixed {
				sizes[k] = sizes[0]
			}
			d := g.bytes(sizes[k])
			recs[k] = dynamixel.FastRecord{ID: byte(g.r.IntN(253)), Err: g.byte(), Data: append(d, make([]byte, sizes[k]-len(d))...)}
		}
		wire := dynamixel.AppendFastStatus(nil, recs)
		if fixed {
			if want := 8 + len(recs)*(sizes[0]+4); len(wire) != want {
				t.Fatalf("case %d: %d bytes, want 8 + N(X+4) = %d", i, len(wire), want)
			}
		}
		// Every embedded CRC is the running CRC of the packet so far.
		off := 9
		for k := range len(recs) - 1 {
			off += 1 + sizes[k]
			if got := dynamixel.Uint16(wire[off:]); got != dynamixel.UpdateCRC(0, wire[:off]) {
				t.Fatalf("case %d: embedded CRC %d = %#04x, want %#04x", i, k, got, dynamixel.UpdateCRC(0, wire[:off]))
			}
			off += 3
		}
		var d dynamixel.Decoder
		d.Write(wire)
		p, err := d.Next()
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		fr := dynamixel.NewFastReader(p)
		for k, want := range recs {
			rec, err := fr.Next(sizes[k])
			if err != nil || rec.ID != want.ID || rec.Err != want.Err || !bytes.Equal(rec.Data, want.Data) {
				t.Fatalf("case %d record %d: %+v, %v; want %+v", i, k, rec, err, want)
			}
		}
		if !fr.Done() {
			t.Fatalf("case %d: bytes left after the last record", i)
		}
		if _, err := fr.Next(0); err != dynamixel.ErrLength {
			t.Fatalf("case %d: Next past the end: %v", i, err)
		}
	}
}
