package feetech

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// vector is one line of testdata/vectors.txt.
type vector struct {
	name, section string
	status        bool
	bytes         []byte
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	f, err := os.Open("testdata/vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var vs []vector
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) < 4 || (fields[2] != "inst" && fields[2] != "status") {
			t.Fatalf("vectors.txt:%d: malformed line %q", line, text)
		}
		b, err := hex.DecodeString(strings.Join(fields[3:], ""))
		if err != nil {
			t.Fatalf("vectors.txt:%d: %v", line, err)
		}
		vs = append(vs, vector{fields[0], fields[1], fields[2] == "status", b})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	return vs
}

func rep(b []byte, n int) []byte { return bytes.Repeat(b, n) }

// encoders rebuild each fixture with the public encoders, the way a bus
// driver or the firmware would.
var encoders = map[string]func(dst []byte) []byte{
	"ping-id1":       func(d []byte) []byte { return AppendPing(d, 1) },
	"ping-id1-reply": func(d []byte) []byte { return AppendStatus(d, 1, 0, nil) },
	"read-id1-present-position": func(d []byte) []byte {
		return AppendRead(d, 1, PresentPosition.Addr(), PresentPosition.Size())
	},
	"read-id1-reply-0x0518": func(d []byte) []byte {
		return AppendStatus(d, 1, 0, PresentPosition.Append(nil, 0x0518))
	},
	"write-broadcast-id-1": func(d []byte) []byte { return AppendWrite(d, BroadcastID, ID.Addr(), []byte{1}) },
	"write-id1-pos-time-speed": func(d []byte) []byte {
		v := GoalPosition.Append(nil, 0x0800)
		v = GoalTime.Append(v, 0)
		v = GoalVelocity.Append(v, 1000)
		return AppendWrite(d, 1, GoalPosition.Addr(), v)
	},
	"action-broadcast": func(d []byte) []byte { return AppendAction(d) },
	"reset-id1-v101":   func(d []byte) []byte { return AppendReset(d, 1) },
	"sync-write-ids1-4": func(d []byte) []byte {
		return AppendSyncWrite(d, 0x2A, 6, []byte{1, 2, 3, 4}, rep([]byte{0x00, 0x08, 0x00, 0x00, 0xE8, 0x03}, 4))
	},
	"sync-read-replies": func(d []byte) []byte {
		d = AppendStatus(d, 1, 0, AppendUint16(nil, 2048))
		return AppendStatus(d, 2, 0, AppendUint16(nil, 1024))
	},
	"sync-read-pos-ids1-6": func(d []byte) []byte {
		return AppendSyncRead(d, PresentPosition.Addr(), PresentPosition.Size(), []byte{1, 2, 3, 4, 5, 6})
	},
	"torque-enable-id1":      func(d []byte) []byte { return AppendWrite(d, 1, TorqueEnable.Addr(), []byte{1}) },
	"goal-position-2048-id1": func(d []byte) []byte { return AppendWrite(d, 1, GoalPosition.Addr(), GoalPosition.Append(nil, 2048)) },
	"rustypot-sync-read":     func(d []byte) []byte { return AppendSyncRead(d, 30, 2, []byte{11, 12}) },
	"rustypot-sync-write": func(d []byte) []byte {
		return AppendSyncWrite(d, 30, 2, []byte{11, 12}, []byte{0x00, 0x00, 0x0A, 0x14})
	},
	"dxl-read-temperature":     func(d []byte) []byte { return AppendRead(d, 1, 43, 1) },
	"dxl-read-temperature-rep": func(d []byte) []byte { return AppendStatus(d, 1, 0, []byte{0x20}) },
	"dxl-broadcast-set-id":     func(d []byte) []byte { return AppendWrite(d, BroadcastID, 3, []byte{1}) },
	"dxl-reg-write":            func(d []byte) []byte { return AppendRegWrite(d, 1, 0x1E, AppendUint16(nil, 500)) },
	"dxl-reset-id0":            func(d []byte) []byte { return AppendReset(d, 0) },
	"dxl-sync-write": func(d []byte) []byte {
		return AppendSyncWrite(d, 0x1E, 4, []byte{0, 1}, []byte{0x10, 0x00, 0x50, 0x01, 0x20, 0x02, 0x60, 0x03})
	},
	"dxl-bulk-read": func(d []byte) []byte {
		return AppendInstruction(d, BroadcastID, Instruction(0x92), []byte{0x00, 2, 1, 0x1E, 2, 2, 0x24})
	},
	"dxl-bulk-read-replies": func(d []byte) []byte {
		d = AppendStatus(d, 1, 0, []byte{0x00, 0x80})
		return AppendStatus(d, 2, 0, []byte{0x00, 0x80})
	},
	"dxl-checksum-example":    func(d []byte) []byte { return AppendWrite(d, 1, 0x0C, []byte{0x64, 0xAA}) },
	"dxl-error-overload-heat": func(d []byte) []byte { return AppendStatus(d, 1, byte(StatusOverload|StatusOverheat), nil) },
}

func TestVectorsEncode(t *testing.T) {
	seen41 := 0
	for _, v := range loadVectors(t) {
		if v.section == "4.1" {
			seen41++
		}
		enc, ok := encoders[v.name]
		if !ok {
			t.Errorf("%s: no encoder for this vector", v.name)
			continue
		}
		// Appending after a prefix must leave the prefix alone.
		prefix := []byte{0xAA, 0x55}
		got := enc(append([]byte(nil), prefix...))
		if !bytes.Equal(got[:2], prefix) || !bytes.Equal(got[2:], v.bytes) {
			t.Errorf("%s:\n got % X\nwant % X", v.name, got[2:], v.bytes)
		}
	}
	if seen41 < 14 {
		t.Errorf("only %d §4.1 vectors in testdata/vectors.txt", seen41)
	}
}

func TestVectorsDecode(t *testing.T) {
	for _, v := range loadVectors(t) {
		// ParsePacket, frame by frame, then re-encode from the parsed fields.
		var pkts []Packet
		var again []byte
		for b := v.bytes; len(b) > 0; {
			p, n, err := ParsePacket(b, v.status)
			if err != nil {
				t.Fatalf("%s: ParsePacket: %v", v.name, err)
			}
			if n != PacketLen(len(p.Params)) {
				t.Errorf("%s: n = %d, want %d", v.name, n, PacketLen(len(p.Params)))
			}
			if v.status {
				again = AppendStatus(again, p.ID, p.Err, p.Params)
			} else {
				again = AppendInstruction(again, p.ID, p.Instruction, p.Params)
			}
			pkts = append(pkts, p)
			b = b[n:]
		}
		if !bytes.Equal(again, v.bytes) {
			t.Errorf("%s: re-encoded % X, want % X", v.name, again, v.bytes)
		}
		// The streaming decoder, fed one byte at a time, sees the same frames.
		d := Decoder{Status: v.status}
		var got []Packet
		for i := range v.bytes {
			d.Write(v.bytes[i : i+1])
			for {
				p, err := d.Next()
				if err == ErrNeedMore {
					break
				}
				if err != nil {
					t.Fatalf("%s: Next: %v", v.name, err)
				}
				p.Params = append([]byte(nil), p.Params...)
				got = append(got, p)
			}
		}
		if !samePackets(got, pkts) {
			t.Errorf("%s: decoder got %v, want %v", v.name, got, pkts)
		}
		if s := d.Stats(); s.Garbage != 0 || s.ChecksumErrors != 0 || s.LengthErrors != 0 {
			t.Errorf("%s: stats %+v", v.name, s)
		}
	}
}

// TestVectorsMeaning checks the decoded fields of a few vectors against what
// the spec says they mean.
func TestVectorsMeaning(t *testing.T) {
	vs := map[string][]byte{}
	for _, v := range loadVectors(t) {
		vs[v.name] = v.bytes
	}
	p, _, _ := ParsePacket(vs["read-id1-reply-0x0518"], true)
	if p.ID != 1 || p.Err != 0 || PresentPosition.Decode(p.Params) != 0x0518 {
		t.Errorf("read reply: %+v", p)
	}
	p, _, _ = ParsePacket(vs["write-id1-pos-time-speed"], false)
	if p.Instruction != Write || p.Params[0] != GoalPosition.Addr() ||
		GoalPosition.Decode(p.Params[1:]) != 2048 || GoalTime.Decode(p.Params[3:]) != 0 ||
		GoalVelocity.Decode(p.Params[5:]) != 1000 {
		t.Errorf("write: %+v", p)
	}
	p, _, _ = ParsePacket(vs["dxl-error-overload-heat"], true)
	if e := StatusError(p.Err); !e.Has(StatusOverload|StatusOverheat) || e.String() != "overheat|overload" {
		t.Errorf("error byte %#x = %v", p.Err, e)
	}
	p, _, _ = ParsePacket(vs["sync-read-pos-ids1-6"], false)
	if p.ID != BroadcastID || p.Instruction != SyncRead || !bytes.Equal(p.Params, []byte{56, 2, 1, 2, 3, 4, 5, 6}) {
		t.Errorf("sync read: %+v", p)
	}
}

func samePackets(a, b []Packet) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].Instruction != b[i].Instruction || a[i].Err != b[i].Err ||
			!bytes.Equal(a[i].Params, b[i].Params) {
			return false
		}
	}
	return true
}

func TestChecksum(t *testing.T) {
	if got := Checksum(nil); got != 0xFF {
		t.Errorf("Checksum(nil) = %#x", got)
	}
	// ID 1, LEN 2, PING: ^(1+2+1) = 0xFB.
	if got := Checksum([]byte{1, 2, 1}); got != 0xFB {
		t.Errorf("Checksum = %#x, want 0xFB", got)
	}
	// Overflow wraps: 0xFF+0x02 = 0x101 → 0x01 → ^ = 0xFE.
	if got := Checksum([]byte{0xFF, 0x02}); got != 0xFE {
		t.Errorf("Checksum = %#x, want 0xFE", got)
	}
}

// randomFrame returns random frame fields: an ID other than 0xFF, any slot
// byte and 0…MaxParams params, often with FF FF (and FF FF FF) inside.
func randomFrame(r *rand.Rand) (id, slot byte, params []byte) {
	id = byte(r.IntN(0xFF))
	slot = byte(r.IntN(256))
	n := r.IntN(MaxParams + 1)
	if r.IntN(2) == 0 {
		n = r.IntN(16)
	}
	params = make([]byte, n)
	for i := range params {
		params[i] = byte(r.IntN(256))
	}
	for k := r.IntN(4); k > 0 && n >= 3; k-- {
		i := r.IntN(n - 2)
		params[i], params[i+1] = 0xFF, 0xFF
		if r.IntN(2) == 0 {
			params[i+2] = 0xFF
		}
	}
	return id, slot, params
}

func TestEncodeDecodeProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 0, MaxPacket)
	for i := 0; i < 20000; i++ {
		id, slot, params := randomFrame(r)
		status := i%2 == 1
		var b []byte
		if status {
			b = AppendStatus(buf[:0], id, slot, params)
		} else {
			b = AppendInstruction(buf[:0], id, Instruction(slot), params)
		}
		if len(b) != PacketLen(len(params)) || cap(b) != MaxPacket {
			t.Fatalf("len %d cap %d for %d params", len(b), cap(b), len(params))
		}
		p, n, err := ParsePacket(b, status)
		if err != nil || n != len(b) {
			t.Fatalf("ParsePacket(% X) = %v, %d", b, err, n)
		}
		want := Packet{ID: id, Params: params}
		if status {
			want.Err = slot
		} else {
			want.Instruction = Instruction(slot)
		}
		if !samePackets([]Packet{p}, []Packet{want}) {
			t.Fatalf("got %+v want %+v", p, want)
		}
		if cap(p.Params) != len(p.Params) {
			t.Fatalf("Params capacity %d leaks past the frame", cap(p.Params))
		}
		// A trailing byte of the next frame does not change the result.
		b2 := append(b, 0xFF)
		if _, n2, err := ParsePacket(b2, status); err != nil || n2 != n {
			t.Fatalf("with trailing byte: %v, %d", err, n2)
		}
		// Any single-bit flip in ID, slot, params or checksum is caught: it
		// changes the sum by ±2^k, never 0 mod 256. (A flip of LEN moves
		// the frame end, and the checksum then matches by chance 1 in 256.)
		j := 2 + r.IntN(len(b)-2)
		if j == 3 {
			j = 2
		}
		bit := byte(1) << r.IntN(8)
		b[j] ^= bit
		if _, _, err := ParsePacket(b, status); err == nil {
			t.Fatalf("bit flip at %d of % X not detected", j, b)
		}
		b[j] ^= bit
		// Every truncation asks for more data.
		k := r.IntN(len(b))
		if _, n, err := ParsePacket(b[:k], status); err != ErrNeedMore || n != 0 {
			t.Fatalf("truncated to %d: %v, %d", k, err, n)
		}
	}
}

func TestParsePacketErrors(t *testing.T) {
	good := AppendPing(nil, 1)
	bad := append([]byte(nil), good...)
	bad[len(bad)-1]++
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrNeedMore},
		{"one FF", []byte{0xFF}, ErrNeedMore},
		{"header only", []byte{0xFF, 0xFF}, ErrNeedMore},
		{"no LEN", []byte{0xFF, 0xFF, 0x01}, ErrNeedMore},
		{"no body", []byte{0xFF, 0xFF, 0x01, 0x02}, ErrNeedMore},
		{"truncated", good[:5], ErrNeedMore},
		{"noise", []byte{0x00, 0xFF, 0xFF, 0x01, 0x02, 0x01, 0xFB}, ErrHeader},
		{"half header", []byte{0xFF, 0x01, 0x02}, ErrHeader},
		{"id FF", []byte{0xFF, 0xFF, 0xFF, 0x01, 0x02, 0x01, 0xFB}, ErrBadID},
		{"len 0", []byte{0xFF, 0xFF, 0x01, 0x00, 0xFE}, ErrBadLength},
		{"len 1", []byte{0xFF, 0xFF, 0x01, 0x01, 0xFD, 0x00}, ErrBadLength},
		{"checksum", bad, ErrChecksum},
	}
	for _, tt := range tests {
		p, n, err := ParsePacket(tt.in, true)
		if err != tt.want || n != 0 || p.Params != nil {
			t.Errorf("%s: got %v, %d, %+v; want %v", tt.name, err, n, p, tt.want)
		}
	}
}

func TestLargestPacket(t *testing.T) {
	params := rep([]byte{0xFF}, MaxParams)
	b := AppendInstruction(nil, 7, Write, params)
	if len(b) != MaxPacket || b[3] != 0xFF {
		t.Fatalf("len %d LEN %#x", len(b), b[3])
	}
	p, n, err := ParsePacket(b, false)
	if err != nil || n != MaxPacket || len(p.Params) != MaxParams {
		t.Fatalf("%v %d %d", err, n, len(p.Params))
	}
	// The largest SYNC_WRITE: 2 + 63*(3+1) = 254 > 253, so 63 motors of
	// 3 bytes do not fit; 62 do.
	ids := make([]byte, 62)
	if got := len(AppendSyncWrite(nil, 0, 3, ids, make([]byte, 62*3))); got != PacketLen(2+62*4) {
		t.Errorf("sync write len %d", got)
	}
	mustPanic(t, ErrTooLong, func() { AppendSyncWrite(nil, 0, 3, make([]byte, 63), make([]byte, 63*3)) })
}

func mustPanic(t *testing.T, want error, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if err, _ := r.(error); !errors.Is(err, want) {
			t.Errorf("panic %v, want %v", r, want)
		}
	}()
	f()
}

func TestEncoderPanics(t *testing.T) {
	mustPanic(t, ErrTooLong, func() { AppendInstruction(nil, 1, Write, make([]byte, MaxParams+1)) })
	mustPanic(t, ErrTooLong, func() { AppendWrite(nil, 1, 0, make([]byte, MaxParams)) })
	mustPanic(t, ErrTooLong, func() { AppendStatus(nil, 1, 0, make([]byte, MaxParams+1)) })
	mustPanic(t, ErrTooLong, func() { AppendSyncRead(nil, 0, 2, make([]byte, MaxParams-1)) })
	mustPanic(t, ErrBadID, func() { AppendPing(nil, 0xFF) })
	mustPanic(t, ErrBadID, func() { AppendStatus(nil, 0xFF, 0, nil) })
	mustPanic(t, ErrSyncData, func() { AppendSyncWrite(nil, 42, 2, []byte{1, 2}, make([]byte, 3)) })
	// The largest legal sizes do not panic.
	AppendWrite(nil, 1, 0, make([]byte, MaxParams-1))
	AppendSyncRead(nil, 0, 2, make([]byte, MaxParams-2))
}

func TestInstructionString(t *testing.T) {
	for inst, want := range map[Instruction]string{
		Ping: "PING", Read: "READ", Write: "WRITE", RegWrite: "REG_WRITE", Action: "ACTION",
		Reset: "RESET", SyncRead: "SYNC_READ", SyncWrite: "SYNC_WRITE", ResetSDK: "RESET(0x0A)",
		OffsetCalibration: "OFSCAL", 0x92: "INST(0x92)",
	} {
		if got := inst.String(); got != want {
			t.Errorf("%#x: %q, want %q", byte(inst), got, want)
		}
	}
}

func TestStatusError(t *testing.T) {
	tests := []struct {
		s    StatusError
		want string
	}{
		{0, "ok"},
		{StatusVoltage, "voltage"},
		{StatusAngle, "angle"},
		{StatusOverheat, "overheat"},
		{StatusOvercurrent, "overcurrent"},
		{StatusOverload, "overload"},
		{0xFF, "voltage|angle|overheat|overcurrent|0x10|overload|0x40|0x80"},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("%#x: %q, want %q", byte(tt.s), got, tt.want)
		}
	}
	var err error = StatusOverload | StatusVoltage
	if err.Error() != "feetech: servo fault: voltage|overload" {
		t.Errorf("Error() = %q", err.Error())
	}
	var se StatusError
	if !errors.As(err, &se) || !se.Has(StatusOverload) || se.Has(StatusOverheat) {
		t.Errorf("errors.As: %v", se)
	}
}
