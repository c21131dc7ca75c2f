package feetech

import (
	"bytes"
	"math"
	"testing"
)

func TestUint16(t *testing.T) {
	b := []byte{0x18, 0x05, 0xEE}
	if got := Uint16(b); got != 0x0518 {
		t.Errorf("Uint16 = %#x", got)
	}
	PutUint16(b, 0xE803)
	if !bytes.Equal(b, []byte{0x03, 0xE8, 0xEE}) {
		t.Errorf("PutUint16: % X", b)
	}
	if got := AppendUint16([]byte{1}, 1000); !bytes.Equal(got, []byte{1, 0xE8, 0x03}) {
		t.Errorf("AppendUint16: % X", got)
	}
}

func TestSignMagnitudeKnown(t *testing.T) {
	tests := []struct {
		v       int
		signBit uint
		raw     uint16
	}{
		{0, 11, 0x0000},
		{1, 11, 0x0001},
		{-1, 11, 0x0801},
		{-1024, 11, 0x0C00}, // LeRobot's example homing_offset
		{2047, 11, 0x07FF},
		{-2047, 11, 0x0FFF},
		{2048, 11, 0x07FF},  // saturates
		{-5000, 11, 0x0FFF}, // saturates
		{1000, 15, 0x03E8},
		{-1000, 15, 0x83E8},
		{32767, 15, 0x7FFF},
		{-32767, 15, 0xFFFF},
		{40000, 15, 0x7FFF},
		{math.MinInt, 15, 0xFFFF},
		{math.MaxInt, 15, 0x7FFF},
		{-300, 10, 0x052C}, // Present_Load
		{-7, 0, 0x0000},    // no room for a magnitude: never "-0"
		{7, 0, 0x0000},
		{65535, 16, 0xFFFF}, // signBit ≥ 16: plain unsigned
		{70000, 16, 0xFFFF},
		{-1, 16, 0x0000},
		{1234, 99, 1234},
	}
	for _, tt := range tests {
		if got := EncodeSignMagnitude(tt.v, tt.signBit); got != tt.raw {
			t.Errorf("Encode(%d, %d) = %#04x, want %#04x", tt.v, tt.signBit, got, tt.raw)
		}
	}
	decodes := []struct {
		raw     uint16
		signBit uint
		v       int
	}{
		{0x0C00, 11, -1024},
		{0x0800, 11, 0},      // "-0"
		{0xF7FF, 11, 2047},   // bits above the sign bit are ignored
		{0xFC00, 11, -1024},  //
		{0x8000, 15, 0},      // "-0"
		{0xFFFF, 15, -32767}, //
		{0x0400, 10, 0},      // "-0" load
		{0x07FF, 10, -1023},
		{0xFFFF, 0, 0},
		{0xFFFF, 16, 65535},
	}
	for _, tt := range decodes {
		if got := DecodeSignMagnitude(tt.raw, tt.signBit); got != tt.v {
			t.Errorf("Decode(%#04x, %d) = %d, want %d", tt.raw, tt.signBit, got, tt.v)
		}
	}
}

func TestSignMagnitudeRoundTrip(t *testing.T) {
	for bit := uint(0); bit <= 16; bit++ {
		max := MaxSignMagnitude(bit)
		lo := -max
		if bit == 16 {
			lo = 0
		}
		// Every representable value survives encode→decode.
		for v := lo; v <= max; v++ {
			if got := DecodeSignMagnitude(EncodeSignMagnitude(v, bit), bit); got != v {
				t.Fatalf("bit %d: %d → %d", bit, v, got)
			}
		}
		// Every raw value survives decode→encode, up to ignored high bits
		// and "-0" (which comes back as +0).
		mask := uint16(0xFFFF)
		if bit < 16 {
			mask = uint16(1<<(bit+1) - 1)
		}
		for raw := 0; raw <= 0xFFFF; raw++ {
			want := uint16(raw) & mask
			if bit < 16 && want == 1<<bit {
				want = 0
			}
			if got := EncodeSignMagnitude(DecodeSignMagnitude(uint16(raw), bit), bit); got != want {
				t.Fatalf("bit %d: raw %#04x → %#04x, want %#04x", bit, raw, got, want)
			}
		}
		// Out of range saturates to the edge, with the right sign.
		if bit < 16 {
			if got := DecodeSignMagnitude(EncodeSignMagnitude(max+1, bit), bit); got != max {
				t.Errorf("bit %d: max+1 → %d", bit, got)
			}
			if got := DecodeSignMagnitude(EncodeSignMagnitude(-max-1, bit), bit); got != -max {
				t.Errorf("bit %d: -max-1 → %d", bit, got)
			}
		}
	}
}
