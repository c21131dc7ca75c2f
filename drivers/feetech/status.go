package feetech

// StatusError is the error byte of a status packet: a set of fault bits
// reported by the servo. A non-zero StatusError is an error, so a bus driver
// can return it directly and callers can test it with errors.As.
//
// Bits 4, 6 and 7 are not defined for Feetech servos (Dynamixel 1.0 uses
// bit 4 for checksum and bit 6 for instruction errors); String shows them in
// hex.
type StatusError byte

// Fault bits of StatusError, as defined by the Feetech SDK (ERRBIT_*).
const (
	StatusVoltage     StatusError = 1 << 0 // input voltage outside the limits
	StatusAngle       StatusError = 1 << 1 // angle sensor fault / angle limit
	StatusOverheat    StatusError = 1 << 2 // temperature above the limit
	StatusOvercurrent StatusError = 1 << 3 // over current ("OverEle" in the SDK)
	StatusOverload    StatusError = 1 << 5 // sustained load above the limit
)

// Has reports whether every bit of bits is set in s.
func (s StatusError) Has(bits StatusError) bool { return s&bits == bits }

// String lists the set bits, e.g. "overheat|overload", or "ok" when none is
// set.
func (s StatusError) String() string {
	if s == 0 {
		return "ok"
	}
	out := ""
	for bit := StatusError(1); bit != 0; bit <<= 1 {
		if s&bit == 0 {
			continue
		}
		var name string
		switch bit {
		case StatusVoltage:
			name = "voltage"
		case StatusAngle:
			name = "angle"
		case StatusOverheat:
			name = "overheat"
		case StatusOvercurrent:
			name = "overcurrent"
		case StatusOverload:
			name = "overload"
		default:
			name = hexByte("0x", byte(bit), "")
		}
		if out != "" {
			out += "|"
		}
		out += name
	}
	return out
}

// Error implements error: "feetech: servo fault: " followed by String.
func (s StatusError) Error() string { return "feetech: servo fault: " + s.String() }
