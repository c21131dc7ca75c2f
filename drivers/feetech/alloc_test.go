package feetech

import "testing"

// The per-tick work of an SO-101 arm: one SYNC_WRITE of six goal positions
// and six SYNC_READ replies. Both must run without allocating.

var motorIDs = [6]byte{1, 2, 3, 4, 5, 6}

// syncWrite6 encodes goals into data and builds the SYNC_WRITE in buf.
func syncWrite6(buf []byte, data *[12]byte, goals *[6]int) []byte {
	for i, g := range goals {
		PutUint16(data[2*i:], EncodeSignMagnitude(g, 15))
	}
	return AppendSyncWrite(buf[:0], GoalPosition.Addr(), GoalPosition.Size(), motorIDs[:], data[:])
}

// statusReplies6 is the byte stream six servos send for a SYNC_READ of
// Present_Position.
func statusReplies6() []byte {
	var b []byte
	for i, id := range motorIDs {
		b = AppendStatus(b, id, 0, PresentPosition.Append(nil, 1000+100*i))
	}
	return b
}

// decodeStatus6 feeds stream to d and decodes six positions into pos.
func decodeStatus6(d *Decoder, stream []byte, pos *[6]int) error {
	if _, err := d.Write(stream); err != nil {
		return err
	}
	for i := range pos {
		p, err := d.Next()
		if err != nil {
			return err
		}
		if p.ID != motorIDs[i] || p.Err != 0 {
			return StatusError(p.Err)
		}
		pos[i] = PresentPosition.Decode(p.Params)
	}
	return nil
}

func TestSyncWrite6NoAlloc(t *testing.T) {
	var buf [MaxPacket]byte
	var data [12]byte
	goals := [6]int{2048, 1024, -5, 4095, 0, 3000}
	var out []byte
	allocs := testing.AllocsPerRun(1000, func() {
		out = syncWrite6(buf[:], &data, &goals)
	})
	if allocs != 0 {
		t.Errorf("SYNC_WRITE of 6 motors: %v allocs/op", allocs)
	}
	if len(out) != PacketLen(2+6*3) {
		t.Errorf("len %d", len(out))
	}
	p, _, err := ParsePacket(out, false)
	if err != nil || p.Instruction != SyncWrite || GoalPosition.Decode(p.Params[2+3*2+1:]) != -5 {
		t.Errorf("%+v %v", p, err)
	}
}

func TestDecodeStatus6NoAlloc(t *testing.T) {
	stream := statusReplies6()
	d := &Decoder{Status: true}
	var pos [6]int
	var err error
	allocs := testing.AllocsPerRun(1000, func() {
		err = decodeStatus6(d, stream, &pos)
	})
	if err != nil {
		t.Fatal(err)
	}
	if allocs != 0 {
		t.Errorf("decoding 6 status packets: %v allocs/op", allocs)
	}
	if pos != [6]int{1000, 1100, 1200, 1300, 1400, 1500} {
		t.Errorf("positions %v", pos)
	}
}

func BenchmarkSyncWrite6(b *testing.B) {
	var buf [MaxPacket]byte
	var data [12]byte
	goals := [6]int{2048, 1024, -5, 4095, 0, 3000}
	b.ReportAllocs()
	b.SetBytes(int64(PacketLen(2 + 6*3)))
	for b.Loop() {
		syncWrite6(buf[:], &data, &goals)
	}
}

func BenchmarkDecodeStatus6(b *testing.B) {
	stream := statusReplies6()
	d := &Decoder{Status: true}
	var pos [6]int
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		if err := decodeStatus6(d, stream, &pos); err != nil {
			b.Fatal(err)
		}
	}
}
