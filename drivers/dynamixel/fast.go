package dynamixel

// FastRecord is one device's part of a FAST SYNC READ or FAST BULK READ
// reply.
type FastRecord struct {
	ID   byte   // the device
	Err  byte   // its ERR byte (alert bit | error number)
	Data []byte // the bytes read; aliases the packet's Params
}

// Alert reports bit 7 of the record's ERR byte (see Packet.Alert).
func (r FastRecord) Alert() bool { return r.Err&alertBit != 0 }

// ErrNum returns the error number in bits 0–6 of the record's ERR byte.
func (r FastRecord) ErrNum() ErrorNumber { return ErrorNumber(r.Err &^ alertBit) }

// StatusError returns nil when the record's ERR byte carries no error
// number, else the ErrorNumber as an error.
func (r FastRecord) StatusError() error { return statusError(r.Err) }

// FastReader walks the records of a FAST SYNC READ or FAST BULK READ reply:
// one status packet from BroadcastID whose bytes after the instruction are
//
//	ERR1 ID1 DATA1 CRC1 | ERR2 ID2 DATA2 CRC2 | … | ERRn IDn DATAn
//
// where ERR1 is the packet's ERR byte and the packet's CRC follows DATAn
// (hardware.md §3.7). Each embedded CRCk is the running CRC of the packet up
// to DATAk; the packet CRC, already checked when the packet was decoded,
// covers them, so FastReader skips them. The record sizes are not on the
// wire, so the caller passes each one to Next: the read size for a FAST
// SYNC READ, or each request's Size, in request order, for a FAST BULK
// READ:
//
//	fr := dynamixel.NewFastReader(p)
//	for range ids {
//		rec, err := fr.Next(4)
//		...
//	}
//	if !fr.Done() { /* more records than expected */ }
//
// It does not allocate; records alias the packet's Params.
type FastReader struct {
	rest      []byte // unread Params
	err       byte   // the packet's ERR byte, for the first record
	n         int    // records returned
	notStatus bool
}

// NewFastReader returns a FastReader over the records of p.
func NewFastReader(p Packet) FastReader {
	return FastReader{rest: p.Params, err: p.Err, notStatus: p.Instruction != Status}
}

// Next returns the next record, whose data is size bytes. It returns
// ErrNotStatus if the packet is not a status packet, and ErrLength if the
// rest of the packet is too short for such a record; the reader does not
// advance on error.
func (r *FastReader) Next(size int) (FastRecord, error) {
	if r.notStatus {
		return FastRecord{}, ErrNotStatus
	}
	b, errByte := r.rest, r.err
	if r.n > 0 {
		// The previous record's CRC, then this record's ERR.
		if len(b) < 3 {
			return FastRecord{}, ErrLength
		}
		errByte = b[2]
		b = b[3:]
	}
	if size < 0 || size >= len(b) { // ID + size bytes
		return FastRecord{}, ErrLength
	}
	rec := FastRecord{ID: b[0], Err: errByte, Data: b[1 : 1+size : 1+size]}
	r.rest = b[1+size:]
	r.n++
	return rec, nil
}

// Done reports whether the reader has returned at least one record and
// consumed the whole packet.
func (r *FastReader) Done() bool { return r.n > 0 && len(r.rest) == 0 }

// AppendFastStatus appends the combined status packet of a FAST SYNC READ
// or FAST BULK READ reply carrying recs, in order (device side: the
// simulator answering for a chain of devices). The packet is from
// BroadcastID, unstuffed, with the running CRC after each record but the
// last. It panics if recs is empty or the packet's length does not fit
// LEN.
func AppendFastStatus(dst []byte, recs []FastRecord) []byte {
	if len(recs) == 0 {
		panic(panicFastNone)
	}
	l := 1 + 2 // instruction, CRC
	for _, r := range recs {
		l += 2 + len(r.Data) // ERR, ID, data
	}
	l += 2 * (len(recs) - 1) // embedded CRCs
	if l > 0xFFFF {
		panic(panicTooLong)
	}
	start := len(dst)
	dst = append(dst, header[0], header[1], header[2], header[3], BroadcastID, byte(l), byte(l>>8), byte(Status))
	var crc uint16
	mark := start
	for i, r := range recs {
		if i > 0 {
			crc = UpdateCRC(crc, dst[mark:])
			mark = len(dst)
			dst = append(dst, byte(crc), byte(crc>>8))
		}
		dst = append(dst, r.Err, r.ID)
		dst = append(dst, r.Data...)
	}
	crc = UpdateCRC(crc, dst[mark:])
	return append(dst, byte(crc), byte(crc>>8))
}
