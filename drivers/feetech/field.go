package feetech

// Uint16 returns the little-endian (STS/SMS byte order) value in b[0:2]. It
// panics if len(b) < 2.
func Uint16(b []byte) uint16 {
	_ = b[1]
	return uint16(b[0]) | uint16(b[1])<<8
}

// PutUint16 stores v little-endian in b[0:2]. It panics if len(b) < 2.
func PutUint16(b []byte, v uint16) {
	_ = b[1]
	b[0] = byte(v)
	b[1] = byte(v >> 8)
}

// AppendUint16 appends v little-endian to dst.
func AppendUint16(dst []byte, v uint16) []byte {
	return append(dst, byte(v), byte(v>>8))
}

// MaxSignMagnitude returns the largest magnitude a sign-magnitude field with
// the given sign bit can hold: 2047 for bit 11, 32767 for bit 15. A signBit of
// 16 or more means "no sign bit": the field is a plain uint16 and the result
// is 65535.
func MaxSignMagnitude(signBit uint) int {
	if signBit >= 16 {
		return 0xFFFF
	}
	return 1<<signBit - 1
}

// EncodeSignMagnitude encodes v as the servo stores it in a sign-magnitude
// field: |v| in the bits below signBit, and signBit set when v < 0 (Feetech
// SDK scs_toscs, LeRobot encode_sign_magnitude). For example Homing_Offset
// uses sign bit 11, so -1024 encodes as 0x0C00.
//
// v is saturated to ±MaxSignMagnitude(signBit) instead of failing (LeRobot
// raises an error there); check the range first where saturation would be
// wrong. With signBit ≥ 16 the field is unsigned and v is clamped to
// 0…65535. Zero always encodes as 0, never as "-0".
func EncodeSignMagnitude(v int, signBit uint) uint16 {
	limit := MaxSignMagnitude(signBit)
	if signBit >= 16 {
		if v < 0 {
			return 0
		}
		if v > limit {
			return uint16(limit)
		}
		return uint16(v)
	}
	if v < 0 {
		m := -v
		if m > limit || m < 0 { // m < 0: v was the most negative int
			m = limit
		}
		if m == 0 { // only when signBit is 0: no room for a magnitude
			return 0
		}
		return uint16(m) | 1<<signBit
	}
	if v > limit {
		v = limit
	}
	return uint16(v)
}

// DecodeSignMagnitude is the inverse of EncodeSignMagnitude: bits below
// signBit are the magnitude, signBit is the sign, and bits above it are
// ignored (as LeRobot and the Feetech SDK do). "-0" decodes as 0. With signBit
// ≥ 16, raw is returned unchanged.
func DecodeSignMagnitude(raw uint16, signBit uint) int {
	if signBit >= 16 {
		return int(raw)
	}
	m := int(raw) & (1<<signBit - 1)
	if raw&(1<<signBit) != 0 {
		return -m
	}
	return m
}
