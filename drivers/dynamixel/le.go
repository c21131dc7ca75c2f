package dynamixel

// Little-endian helpers for control-table fields. Protocol 2.0 sends every
// multi-byte field low byte first. Like encoding/binary, the getters and
// Put functions panic if b is too short: check len(p.Params) first.

// Uint16 returns the little-endian uint16 in b[0:2].
func Uint16(b []byte) uint16 {
	_ = b[1]
	return uint16(b[0]) | uint16(b[1])<<8
}

// Uint32 returns the little-endian uint32 in b[0:4].
func Uint32(b []byte) uint32 {
	_ = b[3]
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// Int16 returns the little-endian two's-complement int16 in b[0:2], such as
// Present Current.
func Int16(b []byte) int16 { return int16(Uint16(b)) }

// Int32 returns the little-endian two's-complement int32 in b[0:4], such as
// Present Position or Present Velocity.
func Int32(b []byte) int32 { return int32(Uint32(b)) }

// PutUint16 stores v little-endian in b[0:2].
func PutUint16(b []byte, v uint16) {
	_ = b[1]
	b[0] = byte(v)
	b[1] = byte(v >> 8)
}

// PutUint32 stores v little-endian in b[0:4]. For a signed field pass
// uint32(v).
func PutUint32(b []byte, v uint32) {
	_ = b[3]
	b[0] = byte(v)
	b[1] = byte(v >> 8)
	b[2] = byte(v >> 16)
	b[3] = byte(v >> 24)
}

// AppendUint16 appends v little-endian to dst.
func AppendUint16(dst []byte, v uint16) []byte { return append(dst, byte(v), byte(v>>8)) }

// AppendUint32 appends v little-endian to dst. For a signed field pass
// uint32(v).
func AppendUint32(dst []byte, v uint32) []byte {
	return append(dst, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
}
