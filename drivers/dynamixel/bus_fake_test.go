package dynamixel

import (
	"errors"
	"sync"
	"time"
)

// fakeMotor is one simulated X-series motor behind a fakePort: a control
// table and fault switches. It answers with packets built by this
// package's encoders.
type fakeMotor struct {
	regs        [256]byte
	silent      bool // never answers
	dropNext    int  // answers missing before it answers again
	corruptNext int  // answers sent with a broken CRC
	alert       bool // Alert bit in every status
	errNum      byte // error number in every status
}

func (m *fakeMotor) id() byte  { return m.regs[AddrID] }
func (m *fakeMotor) baud() int { return baudFromCode(m.regs[AddrBaudRate]) }
func (m *fakeMotor) errB() byte {
	e := m.errNum
	if m.alert {
		e |= alertBit
	}
	return e
}

// fakePort is an in-memory Port with motors on it. Replies to a request
// are queued at once and handed out by Read; an empty Read waits for the
// read timeout (capped) and returns (0, nil), like a serial port.
type fakePort struct {
	mu      sync.Mutex
	motors  []*fakeMotor
	baud    int
	timeout time.Duration
	in      []byte // queued replies
	r       int
	chunk   int    // most bytes per Read (0: all)
	garbage []byte // bytes queued before each reply burst
	rx      [MaxPacket]byte
	recs    [64]FastRecord
	params  [MaxPacket]byte

	counts   [256]int // instruction packets received, by instruction
	writeErr error    // returned by Write when set
	closed   bool
	readCap  time.Duration // longest an empty Read sleeps (default 5 ms)
}

func newFakePort(baud int) *fakePort {
	return &fakePort{baud: baud, in: make([]byte, 0, 1<<16)}
}

// addMotor adds a motor at id, model, firmware 52, baud code for the
// port's current rate, factory Return Delay (250) and position mode.
func (f *fakePort) addMotor(id byte, model uint16) *fakeMotor {
	m := &fakeMotor{}
	PutUint16(m.regs[AddrModelNumber:], model)
	m.regs[AddrFirmwareVersion] = 52
	m.regs[AddrID] = id
	code, _ := BaudCode(f.baud)
	m.regs[AddrBaudRate] = code
	m.regs[AddrReturnDelay] = 250
	m.regs[AddrOperatingMode] = ModePosition
	PutUint32(m.regs[AddrMaxPosition:], 4095)
	PutUint32(m.regs[AddrPresentPosition:], 2048)
	f.motors = append(f.motors, m)
	return m
}

func (f *fakePort) motor(id byte) *fakeMotor {
	for _, m := range f.motors {
		if m.id() == id && m.baud() == f.baud {
			return m
		}
	}
	return nil
}

func (f *fakePort) count(i Instruction) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[i]
}

func (f *fakePort) SetBaud(baud int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.baud = baud
	f.in, f.r = f.in[:0], 0
	return nil
}

func (f *fakePort) SetReadTimeout(d time.Duration) error {
	f.mu.Lock()
	f.timeout = d
	f.mu.Unlock()
	return nil
}

func (f *fakePort) ResetInputBuffer() error {
	f.mu.Lock()
	f.in, f.r = f.in[:0], 0
	f.mu.Unlock()
	return nil
}

func (f *fakePort) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	return nil
}

var errFakeClosed = errors.New("fake port closed")

func (f *fakePort) Read(p []byte) (int, error) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return 0, errFakeClosed
	}
	if f.r == len(f.in) {
		d := f.timeout
		c := f.readCap
		if c == 0 {
			c = 5 * time.Millisecond
		}
		f.mu.Unlock()
		time.Sleep(min(d, c))
		return 0, nil
	}
	end := len(f.in)
	if f.chunk > 0 {
		end = min(end, f.r+f.chunk)
	}
	n := copy(p, f.in[f.r:end])
	f.r += n
	f.mu.Unlock()
	return n, nil
}

func (f *fakePort) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, errFakeClosed
	}
	if f.writeErr != nil {
		return 0, f.writeErr
	}
	// Copy first: ParsePacket un-stuffs in place, and p is the bus's.
	b := f.rx[:copy(f.rx[:], p)]
	for len(b) > 0 {
		pkt, n, err := ParsePacket(b)
		if err != nil {
			break
		}
		b = b[n:]
		f.counts[pkt.Instruction]++
		f.handle(pkt)
	}
	return len(p), nil
}

// reply queues a status from m, applying its fault switches.
func (f *fakePort) reply(m *fakeMotor, params []byte) {
	if m.silent {
		return
	}
	if m.dropNext > 0 {
		m.dropNext--
		return
	}
	if len(f.garbage) > 0 {
		f.in = append(f.in, f.garbage...)
	}
	start := len(f.in)
	f.in = AppendStatus(f.in, m.id(), m.errB(), params)
	if m.corruptNext > 0 {
		m.corruptNext--
		f.in[len(f.in)-1] ^= 0x5A
	}
	_ = start
}

func (f *fakePort) handle(p Packet) {
	if len(f.in) == f.r {
		f.in, f.r = f.in[:0], 0
	}
	switch p.Instruction {
	case Ping:
		for _, m := range f.motors {
			if m.baud() == f.baud && (p.ID == BroadcastID || p.ID == m.id()) {
				f.reply(m, []byte{m.regs[0], m.regs[1], m.regs[AddrFirmwareVersion]})
			}
		}
	case Read:
		if m := f.motor(p.ID); m != nil && len(p.Params) == 4 {
			addr, size := Uint16(p.Params), Uint16(p.Params[2:])
			f.reply(m, m.regs[addr:addr+size])
		}
	case Write:
		for _, m := range f.motors {
			if m.baud() != f.baud || (p.ID != BroadcastID && p.ID != m.id()) || len(p.Params) < 2 {
				continue
			}
			addr := Uint16(p.Params)
			data := p.Params[2:]
			if addr < AddrTorqueEnable && m.regs[AddrTorqueEnable] != 0 {
				if p.ID != BroadcastID {
					save := m.errNum
					m.errNum = byte(ErrNumAccess)
					f.reply(m, nil)
					m.errNum = save
				}
				continue
			}
			oldID := m.id()
			if p.ID != BroadcastID {
				// Answer before applying, from the old ID at the old rate.
				f.reply(m, nil)
			}
			copy(m.regs[addr:], data)
			_ = oldID
			f.applyGoal(m)
		}
	case SyncRead, FastSyncRead:
		if len(p.Params) < 4 {
			return
		}
		addr, size := Uint16(p.Params), int(Uint16(p.Params[2:]))
		ids := p.Params[4:]
		if p.Instruction == SyncRead {
			for _, id := range ids {
				if m := f.motor(id); m != nil {
					f.reply(m, m.regs[addr:int(addr)+size])
				}
			}
			return
		}
		recs := f.recs[:0]
		for _, id := range ids {
			m := f.motor(id)
			if m == nil || m.silent {
				return // a silent motor breaks the chain: no reply at all
			}
			if m.dropNext > 0 {
				m.dropNext--
				return
			}
			recs = append(recs, FastRecord{ID: id, Err: m.errB(), Data: m.regs[addr : int(addr)+size]})
		}
		if len(recs) == 0 {
			return
		}
		f.in = append(f.in, f.garbage...)
		f.in = AppendFastStatus(f.in, recs)
		for _, id := range ids {
			if m := f.motor(id); m != nil && m.corruptNext > 0 {
				m.corruptNext--
				f.in[len(f.in)-1] ^= 0x5A
				break
			}
		}
	case SyncWrite:
		if len(p.Params) < 4 {
			return
		}
		addr, size := Uint16(p.Params), int(Uint16(p.Params[2:]))
		for d := p.Params[4:]; len(d) >= 1+size; d = d[1+size:] {
			if m := f.motor(d[0]); m != nil {
				copy(m.regs[addr:], d[1:1+size])
				f.applyGoal(m)
			}
		}
	case Reboot:
		if m := f.motor(p.ID); m != nil {
			f.reply(m, nil)
			m.regs[AddrTorqueEnable] = 0
			m.regs[AddrHardwareError] = 0
			m.alert = false
		}
	}
}

// applyGoal moves a motor with torque on to its goal at once.
func (f *fakePort) applyGoal(m *fakeMotor) {
	if m.regs[AddrTorqueEnable] != 0 {
		copy(m.regs[AddrPresentPosition:AddrPresentPosition+4], m.regs[AddrGoalPosition:AddrGoalPosition+4])
	}
}
