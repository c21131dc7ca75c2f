package sim

import (
	"sync/atomic"
	"time"
)

// Clock is the time source of an in-process Port: control.WallClock (real
// waits) and control.SteppedClock (waiting moves the clock, so runs are
// deterministic) both satisfy it.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// SleepUntil returns at or after deadline.
	SleepUntil(deadline time.Time)
}

// Port is the host's end of a simulated bus (a VirtualBus or a FeetechBus)
// in the same process: it satisfies
// the host driver's port interface (Read, Write, SetReadTimeout,
// ResetInputBuffer, plus SetBaud). Write hands the bytes to the devices at
// once, and Read returns the replies when the wire-time model says they
// have arrived, waiting for that moment on the Clock: a stepped clock is
// moved forward instead, so a simulated transaction costs exactly its
// modelled time. Use a Port from one goroutine at a time, as a serial port.
type Port struct {
	vb      Hosted
	clock   Clock
	t0      time.Time
	virtual time.Duration // bus time when there is no clock
	timeout time.Duration
	gone    atomic.Bool // unplugged or closed
}

// Port returns a new in-process port on the bus. With a nil clock the port
// keeps its own virtual time, which moves only when Read waits for data
// (or a timeout).
func (vb *VirtualBus) Port(clock Clock) *Port { return newPort(vb, clock) }

// newPort returns an in-process port on bus.
func newPort(bus Hosted, clock Clock) *Port {
	p := &Port{vb: bus, clock: clock, timeout: 100 * time.Millisecond}
	if clock != nil {
		p.t0 = clock.Now()
	}
	return p
}

// now returns the bus time.
func (p *Port) now() time.Duration {
	if p.clock == nil {
		return p.virtual
	}
	return p.clock.Now().Sub(p.t0)
}

// wait returns when bus time t has come.
func (p *Port) wait(t time.Duration) {
	if p.clock == nil {
		p.virtual = max(p.virtual, t)
		return
	}
	p.clock.SleepUntil(p.t0.Add(t))
}

// Now returns the port's bus time (for tests and tools).
func (p *Port) Now() time.Duration { return p.now() }

// Write transmits b: the devices see every whole instruction in it once its
// last byte is on the wire. It returns at once, as a serial port's Write
// returns when the bytes are queued.
func (p *Port) Write(b []byte) (int, error) {
	if p.gone.Load() {
		return 0, ErrUnplugged
	}
	mu := p.vb.lock()
	mu.Lock()
	p.vb.receive(p.now(), b)
	mu.Unlock()
	return len(b), nil
}

// Read returns the reply bytes that have arrived, waiting up to the read
// timeout for the first of them; (0, nil) when the timeout passes. It does
// not wait for data that no request will produce: with nothing on its way
// and a negative (infinite) timeout it returns (0, nil) at once.
func (p *Port) Read(b []byte) (int, error) {
	if p.gone.Load() {
		return 0, ErrUnplugged
	}
	if len(b) == 0 {
		return 0, nil
	}
	mu, out := p.vb.lock(), p.vb.out()
	now := p.now()
	mu.Lock()
	c, ok := out.next()
	mu.Unlock()
	switch {
	case !ok && p.timeout < 0:
		return 0, nil
	case !ok || p.timeout >= 0 && c.at > now+p.timeout:
		p.wait(now + p.timeout)
		return 0, nil
	case c.at > now:
		p.wait(c.at)
		now = max(c.at, p.now())
	}
	if p.gone.Load() {
		return 0, ErrUnplugged
	}
	mu.Lock()
	n := out.take(b, now)
	mu.Unlock()
	return n, nil
}

// SetReadTimeout sets how long Read waits for the first byte; negative
// waits for as long as data is on its way.
func (p *Port) SetReadTimeout(d time.Duration) error {
	if p.gone.Load() {
		return ErrUnplugged
	}
	p.timeout = d
	return nil
}

// ResetInputBuffer discards the bytes that have arrived and not been read;
// replies still on the wire arrive later as usual.
func (p *Port) ResetInputBuffer() error {
	if p.gone.Load() {
		return ErrUnplugged
	}
	mu := p.vb.lock()
	mu.Lock()
	p.vb.out().discard(p.now())
	mu.Unlock()
	return nil
}

// SetBaud switches the line rate, as a serial port's mode change does.
func (p *Port) SetBaud(baud int) error {
	if p.gone.Load() {
		return ErrUnplugged
	}
	return p.vb.SetBaud(baud)
}

// Unplug makes every later call fail with ErrUnplugged, as a USB adapter
// pulled out does.
func (p *Port) Unplug() { p.gone.Store(true) }

// Close closes the port (idempotent); later calls fail with ErrUnplugged.
func (p *Port) Close() error {
	p.gone.Store(true)
	return nil
}
