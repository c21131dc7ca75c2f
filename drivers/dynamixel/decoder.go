package dynamixel

import "bytes"

// decoderSize is the size of a Decoder's buffer: room for a packet of
// MaxPacket bytes and whatever has arrived after it.
const decoderSize = 2 * MaxPacket

// Decoder splits a received byte stream into packets. The bus writes bytes
// into it as they arrive, in chunks of any size, and calls Next until it
// returns ErrNeedMore:
//
//	d.Write(rx[:n])
//	for {
//		p, err := d.Next()
//		if err == dynamixel.ErrNeedMore {
//			break
//		}
//		if err != nil {
//			continue // damaged packet, already skipped and counted
//		}
//		handle(p)
//	}
//
// It skips bytes that do not start a packet, and after a damaged packet it
// resumes the search just past that packet's header, so a good packet
// that was inside the damaged one is still found. Its memory is a fixed
// array of 2*MaxPacket bytes; it never allocates and never panics.
//
// The zero Decoder is ready to use and applies StuffingAuto. A Decoder is
// not safe for concurrent use; it belongs to the goroutine that reads the
// bus.
type Decoder struct {
	// Stuffing says which packets are un-stuffed (see Stuffing). Set it
	// before use; Reset keeps it.
	Stuffing Stuffing

	buf   [decoderSize]byte
	r, w  int // unread bytes are buf[r:w]
	stats DecoderStats
}

// DecoderStats counts what a Decoder has seen since it was made or Reset.
type DecoderStats struct {
	Packets      uint64 // packets returned by Next
	Garbage      uint64 // bytes discarded: noise between packets and the headers of rejected packets
	CRCErrors    uint64 // packets rejected with ErrCRC
	LengthErrors uint64 // packets rejected with ErrLength
	IDErrors     uint64 // packets rejected with ErrID
	Dropped      uint64 // bytes refused by Write with ErrBufferFull
}

// Write buffers p. It takes as many bytes as fit and returns
// ErrBufferFull if that is fewer than len(p); call Next to drain packets
// and write the rest. Write may move or overwrite buffered bytes, so the
// Params of packets returned earlier are no longer valid after it.
func (d *Decoder) Write(p []byte) (int, error) {
	if d.r == d.w {
		d.r, d.w = 0, 0
	} else if d.r > 0 && len(p) > len(d.buf)-d.w {
		d.w = copy(d.buf[:], d.buf[d.r:d.w])
		d.r = 0
	}
	n := copy(d.buf[d.w:], p)
	d.w += n
	if n < len(p) {
		d.stats.Dropped += uint64(len(p) - n)
		return n, ErrBufferFull
	}
	return n, nil
}

// Next returns the next whole packet in the buffer. Its Params alias the
// Decoder's buffer and stay valid until the next Write or Reset, so the
// replies to one SYNC READ can be collected by calling Next repeatedly and
// used together.
//
// It returns ErrNeedMore when no whole packet is buffered. It returns
// ErrCRC, ErrLength or ErrID for a damaged packet (or a false header in
// noise), after skipping that packet's header and counting it in Stats;
// call Next again to go on.
func (d *Decoder) Next() (Packet, error) {
	buf := d.buf[d.r:d.w]
	i := bytes.Index(buf, header[:])
	if i < 0 {
		// Keep a tail that may be the start of a header.
		keep := partialHeader(buf)
		d.discard(len(buf) - keep)
		return Packet{}, ErrNeedMore
	}
	d.discard(i)
	p, n, err := ParsePacketWith(d.buf[d.r:d.w], d.Stuffing)
	switch err {
	case nil:
		d.r += n
		d.stats.Packets++
		return p, nil
	case ErrShort:
		return Packet{}, ErrNeedMore
	case ErrCRC:
		d.stats.CRCErrors++
	case ErrLength:
		d.stats.LengthErrors++
	case ErrID:
		d.stats.IDErrors++
	}
	// No header can start inside FF FF FD 00, so skip all four bytes.
	d.discard(len(header))
	return Packet{}, err
}

// partialHeader returns how many bytes at the end of b are a proper prefix
// of the header.
func partialHeader(b []byte) int {
	for k := len(header) - 1; k > 0; k-- {
		if len(b) >= k && bytes.Equal(b[len(b)-k:], header[:k]) {
			return k
		}
	}
	return 0
}

// discard drops n unread bytes as garbage.
func (d *Decoder) discard(n int) {
	d.r += n
	d.stats.Garbage += uint64(n)
}

// Resync gives up on the packet at the head of the buffer, if one has
// started, by discarding its header, and reports whether it did. Call it
// when a read times out while Next still returns ErrNeedMore: a packet
// truncated on the wire (or a false header in noise) otherwise waits for
// bytes that never come, and may hide a whole packet that follows it.
func (d *Decoder) Resync() bool {
	if !bytes.HasPrefix(d.buf[d.r:d.w], header[:]) {
		return false
	}
	d.discard(len(header))
	return true
}

// Buffered returns the number of bytes written but not yet consumed by
// Next.
func (d *Decoder) Buffered() int { return d.w - d.r }

// Stats returns the counters since the Decoder was made or Reset.
func (d *Decoder) Stats() DecoderStats { return d.stats }

// Reset discards buffered bytes and zeroes the counters. It keeps Stuffing.
func (d *Decoder) Reset() {
	d.r, d.w = 0, 0
	d.stats = DecoderStats{}
}
