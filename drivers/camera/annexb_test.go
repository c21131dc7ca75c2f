package camera

import (
	"bytes"
	"testing"
)

func TestAnnexBPrependsParameterSets(t *testing.T) {
	a := annexB{codec: CodecH264}
	sps, pps := []byte{0x67, 1, 2}, []byte{0x68, 3}
	a.setParams(nil, sps, pps)
	nonIDR := [][]byte{{0x41, 9, 9}}
	if out, ok := a.appendAU(nil, nonIDR); ok || len(out) != 0 {
		t.Fatalf("a unit before the first IDR is decodable: %x", out)
	}
	idr := [][]byte{{0x65, 7, 7}}
	out, ok := a.appendAU(nil, idr)
	want := []byte{0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 7, 7}
	if !ok || !bytes.Equal(out, want) {
		t.Fatalf("IDR: %x, want %x", out, want)
	}
	if cap(out)-len(out) < DecoderPadding {
		t.Fatalf("only %d bytes of padding", cap(out)-len(out))
	}
	// In-band parameter sets replace the SDP's and are not duplicated.
	inband := [][]byte{{0x67, 5}, {0x68, 6}, {0x65, 8}}
	out, _ = a.appendAU(out, inband)
	if want := []byte{0, 0, 0, 1, 0x67, 5, 0, 0, 0, 1, 0x68, 6, 0, 0, 0, 1, 0x65, 8}; !bytes.Equal(out, want) {
		t.Fatalf("in-band: %x", out)
	}
	out, _ = a.appendAU(out, idr)
	if want := []byte{0, 0, 0, 1, 0x67, 5, 0, 0, 0, 1, 0x68, 6, 0, 0, 0, 1, 0x65, 7, 7}; !bytes.Equal(out, want) {
		t.Fatalf("after in-band: %x", out)
	}
	out, ok = a.appendAU(out, nonIDR)
	if !ok || !bytes.Equal(out, []byte{0, 0, 0, 1, 0x41, 9, 9}) {
		t.Fatalf("non-IDR: %x", out)
	}
}

func TestAnnexBH265(t *testing.T) {
	a := annexB{codec: CodecH265}
	a.setParams([]byte{0x40, 1}, []byte{0x42, 1}, []byte{0x44, 1})
	cra := [][]byte{{21 << 1, 1, 0xaa}} // CRA_NUT
	out, ok := a.appendAU(nil, cra)
	want := []byte{0, 0, 0, 1, 0x40, 1, 0, 0, 0, 1, 0x42, 1, 0, 0, 0, 1, 0x44, 1, 0, 0, 0, 1, 42, 1, 0xaa}
	if !ok || !bytes.Equal(out, want) {
		t.Fatalf("CRA: %x, want %x", out, want)
	}
	trail := [][]byte{{1 << 1, 1, 0xbb}}
	if out, ok := a.appendAU(out, trail); !ok || !bytes.Equal(out, []byte{0, 0, 0, 1, 2, 1, 0xbb}) {
		t.Fatalf("trail: %x", out)
	}
}

// FuzzAnnexB feeds arbitrary NAL units: appendAU never panics, its output
// is well formed (start code, then each non-empty unit) and padded.
func FuzzAnnexB(f *testing.F) {
	f.Add(true, []byte{0x65, 1, 2}, []byte{0x67, 3}, []byte{})
	f.Add(false, []byte{21 << 1, 1}, []byte{0x40, 1}, []byte{0x42})
	f.Add(true, []byte{}, []byte{}, []byte{0x68})
	f.Fuzz(func(t *testing.T, h264 bool, n1, n2, n3 []byte) {
		a := annexB{codec: CodecH265}
		if h264 {
			a.codec = CodecH264
		}
		a.setParams(n3, n2, n1)
		var buf []byte
		for range 2 {
			out, ok := a.appendAU(buf, [][]byte{n1, n2, n3})
			if !ok {
				if len(out) != 0 {
					t.Fatalf("not decodable but %d bytes", len(out))
				}
				continue
			}
			if cap(out)-len(out) < DecoderPadding {
				t.Fatalf("padding %d", cap(out)-len(out))
			}
			// Every unit we passed in appears in the output, in order.
			rest := out
			for _, n := range [][]byte{n1, n2, n3} {
				if len(n) == 0 {
					continue
				}
				i := bytes.Index(rest, append([]byte{0, 0, 0, 1}, n...))
				if i < 0 {
					t.Fatalf("unit %x missing from %x", n, out)
				}
				rest = rest[i+4+len(n):]
			}
			buf = out
		}
	})
}
