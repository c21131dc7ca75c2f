package feetech

// decoderBufSize holds two maximal frames, so that a full buffer always
// contains a whole candidate frame and Next can make progress.
const decoderBufSize = 2 * MaxPacket

// Decoder finds frames in a byte stream, such as the bytes read from a
// serial port. It skips noise before and between frames, resynchronises
// after a corrupt frame one byte past its header (so a real frame hidden
// behind a false header is not lost), and accepts input split at any byte.
// It works in a fixed internal buffer: Write, Next and Reset never allocate,
// and no input makes them panic.
//
// The zero value is ready to use and decodes instruction packets (device
// side); set Status for the host side. A Decoder is not safe for concurrent
// use. Typical loop:
//
//	d := feetech.Decoder{Status: true}
//	d.Write(bytesFromPort)
//	for {
//		p, err := d.Next()
//		if err == feetech.ErrNeedMore {
//			break // read more from the port
//		}
//		if err != nil {
//			continue // a corrupt frame was dropped and counted
//		}
//		use(p)
//	}
type Decoder struct {
	// Status makes Next read frames as status packets (Packet.Err set)
	// instead of instruction packets (Packet.Instruction set).
	Status bool

	buf        [decoderBufSize]byte
	start, end int
	stats      DecoderStats
}

// DecoderStats counts what a Decoder has seen. Every byte written is, at any
// time, part of a returned packet, counted in Garbage, or still buffered.
type DecoderStats struct {
	Packets        uint64 // frames returned by Next
	Garbage        uint64 // bytes discarded: noise, bytes skipped to resync, Reset
	ChecksumErrors uint64 // candidate frames with a bad checksum (ErrChecksum)
	LengthErrors   uint64 // candidate frames with LEN < 2 (ErrBadLength)
	Overflows      uint64 // Write calls that returned ErrBufferFull
}

// Write appends p to the decoder's buffer. If the buffer cannot take all of
// p it stores what fits and returns the count with ErrBufferFull; the caller
// then drains frames with Next and writes the rest. It never blocks and never
// allocates. Write invalidates the Params of packets returned earlier.
func (d *Decoder) Write(p []byte) (int, error) {
	if d.start == d.end {
		d.start, d.end = 0, 0
	} else if len(p) > len(d.buf)-d.end && d.start > 0 {
		d.end = copy(d.buf[:], d.buf[d.start:d.end])
		d.start = 0
	}
	n := copy(d.buf[d.end:], p)
	d.end += n
	if n < len(p) {
		d.stats.Overflows++
		return n, ErrBufferFull
	}
	return n, nil
}

// Next returns the next complete frame in the buffer. Its Params alias the
// decoder's buffer and stay valid until the next Write or Reset.
//
// Next returns ErrNeedMore when the buffer holds no complete frame (only
// noise is discarded then, so a partial frame waits for more bytes). It
// returns ErrChecksum or ErrBadLength when it drops a corrupt candidate
// frame; the decoder has then already resynchronised, and the caller just
// calls Next again.
func (d *Decoder) Next() (Packet, error) {
	for {
		b := d.buf[d.start:d.end]
		i := 0
		for i+1 < len(b) && (b[i] != 0xFF || b[i+1] != 0xFF) {
			i++
		}
		if i+1 >= len(b) {
			// No header. A trailing 0xFF may be the first half of one.
			if len(b) > 0 && b[len(b)-1] == 0xFF {
				i = len(b) - 1
			} else {
				i = len(b)
			}
			d.discard(i)
			return Packet{}, ErrNeedMore
		}
		d.discard(i)
		b = b[i:]
		if len(b) < 4 {
			return Packet{}, ErrNeedMore
		}
		if b[2] == 0xFF {
			// FF FF FF: the header starts one byte later at the earliest.
			d.discard(1)
			continue
		}
		if b[3] < 2 {
			d.discard(1)
			d.stats.LengthErrors++
			return Packet{}, ErrBadLength
		}
		n := 4 + int(b[3])
		if len(b) < n {
			return Packet{}, ErrNeedMore
		}
		if Checksum(b[2:n-1]) != b[n-1] {
			d.discard(1)
			d.stats.ChecksumErrors++
			return Packet{}, ErrChecksum
		}
		p := Packet{ID: b[2], Params: b[5 : n-1 : n-1]}
		if d.Status {
			p.Err = b[4]
		} else {
			p.Instruction = Instruction(b[4])
		}
		d.start += n
		d.stats.Packets++
		return p, nil
	}
}

// discard drops n buffered bytes as garbage.
func (d *Decoder) discard(n int) {
	d.start += n
	d.stats.Garbage += uint64(n)
}

// Resync gives up on the frame at the head of the buffer, if one has
// started, by discarding the first byte of its header, and reports whether
// it did. Call it when a read times out while Next still returns
// ErrNeedMore: a frame truncated on the wire (or a false header in noise)
// otherwise waits for bytes that never come, and may hide whole frames
// behind it. The byte counts as Garbage.
func (d *Decoder) Resync() bool {
	if d.end-d.start < 2 || d.buf[d.start] != 0xFF || d.buf[d.start+1] != 0xFF {
		return false
	}
	d.discard(1)
	return true
}

// Buffered returns the number of bytes written but not yet returned or
// discarded: a partial frame, or frames not yet taken with Next.
func (d *Decoder) Buffered() int { return d.end - d.start }

// Reset discards the buffered bytes (counting them as Garbage), for example
// after a reply timeout so that a late or partial frame cannot be taken for
// the answer to the next request. It keeps Status and the statistics.
func (d *Decoder) Reset() {
	d.discard(d.end - d.start)
	d.start, d.end = 0, 0
}

// Stats returns the decoder's counters.
func (d *Decoder) Stats() DecoderStats { return d.stats }
