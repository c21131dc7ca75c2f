package feetech

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// result is what draining a Decoder produced.
type result struct {
	pkts  []Packet
	errs  []error // non-ErrNeedMore errors, in order
	bytes int     // total length of the returned frames
}

// drain calls Next until ErrNeedMore, copying Params out of the decoder.
func drain(d *Decoder, r *result) {
	for {
		p, err := d.Next()
		if err == ErrNeedMore {
			return
		}
		if err != nil {
			r.errs = append(r.errs, err)
			continue
		}
		p.Params = append([]byte{}, p.Params...)
		r.pkts = append(r.pkts, p)
		r.bytes += PacketLen(len(p.Params))
	}
}

// feed writes stream in chunks of the given sizes (cycled), draining after
// each write, and checks the byte accounting invariant throughout.
func feed(t testing.TB, status bool, stream []byte, chunks ...int) (result, DecoderStats) {
	t.Helper()
	d := Decoder{Status: status}
	var r result
	written, stuck := 0, 0
	for i := 0; written < len(stream); i++ {
		n := len(stream) - written
		if len(chunks) > 0 && chunks[i%len(chunks)] < n {
			n = chunks[i%len(chunks)]
		}
		m, err := d.Write(stream[written : written+n])
		if err != nil && err != ErrBufferFull {
			t.Fatalf("Write: %v", err)
		}
		written += m
		if stuck = stuck + 1; m > 0 {
			stuck = 0
		}
		if stuck > 1 {
			t.Fatalf("no progress: buffer full with %d bytes", d.Buffered())
		}
		drain(&d, &r)
		s := d.Stats()
		if uint64(written) != uint64(r.bytes)+s.Garbage+uint64(d.Buffered()) {
			t.Fatalf("accounting: written %d != packets %d + garbage %d + buffered %d",
				written, r.bytes, s.Garbage, d.Buffered())
		}
		if s.Packets != uint64(len(r.pkts)) || s.ChecksumErrors+s.LengthErrors != uint64(len(r.errs)) {
			t.Fatalf("stats %+v vs %d packets, %d errors", s, len(r.pkts), len(r.errs))
		}
	}
	return r, d.Stats()
}

func statusPkt(id byte, pos int) []byte {
	return AppendStatus(nil, id, 0, PresentPosition.Append(nil, pos))
}

func TestDecoderGarbageBeforeAndBetween(t *testing.T) {
	var stream []byte
	var want []Packet
	noise := []byte{0x00, 0x13, 0xFE, 0x42, 0x7F, 0x80, 0xFE, 0xFE}
	for i := byte(1); i <= 6; i++ {
		stream = append(stream, noise[:i]...)
		stream = append(stream, statusPkt(i, int(i)*100)...)
		want = append(want, Packet{ID: i, Params: PresentPosition.Append(nil, int(i)*100)})
	}
	stream = append(stream, noise...) // trailing noise
	r, s := feed(t, true, stream)
	if !samePackets(r.pkts, want) || len(r.errs) != 0 {
		t.Fatalf("got %v %v", r.pkts, r.errs)
	}
	if want := uint64(1 + 2 + 3 + 4 + 5 + 6 + len(noise)); s.Garbage != want {
		t.Errorf("garbage %d, want %d", s.Garbage, want)
	}
}

// TestDecoderTraps feeds a real frame behind each kind of false start.
func TestDecoderTraps(t *testing.T) {
	ping := AppendStatus(nil, 1, 0, nil) // FF FF 01 02 00 FC
	want := []Packet{{ID: 1, Params: []byte{}}}
	tests := []struct {
		name    string
		prefix  []byte
		errs    []error
		garbage uint64
	}{
		{"lone FF", []byte{0xFF}, nil, 1},
		{"FF FF FF", []byte{0xFF, 0xFF, 0xFF}, nil, 3},
		{"FF x FF", []byte{0xFF, 0x00, 0xFF}, nil, 3},
		{"len 0", []byte{0xFF, 0xFF, 0x01, 0x00}, []error{ErrBadLength}, 4},
		{"len 1", []byte{0xFF, 0xFF, 0x01, 0x01}, []error{ErrBadLength}, 4},
		// A false header whose LEN reaches into the real frame: its checksum
		// fails, the decoder skips one byte and finds the real header.
		{"overlapping bad checksum", []byte{0xFF, 0xFF, 0x01, 0x03}, []error{ErrChecksum}, 4},
		{"two overlapping", []byte{0xFF, 0xFF, 0x05, 0x04, 0xFF, 0xFF, 0x01, 0x02}, []error{ErrChecksum, ErrChecksum}, 8},
		// A complete frame with a corrupt checksum, then a good one.
		{"bad checksum then good", []byte{0xFF, 0xFF, 0x01, 0x02, 0x00, 0xFD}, []error{ErrChecksum}, 6},
	}
	for _, tt := range tests {
		stream := append(append([]byte{}, tt.prefix...), ping...)
		for _, chunk := range []int{0, 1, 2, 3} {
			var r result
			var s DecoderStats
			if chunk == 0 {
				r, s = feed(t, true, stream)
			} else {
				r, s = feed(t, true, stream, chunk)
			}
			if !samePackets(r.pkts, want) || !sameErrs(r.errs, tt.errs) || s.Garbage != tt.garbage {
				t.Errorf("%s (chunk %d): got %v errs %v garbage %d; want errs %v garbage %d",
					tt.name, chunk, r.pkts, r.errs, s.Garbage, tt.errs, tt.garbage)
			}
		}
	}
}

func sameErrs(a, b []error) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// mixedStream builds packets with noise, FF runs and false headers between
// them, plus one frame with FF FF inside its params.
func mixedStream() (stream []byte, want []Packet) {
	traps := [][]byte{
		nil,
		{0x00, 0x01, 0x02},
		{0xFF},
		{0xFF, 0xFF, 0xFF},
		{0xFF, 0xFF, 0x03, 0x00},
		{0xFF, 0xFF, 0x03, 0x01},
		{0xFF, 0xFF, 0x02, 0x05, 0x00},
		{0xFF, 0xFF, 0x01, 0x02, 0x00, 0x00}, // bad checksum
	}
	add := func(id byte, params []byte) {
		stream = AppendStatus(stream, id, 0, params)
		want = append(want, Packet{ID: id, Params: params})
	}
	for i, tr := range traps {
		stream = append(stream, tr...)
		add(byte(i+1), PresentPosition.Append(nil, 1000+i))
	}
	add(9, []byte{0xFF, 0xFF, 0x01, 0x02, 0x00, 0xFC, 0xFF}) // a whole frame inside params
	add(10, []byte{})
	return stream, want
}

func TestDecoderSplitAtEveryByte(t *testing.T) {
	stream, want := mixedStream()
	whole, ws := feed(t, true, stream)
	if !samePackets(whole.pkts, want) {
		t.Fatalf("whole stream: got %v\nwant %v", whole.pkts, want)
	}
	for k := 0; k <= len(stream); k++ {
		d := Decoder{Status: true}
		var r result
		d.Write(stream[:k])
		drain(&d, &r)
		d.Write(stream[k:])
		drain(&d, &r)
		if !samePackets(r.pkts, want) || !sameErrs(r.errs, whole.errs) || d.Stats() != ws {
			t.Fatalf("split at %d: got %v errs %v stats %+v", k, r.pkts, r.errs, d.Stats())
		}
	}
	for chunk := 1; chunk <= 17; chunk++ {
		r, s := feed(t, true, stream, chunk)
		if !samePackets(r.pkts, want) || !sameErrs(r.errs, whole.errs) || s != ws {
			t.Fatalf("chunks of %d: got %v errs %v", chunk, r.pkts, r.errs)
		}
	}
}

// TestDecoderRandomStreams: frames with random params (FF FF inside
// included) and random noise without FF bytes between them are all
// recovered, however the stream is split.
func TestDecoderRandomStreams(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 200; round++ {
		var stream []byte
		var want []Packet
		for i := 0; i < 1+r.IntN(12); i++ {
			for g := r.IntN(8); g > 0; g-- {
				stream = append(stream, byte(r.IntN(0xFF)))
			}
			id, slot, params := randomFrame(r)
			stream = AppendInstruction(stream, id, Instruction(slot), params)
			want = append(want, Packet{ID: id, Instruction: Instruction(slot), Params: params})
		}
		chunks := []int{1 + r.IntN(300), 1 + r.IntN(7), 1 + r.IntN(64)}
		got, s := feed(t, false, stream, chunks...)
		if !samePackets(got.pkts, want) || len(got.errs) != 0 {
			t.Fatalf("round %d: %d packets, errs %v; want %d", round, len(got.pkts), got.errs, len(want))
		}
		if s.Overflows != 0 {
			t.Fatalf("round %d: overflow with draining", round)
		}
	}
}

// TestDecoderBogusLongLength: a false header claiming the longest frame
// delays the frames behind it until enough bytes arrive, but loses none.
func TestDecoderBogusLongLength(t *testing.T) {
	stream := []byte{0xFF, 0xFF, 0x01, 0xFF}
	var want []Packet
	for i := 0; len(stream) < 2*MaxPacket; i++ {
		id := byte(i%6 + 1)
		stream = append(stream, statusPkt(id, i)...)
		want = append(want, Packet{ID: id, Params: PresentPosition.Append(nil, i)})
	}
	d := Decoder{Status: true}
	var r result
	d.Write(stream[:MaxPacket-1])
	drain(&d, &r)
	if len(r.pkts) != 0 || len(r.errs) != 0 {
		t.Fatalf("decoded before the false frame was complete: %v %v", r.pkts, r.errs)
	}
	for rest := stream[MaxPacket-1:]; len(rest) > 0; {
		m, _ := d.Write(rest)
		rest = rest[m:]
		drain(&d, &r)
	}
	if !samePackets(r.pkts, want) || !sameErrs(r.errs, []error{ErrChecksum}) {
		t.Fatalf("got %d packets errs %v, want %d", len(r.pkts), r.errs, len(want))
	}
}

func TestDecoderOverflow(t *testing.T) {
	var stream []byte
	n := 0
	for len(stream) < 10*decoderBufSize {
		stream = append(stream, statusPkt(byte(n%6+1), n)...)
		n++
	}
	d := Decoder{Status: true}
	var r result
	full := 0
	for rest := stream; len(rest) > 0; {
		m, err := d.Write(rest)
		if err == ErrBufferFull {
			full++
		} else if err != nil || m != len(rest) {
			t.Fatalf("Write: %d, %v", m, err)
		}
		rest = rest[m:]
		drain(&d, &r)
	}
	if len(r.pkts) != n || full == 0 || d.Stats().Overflows != uint64(full) {
		t.Fatalf("%d packets of %d, %d overflows, stats %+v", len(r.pkts), n, full, d.Stats())
	}
	for i, p := range r.pkts {
		if PresentPosition.Decode(p.Params) != i {
			t.Fatalf("packet %d: %v", i, p)
		}
	}
	// A full buffer of noise is always drained by Next.
	d.Write(bytes.Repeat([]byte{0x55}, 3*decoderBufSize))
	if _, err := d.Next(); err != ErrNeedMore || d.Buffered() != 0 {
		t.Fatalf("noise left %d bytes: %v", d.Buffered(), err)
	}
}

func TestDecoderReset(t *testing.T) {
	var d Decoder
	pkt := AppendPing(nil, 3)
	d.Write(pkt[:4])
	if _, err := d.Next(); err != ErrNeedMore || d.Buffered() != 4 {
		t.Fatalf("partial frame: %v, %d buffered", err, d.Buffered())
	}
	d.Reset()
	if d.Buffered() != 0 || d.Stats().Garbage != 4 {
		t.Fatalf("after Reset: %d buffered, %+v", d.Buffered(), d.Stats())
	}
	d.Write(pkt)
	p, err := d.Next()
	if err != nil || p.ID != 3 || p.Instruction != Ping || p.Err != 0 {
		t.Fatalf("got %+v, %v", p, err)
	}
	// Status mode fills Err, not Instruction.
	d = Decoder{Status: true}
	d.Write(AppendStatus(nil, 4, byte(StatusOverheat), []byte{9}))
	p, err = d.Next()
	if err != nil || p.ID != 4 || p.Instruction != 0 || StatusError(p.Err) != StatusOverheat || !bytes.Equal(p.Params, []byte{9}) {
		t.Fatalf("got %+v, %v", p, err)
	}
}
