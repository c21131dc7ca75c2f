package sim

import (
	"sync"
	"time"
)

// Hosted is a simulated motor bus that a transport can serve: *VirtualBus
// (Dynamixel Protocol 2.0 devices) or *FeetechBus (Feetech STS devices).
// NewPty serves one on a pseudo-terminal; each also has a Port method for
// an in-process port. The unexported methods keep the set closed: the
// transports rely on the buses' wire-time model.
type Hosted interface {
	// Name returns the bus name.
	Name() string
	// Baud returns the line rate, bits per second.
	Baud() int
	// SetBaud changes the line rate (the host switching its port's baud).
	SetBaud(bps int) error
	// IDs lists the device IDs on the bus, in description order.
	IDs() []byte
	// AdvanceTo runs the physics up to bus time t.
	AdvanceTo(t time.Duration)

	lock() *sync.Mutex
	// receive takes bytes the host started sending at bus time t, runs the
	// whole instructions in them and queues the replies; it returns when
	// the transmission ends. Called with the lock held.
	receive(t time.Duration, b []byte) time.Duration
	// out is the bus's queue of bytes on their way to the host.
	out() *line
	// defaultMaxLag sets the bus's MaxLag if it has none.
	defaultMaxLag(d time.Duration)
}

var (
	_ Hosted = (*VirtualBus)(nil)
	_ Hosted = (*FeetechBus)(nil)
)

func (vb *VirtualBus) lock() *sync.Mutex { return &vb.mu }
func (vb *VirtualBus) out() *line        { return &vb.line }
func (vb *VirtualBus) defaultMaxLag(d time.Duration) {
	vb.mu.Lock()
	if vb.maxLag == 0 {
		vb.maxLag = d
	}
	vb.mu.Unlock()
}

// chunk is a run of bytes of line.buf that reaches the host at time at.
type chunk struct {
	at       time.Duration
	off, end int
}

const (
	outSize   = 1 << 15
	maxChunks = 256
)

// line is the device-to-host direction of a simulated bus: the reply bytes
// queued with the bus time at which they have arrived at the host, in
// time order, and noise waiting to be injected before the next reply. Its
// owner's lock guards it. It does not allocate.
type line struct {
	buf      [outSize]byte
	outR     int
	outW     int
	chunks   [maxChunks]chunk
	chR      int
	chW      int
	lastEnd  time.Duration // when the last queued byte arrives
	garbage  [64]byte
	nGarbage int
	dropped  uint64 // bytes discarded because the host did not read them
	bytesOut uint64 // bytes queued for the host
}

// sendGarbage queues the injected noise at begin (at baud) and returns
// when the line is free again.
func (l *line) sendGarbage(begin time.Duration, baud int) time.Duration {
	if l.nGarbage == 0 {
		return begin
	}
	end := begin + wireTime(l.nGarbage, baud)
	l.queue(end, l.garbage[:l.nGarbage])
	l.nGarbage = 0
	return end
}

// queue appends data, arriving whole at the host at bus time at (or when
// the bytes before it have arrived, if later).
func (l *line) queue(at time.Duration, data []byte) {
	if l.chR == l.chW {
		l.chR, l.chW, l.outR, l.outW = 0, 0, 0, 0
	}
	if len(data) > len(l.buf)-l.outW || l.chW == len(l.chunks) {
		l.compact()
	}
	if len(data) > len(l.buf)-l.outW || l.chW == len(l.chunks) {
		l.dropped += uint64(len(data))
		return
	}
	at = max(at, l.lastEnd)
	n := copy(l.buf[l.outW:], data)
	l.chunks[l.chW] = chunk{at: at, off: l.outW, end: l.outW + n}
	l.chW++
	l.outW += n
	l.lastEnd = at
	l.bytesOut += uint64(n)
}

// compact moves the unread bytes and chunks to the front.
func (l *line) compact() {
	shift := l.outR
	copy(l.buf[:], l.buf[l.outR:l.outW])
	l.outW -= shift
	l.outR = 0
	k := copy(l.chunks[:], l.chunks[l.chR:l.chW])
	for i := range k {
		l.chunks[i].off -= shift
		l.chunks[i].end -= shift
	}
	l.chR, l.chW = 0, k
}

// next returns the earliest chunk not yet consumed, if any.
func (l *line) next() (chunk, bool) {
	if l.chR == l.chW {
		return chunk{}, false
	}
	return l.chunks[l.chR], true
}

// take copies into dst the bytes that have reached the host by bus time t
// and returns how many.
func (l *line) take(dst []byte, t time.Duration) int {
	n := 0
	for l.chR < l.chW && n < len(dst) {
		c := &l.chunks[l.chR]
		if c.at > t {
			break
		}
		k := copy(dst[n:], l.buf[c.off:c.end])
		n += k
		c.off += k
		l.outR = c.off
		if c.off == c.end {
			l.chR++
		}
	}
	return n
}

// discard drops the bytes that have reached the host by bus time t.
func (l *line) discard(t time.Duration) {
	for l.chR < l.chW && l.chunks[l.chR].at <= t {
		l.outR = l.chunks[l.chR].end
		l.chR++
	}
}
