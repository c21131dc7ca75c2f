package dynamixel_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/anther-robotics/anther/drivers/dynamixel"
)

func TestParsePacketErrors(t *testing.T) {
	withLen := func(l int, rest ...byte) []byte {
		return append([]byte{0xFF, 0xFF, 0xFD, 0x00, 0x01, byte(l), byte(l >> 8)}, rest...)
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, dynamixel.ErrShort},
		{"one FF", []byte{0xFF}, dynamixel.ErrShort},
		{"header prefix", []byte{0xFF, 0xFF, 0xFD}, dynamixel.ErrShort},
		{"header only", []byte{0xFF, 0xFF, 0xFD, 0x00}, dynamixel.ErrShort},
		{"no length", []byte{0xFF, 0xFF, 0xFD, 0x00, 0x01, 0x03}, dynamixel.ErrShort},
		{"garbage", []byte{0x00, 0xFF, 0xFF, 0xFD, 0x00}, dynamixel.ErrHeader},
		{"second byte", []byte{0xFF, 0xFE}, dynamixel.ErrHeader},
		{"reserved byte", []byte{0xFF, 0xFF, 0xFD, 0xFD, 0x01, 0x03, 0x00, 0x01, 0x19, 0x4E}, dynamixel.ErrHeader},
		{"id FF", []byte{0xFF, 0xFF, 0xFD, 0x00, 0xFF}, dynamixel.ErrID},
		{"id FD", []byte{0xFF, 0xFF, 0xFD, 0x00, 0xFD, 0x03, 0x00, 0x01, 0x00, 0x00}, dynamixel.ErrID},
		{"len 0", withLen(0, 0x01, 0x00, 0x00), dynamixel.ErrLength},
		{"len 2", withLen(2, 0x01, 0x00, 0x00), dynamixel.ErrLength},
		{"status len 3", withLen(3, 0x55, 0x00, 0x00), dynamixel.ErrLength},
		{"len over MaxPacket", withLen(dynamixel.MaxPacket - 6), dynamixel.ErrLength},
		{"len 0xFFFF", withLen(0xFFFF), dynamixel.ErrLength},
		{"len MaxPacket incomplete", withLen(dynamixel.MaxPacket-7, 0x03), dynamixel.ErrShort},
		{"bad crc", []byte{0xFF, 0xFF, 0xFD, 0x00, 0x01, 0x03, 0x00, 0x01, 0x19, 0x4F}, dynamixel.ErrCRC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, n, err := parseCopy(tt.in)
			if err != tt.want {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if n != 0 || p.Params != nil {
				t.Errorf("on error got n = %d, p = %+v", n, p)
			}
		})
	}
}

func TestParsePacketTruncatedAndCorrupted(t *testing.T) {
	for _, v := range loadVectors(t) {
		for i := range v.bytes {
			if _, _, err := parseCopy(v.bytes[:i]); err != dynamixel.ErrShort {
				t.Errorf("%s[:%d]: err = %v, want ErrShort", v.name, i, err)
			}
		}
		// Any single flipped bit is caught.
		for i := range v.bytes {
			for bit := range 8 {
				b := bytes.Clone(v.bytes)
				b[i] ^= 1 << bit
				if _, _, err := dynamixel.ParsePacket(b); err == nil {
					t.Errorf("%s: bit %d of byte %d flipped, still parsed", v.name, bit, i)
				}
			}
		}
		// Trailing bytes are left alone.
		b := append(bytes.Clone(v.bytes), 0xFF, 0xFF, 0xFD, 0x00)
		if _, n, err := dynamixel.ParsePacket(b); err != nil || n != len(v.bytes) {
			t.Errorf("%s + trailer: n = %d, err = %v", v.name, n, err)
		}
	}
}

func TestParsePacketMaxSize(t *testing.T) {
	params := make([]byte, dynamixel.MaxPacket-10) // header 7 + INST + CRC 2
	for i := range params {
		params[i] = byte(i)
	}
	b := dynamixel.AppendWrite(nil, 1, 0, params[2:])
	if len(b) != dynamixel.MaxPacket {
		t.Fatalf("len = %d, want MaxPacket", len(b))
	}
	if _, n, err := parseCopy(b); err != nil || n != dynamixel.MaxPacket {
		t.Errorf("MaxPacket-sized packet: n = %d, err = %v", n, err)
	}
	b = dynamixel.AppendWrite(nil, 1, 0, params[1:])
	if _, _, err := parseCopy(b); err != dynamixel.ErrLength {
		t.Errorf("MaxPacket+1: err = %v, want ErrLength", err)
	}
}

func TestParsePacketInPlace(t *testing.T) {
	wire := vectorMap(t)["stuff_write_0254"]
	b := bytes.Clone(wire)
	p, _, err := dynamixel.ParsePacket(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x54, 0x02, 0xFF, 0xFF, 0xFD, 0x00}; !bytes.Equal(p.Params, want) {
		t.Errorf("Params = % X, want % X", p.Params, want)
	}
	if &p.Params[0] != &b[8] {
		t.Error("Params does not alias b")
	}
	if cap(p.Params) != len(p.Params) {
		t.Errorf("cap(Params) = %d, want %d: appending must not overwrite b", cap(p.Params), len(p.Params))
	}
}

func TestUnstuffLenient(t *testing.T) {
	// A sender that forgot to stuff: FF FF FD 00 with no extra FD, and a
	// trailing FF FF FD. The CRC is right, so the bytes are taken as they
	// are.
	b := rawPacket(1, 0x03, 0x74, 0x00, 0xFF, 0xFF, 0xFD, 0x00, 0xFF, 0xFF, 0xFD)
	p, _, err := parseCopy(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x74, 0x00, 0xFF, 0xFF, 0xFD, 0x00, 0xFF, 0xFF, 0xFD}; !bytes.Equal(p.Params, want) {
		t.Errorf("Params = % X, want % X", p.Params, want)
	}
}

func TestUnstuffCases(t *testing.T) {
	tests := []struct{ data, wire []byte }{
		{[]byte{0xFF, 0xFF, 0xFD}, []byte{0xFF, 0xFF, 0xFD, 0xFD}},
		{[]byte{0xFF, 0xFF, 0xFD, 0xFD}, []byte{0xFF, 0xFF, 0xFD, 0xFD, 0xFD}},
		{[]byte{0xFF, 0xFF, 0xFF, 0xFD}, []byte{0xFF, 0xFF, 0xFF, 0xFD, 0xFD}},
		{[]byte{0xFF, 0xFD, 0xFF, 0xFF}, []byte{0xFF, 0xFD, 0xFF, 0xFF}},
		{[]byte{0xFF, 0xFF, 0xFD, 0xFF, 0xFF, 0xFD}, []byte{0xFF, 0xFF, 0xFD, 0xFD, 0xFF, 0xFF, 0xFD, 0xFD}},
		{[]byte{0xFD, 0xFD, 0xFF, 0xFF}, []byte{0xFD, 0xFD, 0xFF, 0xFF}},
	}
	for _, tt := range tests {
		got := dynamixel.AppendWrite(nil, 1, 0x1234, tt.data)
		want := rawPacket(1, append([]byte{0x03, 0x34, 0x12}, tt.wire...)...)
		if !bytes.Equal(got, want) {
			t.Errorf("data % X:\n got %s\nwant %s", tt.data, fmtHex(got), fmtHex(want))
		}
		p, _, err := parseCopy(got)
		if err != nil || !bytes.Equal(p.Params[2:], tt.data) {
			t.Errorf("data % X: decoded % X, %v", tt.data, p.Params, err)
		}
	}
	// A sequence that spans the address and the data is stuffed too.
	got := dynamixel.AppendWrite(nil, 1, 0xFFFF, []byte{0xFD, 0x01})
	if want := rawPacket(1, 0x03, 0xFF, 0xFF, 0xFD, 0xFD, 0x01); !bytes.Equal(got, want) {
		t.Errorf("address FFFF + FD:\n got %s\nwant %s", fmtHex(got), fmtHex(want))
	}
	// So is one that spans an ID and the data of a SYNC WRITE.
	got = dynamixel.AppendSyncWrite(nil, 0x10, 2, []byte{0xFF, 0x01}, []byte{0xFF, 0xFD, 0x00, 0x00})
	if want := rawPacket(0xFE, 0x83, 0x10, 0x00, 0x02, 0x00, 0xFF, 0xFF, 0xFD, 0xFD, 0x01, 0x00, 0x00); !bytes.Equal(got, want) {
		t.Errorf("sync write:\n got %s\nwant %s", fmtHex(got), fmtHex(want))
	}
}

func TestStuffingModes(t *testing.T) {
	// A fast reply whose data holds FF FF FD FD: sent raw, so StuffingAuto
	// must leave it, and StuffingAlways removes one FD.
	data := []byte{0xFF, 0xFF, 0xFD, 0xFD}
	wire := dynamixel.AppendFastStatus(nil, []dynamixel.FastRecord{{ID: 1, Data: data}})
	if want := rawPacket(0xFE, append([]byte{0x55, 0x00, 0x01}, data...)...); !bytes.Equal(wire, want) {
		t.Fatalf("fast status was stuffed:\n got %s\nwant %s", fmtHex(wire), fmtHex(want))
	}
	for _, tt := range []struct {
		s    dynamixel.Stuffing
		want []byte
	}{
		{dynamixel.StuffingAuto, []byte{0x01, 0xFF, 0xFF, 0xFD, 0xFD}},
		{dynamixel.StuffingNever, []byte{0x01, 0xFF, 0xFF, 0xFD, 0xFD}},
		{dynamixel.StuffingAlways, []byte{0x01, 0xFF, 0xFF, 0xFD}},
	} {
		p, _, err := dynamixel.ParsePacketWith(bytes.Clone(wire), tt.s)
		if err != nil || !bytes.Equal(p.Params, tt.want) {
			t.Errorf("stuffing %d: % X, %v; want % X", tt.s, p.Params, err, tt.want)
		}
	}
	// An ordinary status is stuffed, and StuffingNever shows the wire form.
	wire = dynamixel.AppendStatus(nil, 1, 0, data)
	p, _, _ := dynamixel.ParsePacketWith(bytes.Clone(wire), dynamixel.StuffingNever)
	if want := []byte{0xFF, 0xFF, 0xFD, 0xFD, 0xFD}; !bytes.Equal(p.Params, want) {
		t.Errorf("StuffingNever: % X, want % X", p.Params, want)
	}
}

func TestStatusErrByte(t *testing.T) {
	tests := []struct {
		err   byte
		alert bool
		num   dynamixel.ErrorNumber
		str   string
	}{
		{0x00, false, 0, "no error"},
		{0x80, true, 0, "no error"},
		{0x01, false, dynamixel.ErrNumResultFail, "result fail"},
		{0x02, false, dynamixel.ErrNumInstruction, "instruction error"},
		{0x03, false, dynamixel.ErrNumCRC, "crc error"},
		{0x04, false, dynamixel.ErrNumDataRange, "data range error"},
		{0x05, false, dynamixel.ErrNumDataLength, "data length error"},
		{0x06, false, dynamixel.ErrNumDataLimit, "data limit error"},
		{0x87, true, dynamixel.ErrNumAccess, "access error"},
		{0x2A, false, 0x2A, "error 0x2A"},
	}
	for _, tt := range tests {
		p := dynamixel.Packet{Instruction: dynamixel.Status, Err: tt.err}
		r := dynamixel.FastRecord{Err: tt.err}
		if p.Alert() != tt.alert || r.Alert() != tt.alert {
			t.Errorf("%#02x: Alert = %v", tt.err, p.Alert())
		}
		if p.ErrNum() != tt.num || r.ErrNum() != tt.num {
			t.Errorf("%#02x: ErrNum = %v, want %v", tt.err, p.ErrNum(), tt.num)
		}
		if s := p.ErrNum().String(); s != tt.str {
			t.Errorf("%#02x: String = %q, want %q", tt.err, s, tt.str)
		}
		err := p.StatusError()
		if (err == nil) != (tt.num == 0) || (r.StatusError() == nil) != (tt.num == 0) {
			t.Errorf("%#02x: StatusError = %v", tt.err, err)
		}
		if err != nil && !errors.Is(err, tt.num) {
			t.Errorf("%#02x: errors.Is(%v, %v) = false", tt.err, err, tt.num)
		}
	}
	if got := dynamixel.ErrNumAccess.Error(); got != "dynamixel: device reported access error" {
		t.Errorf("Error() = %q", got)
	}
}

func TestInstructionString(t *testing.T) {
	for inst, want := range map[dynamixel.Instruction]string{
		dynamixel.Ping: "PING", dynamixel.SyncWrite: "SYNC_WRITE", dynamixel.FastBulkRead: "FAST_BULK_READ",
		dynamixel.Status: "STATUS", dynamixel.ControlTableBackup: "CONTROL_TABLE_BACKUP", 0x07: "INST_0x07",
	} {
		if got := inst.String(); got != want {
			t.Errorf("%#02x.String() = %q, want %q", byte(inst), got, want)
		}
	}
}

func TestLittleEndian(t *testing.T) {
	b := []byte{0xFE, 0xFF, 0xFF, 0xFF}
	if dynamixel.Int32(b) != -2 || dynamixel.Uint32(b) != 0xFFFFFFFE || dynamixel.Int16(b) != -2 || dynamixel.Uint16(b) != 0xFFFE {
		t.Errorf("getters: %d %#x %d %#x", dynamixel.Int32(b), dynamixel.Uint32(b), dynamixel.Int16(b), dynamixel.Uint16(b))
	}
	var c [4]byte
	dynamixel.PutUint32(c[:], uint32(2079))
	if c != [4]byte{0x1F, 0x08, 0, 0} {
		t.Errorf("PutUint32 = % X", c)
	}
	dynamixel.PutUint16(c[:], 0x0406)
	if c[0] != 0x06 || c[1] != 0x04 {
		t.Errorf("PutUint16 = % X", c)
	}
	if got := dynamixel.AppendUint16(dynamixel.AppendUint32(nil, 0x01020304), 0x0506); !bytes.Equal(got, []byte{4, 3, 2, 1, 6, 5}) {
		t.Errorf("Append = % X", got)
	}
}

func TestAppendPanics(t *testing.T) {
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	mustPanic("sync write short data", func() { dynamixel.AppendSyncWrite(nil, 116, 4, []byte{1, 2}, make([]byte, 7)) })
	mustPanic("fast status without records", func() { dynamixel.AppendFastStatus(nil, nil) })
	mustPanic("write over 0xFFFF", func() { dynamixel.AppendWrite(nil, 1, 0, make([]byte, 0xFFFF)) })
	mustPanic("bulk write over 0xFFFF", func() {
		dynamixel.AppendBulkWrite(nil, []dynamixel.BulkWriteReq{{ID: 1, Data: make([]byte, 0x10000)}})
	})
}
