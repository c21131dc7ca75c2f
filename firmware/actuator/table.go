package actuator

// isIndirectData reports whether a is an Indirect Data byte.
func (d *Device) isIndirectData(a uint16) bool {
	return d.indN > 0 && a >= d.indData && a < d.indData+d.indN
}

// indirectTarget returns the address Indirect Data byte a stands for.
func (d *Device) indirectTarget(a uint16) uint16 {
	k := a - d.indData
	return d.getU16(AddrIndirectAddress1 + 2*k)
}

// getU16 reads two table bytes little-endian.
func (d *Device) getU16(a uint16) uint16 { return uint16(d.mem[a]) | uint16(d.mem[a+1])<<8 }

// resolve maps an Indirect Data byte to the byte it stands for; other
// addresses map to themselves. A target that is itself Indirect Data is
// plain storage at that byte.
func (d *Device) resolve(a uint16) uint16 {
	if !d.isIndirectData(a) {
		return a
	}
	t := d.indirectTarget(a)
	if int(t) >= tableSize || t >= d.model.TableEnd || d.isIndirectData(t) {
		return a
	}
	return t
}

// readTable appends size bytes of the table starting at addr to dst, as
// READ sees them. Reserved bytes read 0; reading past the modelled table is
// an access error.
func (d *Device) readTable(dst []byte, addr, size uint16) ([]byte, byte) {
	if uint32(addr)+uint32(size) > uint32(d.model.TableEnd) {
		return dst, errAccess
	}
	for a := addr; a < addr+size; a++ {
		dst = append(dst, d.mem[d.resolve(a)])
	}
	return dst, errNone
}

// byteSet is a set of table addresses.
type byteSet [tableSize / 64]uint64

func (s *byteSet) add(a uint16)      { s[a/64] |= 1 << (a % 64) }
func (s *byteSet) has(a uint16) bool { return s[a/64]&(1<<(a%64)) != 0 }

// writeTable checks a write of data at addr as a whole and, if apply and it
// passes, applies it with its side effects. It returns the error number
// (0 for none). now is the device time of the write.
func (d *Device) writeTable(addr uint16, data []byte, apply bool) byte {
	if len(data) == 0 {
		return errDataLength
	}
	if uint32(addr)+uint32(len(data)) > uint32(d.model.TableEnd) {
		return errAccess
	}
	shadow := d.mem
	var touched byteSet
	for i, b := range data {
		a := d.resolve(addr + uint16(i))
		if a >= d.model.TableEnd || d.index[a] == 0 || d.field(a).Access != RW {
			return errAccess
		}
		shadow[a] = b
		touched.add(a)
	}
	torqueOn := d.mem[AddrTorqueEnable] != 0
	// Structure: whole items only, EEPROM locked while torque is on.
	for i := range d.model.Fields {
		f := &d.model.Fields[i]
		n := touchedBytes(&touched, f)
		if n == 0 {
			continue
		}
		if n != int(f.Size) {
			return errDataLength
		}
		if f.Addr < EEPROMEnd && torqueOn {
			return errAccess
		}
	}
	// Values: ranges, then the limits the configuration sets.
	for i := range d.model.Fields {
		f := &d.model.Fields[i]
		if touchedBytes(&touched, f) == 0 {
			continue
		}
		v := getIn(&shadow, f)
		if v < f.Min || v > f.Max {
			return errDataRange
		}
		if e := d.checkLimit(&shadow, f.Addr, v); e != errNone {
			return e
		}
	}
	if !apply {
		return errNone
	}
	for i := range d.model.Fields {
		f := &d.model.Fields[i]
		if touchedBytes(&touched, f) == 0 {
			continue
		}
		old := d.get(f)
		copy(d.mem[f.Addr:f.Addr+uint16(f.Size)], shadow[f.Addr:f.Addr+uint16(f.Size)])
		d.changed(f.Addr, old, d.get(f))
	}
	d.updatePresent()
	return errNone
}

// touchedBytes counts the bytes of f in s.
func touchedBytes(s *byteSet, f *Field) int {
	n := 0
	for k := range uint16(f.Size) {
		if s.has(f.Addr + k) {
			n++
		}
	}
	return n
}

// checkLimit checks a value written to addr against the limits in the
// table being written (shadow) and the device's state.
func (d *Device) checkLimit(shadow *[tableSize]byte, addr uint16, v int32) byte {
	val := func(a uint16) int32 { return getIn(shadow, d.field(a)) }
	watchdogFired := int8(d.mem[AddrBusWatchdog]) < 0
	switch addr {
	case AddrOperatingMode:
		for _, m := range d.model.Modes {
			if int32(m) == v {
				return errNone
			}
		}
		return errDataRange
	case AddrTorqueEnable:
		if v == 1 && d.mem[AddrHardwareErrorStatus] != 0 {
			return errResultFail
		}
	case AddrGoalPosition:
		if watchdogFired {
			return errDataRange
		}
		if val(AddrOperatingMode) == ModePosition && (v < val(AddrMinPositionLimit) || v > val(AddrMaxPositionLimit)) {
			return errDataLimit
		}
	case AddrGoalVelocity:
		if watchdogFired {
			return errDataRange
		}
		if abs32(v) > val(AddrVelocityLimit) {
			return errDataLimit
		}
	case AddrGoalPWM:
		if watchdogFired {
			return errDataRange
		}
		if abs32(v) > val(AddrPWMLimit) {
			return errDataLimit
		}
	case AddrGoalCurrent:
		if watchdogFired {
			return errDataRange
		}
		if d.has(AddrCurrentLimit) && abs32(v) > val(AddrCurrentLimit) {
			return errDataLimit
		}
	case AddrBusWatchdog:
		if watchdogFired && v != 0 {
			return errDataRange // clear it with 0 first
		}
	}
	return errNone
}

func abs32(v int32) int32 {
	if v < 0 {
		return -v
	}
	return v
}

// changed applies the side effects of a write that changed the item at
// addr from old to v.
func (d *Device) changed(addr uint16, old, v int32) {
	switch addr {
	case AddrTorqueEnable:
		if v == 1 && old == 0 {
			d.desPos, d.desVel = float64(d.present), 0
			d.integPos, d.integVel = 0, 0
			d.newGoal()
		}
		if v == 0 {
			d.duty, d.current, d.torque = 0, 0, 0
		}
	case AddrOperatingMode:
		if v != old {
			d.setS(AddrGoalPosition, int64(d.present))
			d.desPos, d.desVel = float64(d.present), 0
			d.integPos, d.integVel = 0, 0
		}
	case AddrGoalPosition, AddrProfileVelocity, AddrProfileAcceleration:
		d.newGoal()
	case AddrHomingOffset:
		delta := float64(v - old)
		d.desPos += delta
		d.updatePresent()
	case AddrBusWatchdog:
		d.lastRx = d.now
	}
}

// restore copies the backup (CONTROL TABLE BACKUP) into the table: the
// writable EEPROM items and the gains.
func (d *Device) restore() {
	for i := range d.model.Fields {
		f := &d.model.Fields[i]
		if f.Access != RW || !(f.Addr < EEPROMEnd || f.Addr >= AddrVelocityIGain && f.Addr <= AddrFeedforward1stGain) {
			continue
		}
		copy(d.mem[f.Addr:f.Addr+uint16(f.Size)], d.backup[f.Addr:f.Addr+uint16(f.Size)])
	}
}
