package dynamixel

// crcPoly is the CRC-16 generator polynomial of Protocol 2.0 (x^16 + x^15 +
// x^2 + 1, MSB first, no reflection): CRC-16/UMTS, also known as BUYPASS.
const crcPoly = 0x8005

// crcTable holds the CRC of every byte value; it is built once, from the
// polynomial, when the package is initialised.
var crcTable = makeCRCTable()

func makeCRCTable() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ crcPoly
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}

// UpdateCRC returns crc updated with the bytes of b. A packet's CRC is
// UpdateCRC(0, packet[:len(packet)-2]): initial value 0, no final XOR,
// computed over the stuffed bytes from the first 0xFF to the last parameter
// and sent low byte first. Feeding a packet in pieces gives the same result
// as feeding it at once, which is how FAST read replies carry running CRCs.
func UpdateCRC(crc uint16, b []byte) uint16 {
	for _, x := range b {
		crc = crc<<8 ^ crcTable[byte(crc>>8)^x]
	}
	return crc
}
