package dynamixel_test

import (
	"bytes"
	"testing"

	"github.com/anther-robotics/anther/drivers/dynamixel"
)

// Seed corpora are in testdata/fuzz/FuzzParsePacket and
// testdata/fuzz/FuzzDecoder: every packet of testdata/spec_vectors.txt,
// streams of them with garbage and damage, and inputs the fuzzer found.

// checkReencode checks that p encodes back to a packet that decodes to the
// same fields and, when wire is p's original wire form and the encoding is
// as long, to exactly the same bytes.
func checkReencode(t *testing.T, p dynamixel.Packet, wire []byte) {
	t.Helper()
	re := dynamixel.AppendPacket(nil, p)
	if wire != nil {
		switch {
		case len(re) == len(wire) && !bytes.Equal(re, wire):
			t.Fatalf("re-encoding differs:\n got %s\nwant %s", fmtHex(re), fmtHex(wire))
		case len(re) < len(wire):
			t.Fatalf("re-encoding is shorter than the wire form:\n got %s\nwant %s", fmtHex(re), fmtHex(wire))
		}
	}
	if len(re) > dynamixel.MaxPacket {
		// Only lenient un-stuffing can grow a packet; it cannot come back.
		return
	}
	q, n, err := parseCopy(re)
	if err != nil || n != len(re) || !samePacket(p, q) {
		t.Fatalf("re-encoded %+v as %s, decoded %+v, n = %d, err = %v", p, fmtHex(re), q, n, err)
	}
}

func FuzzParsePacket(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		b := bytes.Clone(data)
		p, n, err := dynamixel.ParsePacket(b)
		if err != nil {
			if n != 0 {
				t.Fatalf("n = %d on error %v", n, err)
			}
			return
		}
		if n < 10 || n > len(data) || n > dynamixel.MaxPacket {
			t.Fatalf("n = %d, len = %d", n, len(data))
		}
		checkReencode(t, p, data[:n])

		// The Decoder finds the same packet at the start of the same bytes.
		var d dynamixel.Decoder
		d.Write(data)
		q, err := d.Next()
		if err != nil || !samePacket(p, q) {
			t.Fatalf("Decoder: %+v, %v; ParsePacket: %+v", q, err, p)
		}
		// The other stuffing rules accept whatever StuffingAuto accepts.
		for _, s := range []dynamixel.Stuffing{dynamixel.StuffingAlways, dynamixel.StuffingNever} {
			if _, m, err := dynamixel.ParsePacketWith(bytes.Clone(data), s); err != nil || m != n {
				t.Fatalf("stuffing %d: n = %d, err = %v", s, m, err)
			}
		}
		// A status packet's FAST records never run past its params.
		fr := dynamixel.NewFastReader(p)
		for size := 0; ; size = (size + 3) % 7 {
			rec, err := fr.Next(size)
			if err != nil {
				break
			}
			if len(rec.Data) != size {
				t.Fatalf("record of %d bytes for size %d", len(rec.Data), size)
			}
		}
	})
}

func FuzzDecoder(f *testing.F) {
	f.Fuzz(func(t *testing.T, data, chunks []byte) {
		sizes := make([]int, len(chunks))
		for i, c := range chunks {
			sizes[i] = int(c)*int(c)/16 + 1 // 1..4065: single bytes up to more than the buffer
		}
		var whole, split dynamixel.Decoder
		want := feed(t, &whole, data)
		got := feed(t, &split, data, sizes...)

		// Chunking changes nothing.
		if len(got) != len(want) {
			t.Fatalf("%d events in chunks, %d at once", len(got), len(want))
		}
		for i := range got {
			if got[i].err != want[i].err || !samePacket(got[i].p, want[i].p) {
				t.Fatalf("event %d: %+v in chunks, %+v at once", i, got[i], want[i])
			}
		}
		ws, ss := whole.Stats(), split.Stats()
		ws.Dropped, ss.Dropped = 0, 0
		if ws != ss || whole.Buffered() != split.Buffered() {
			t.Fatalf("stats %+v / buffered %d in chunks, %+v / %d at once", ss, split.Buffered(), ws, whole.Buffered())
		}
		if split.Buffered() >= dynamixel.MaxPacket {
			t.Fatalf("Buffered = %d after draining", split.Buffered())
		}
		for _, e := range got {
			switch e.err {
			case nil:
				checkReencode(t, e.p, nil)
			case dynamixel.ErrCRC, dynamixel.ErrLength, dynamixel.ErrID:
			default:
				t.Fatalf("unexpected error %v", e.err)
			}
		}
		for split.Resync() {
			drain(t, &split)
		}
	})
}
