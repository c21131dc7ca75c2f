package feetech

import (
	"bytes"
	"testing"
)

// Seed corpora live in testdata/fuzz/<Name>/; see testdata/fuzz/README.

func FuzzParsePacket(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, status bool) {
		p, n, err := ParsePacket(data, status)
		if err != nil {
			if n != 0 || p.Params != nil {
				t.Fatalf("error %v with n=%d params=%v", err, n, p.Params)
			}
			if err == ErrNeedMore && len(data) >= 4 && len(data) >= 4+int(data[3]) {
				t.Fatalf("ErrNeedMore for %d bytes with LEN %d", len(data), data[3])
			}
			return
		}
		if len(data) < 6 || n != 4+int(data[3]) || n > len(data) {
			t.Fatalf("n=%d for %d bytes", n, len(data))
		}
		if len(p.Params) > MaxParams || cap(p.Params) != len(p.Params) || p.ID == 0xFF {
			t.Fatalf("bad packet %+v", p)
		}
		var again []byte
		if status {
			if p.Instruction != 0 {
				t.Fatalf("status packet with instruction %v", p.Instruction)
			}
			again = AppendStatus(nil, p.ID, p.Err, p.Params)
		} else {
			if p.Err != 0 {
				t.Fatalf("instruction packet with Err %#x", p.Err)
			}
			again = AppendInstruction(nil, p.ID, p.Instruction, p.Params)
		}
		if !bytes.Equal(again, data[:n]) {
			t.Fatalf("re-encoded % X, parsed from % X", again, data[:n])
		}
		// The streaming decoder finds the same first frame.
		d := Decoder{Status: status}
		d.Write(data)
		q, err := d.Next()
		if err != nil || !samePackets([]Packet{q}, []Packet{p}) {
			t.Fatalf("decoder: %+v, %v; ParsePacket: %+v", q, err, p)
		}
	})
}

func FuzzDecoder(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, chunk byte, status bool) {
		// feed checks, after every write, that each byte is in a returned
		// frame, counted as garbage, or still buffered.
		whole, ws := feed(t, status, data)
		size := int(chunk)%32 + 1
		split, ss := feed(t, status, data, size, 1, 2*size)
		// The result does not depend on how the input was split (only
		// Overflows, which counts short writes, may differ).
		ws.Overflows, ss.Overflows = 0, 0
		if !samePackets(whole.pkts, split.pkts) || !sameErrs(whole.errs, split.errs) || ws != ss {
			t.Fatalf("whole: %d pkts %v %+v; chunks of %d: %d pkts %v %+v",
				len(whole.pkts), whole.errs, ws, size, len(split.pkts), split.errs, ss)
		}
		// Every frame returned is valid and occurs in the input, in order.
		rest := data
		for _, p := range whole.pkts {
			if p.ID == 0xFF || len(p.Params) > MaxParams {
				t.Fatalf("bad packet %+v", p)
			}
			var enc []byte
			if status {
				enc = AppendStatus(nil, p.ID, p.Err, p.Params)
			} else {
				enc = AppendInstruction(nil, p.ID, p.Instruction, p.Params)
			}
			i := bytes.Index(rest, enc)
			if i < 0 {
				t.Fatalf("frame % X not in the remaining input", enc)
			}
			rest = rest[i+len(enc):]
		}
		// Whatever came before, a frame sent after MaxPacket bytes of line
		// idle (zeros) is found: no false header can reach past the padding.
		tail := AppendStatus(nil, 1, 0, []byte{0xFF, 0xFF})
		stream := append(append(append([]byte{}, data...), make([]byte, MaxPacket)...), tail...)
		withTail, _ := feed(t, status, stream)
		if n := len(withTail.pkts); n == 0 || withTail.pkts[n-1].ID != 1 || !bytes.Equal(withTail.pkts[n-1].Params, []byte{0xFF, 0xFF}) {
			t.Fatalf("frame after %d bytes of input + padding not found", len(data))
		}
	})
}
