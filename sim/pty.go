//go:build linux

package sim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// PtyConfig configures a Pty. Zero values take the defaults given.
type PtyConfig struct {
	// Overhead is what a round trip through the pseudo-terminal costs by
	// itself (measured ~40–50 µs median); replies are written that much
	// before the modelled arrival time so the host sees the modelled
	// transaction time (default 40 µs; negative: none).
	Overhead time.Duration
	// Spin is how long before a reply's time the writer stops sleeping
	// and busy-waits (default 100 µs; Go's timers are coarser than that).
	Spin time.Duration
	// Tick is how often the physics advances when no request comes
	// (default 10 ms).
	Tick time.Duration
	// MaxLag is set as the bus's VirtualConfig.MaxLag unless that is set
	// already (default 50 ms): on the wall clock, a machine too slow for
	// the physics skips time rather than stalling the replies.
	MaxLag time.Duration
}

// Pty serves a simulated bus (a VirtualBus or a FeetechBus) on a
// pseudo-terminal: the simulator holds the
// master, and a host opens the slave (Path) like a USB serial adapter, with
// go.bug.st/serial (without setting modem bits, which ptys refuse). Bus time
// is the wall clock since the Pty was made: a request's arrival is the start
// of its transmission, and each reply is written when the wire-time model
// says its last byte arrives, less the pty's own Overhead.
type Pty struct {
	vb       Hosted
	cfg      PtyConfig
	master   *os.File
	slave    *os.File
	path     string
	start    time.Time
	mu       sync.Mutex
	closed   bool
	unplug   bool
	closeErr error
}

// NewPty opens a pseudo-terminal for vb and puts it in raw mode (no echo,
// no CR/LF translation, 8 bits). Serve it with Run.
func NewPty(vb Hosted, cfg PtyConfig) (*Pty, error) {
	if cfg.Overhead == 0 {
		cfg.Overhead = 40 * time.Microsecond
	}
	if cfg.Spin == 0 {
		cfg.Spin = 100 * time.Microsecond
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 10 * time.Millisecond
	}
	if cfg.MaxLag <= 0 {
		cfg.MaxLag = 50 * time.Millisecond
	}
	vb.defaultMaxLag(cfg.MaxLag)
	master, slave, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("sim: open pty: %w", err)
	}
	if err := makeRaw(int(slave.Fd())); err != nil {
		master.Close()
		slave.Close()
		return nil, fmt.Errorf("sim: pty raw mode: %w", err)
	}
	// pty.Open leaves the master in blocking mode (its ioctls call Fd), so
	// a Read would not return on Close. A non-blocking duplicate goes
	// through the runtime's poller instead.
	master, err = pollable(master)
	if err != nil {
		slave.Close()
		return nil, fmt.Errorf("sim: pty: %w", err)
	}
	return &Pty{vb: vb, cfg: cfg, master: master, slave: slave, path: slave.Name(), start: time.Now()}, nil
}

// pollable replaces f by a non-blocking duplicate, which os.NewFile
// registers with the runtime's poller. It closes f.
func pollable(f *os.File) (*os.File, error) {
	fd, err := unix.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		return nil, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "/dev/ptmx"), nil
}

// makeRaw sets a terminal to raw mode, as cfmakeraw(3) does.
func makeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}

// Path returns the slave device a host opens, e.g. /dev/pts/3.
func (p *Pty) Path() string { return p.path }

// Now returns the bus time.
func (p *Pty) Now() time.Duration { return time.Since(p.start) }

// Run serves the bus until ctx is done, the Pty is closed or unplugged, or
// the pty fails; it advances the physics every Tick meanwhile. It returns
// nil when stopped by ctx or Close, ErrUnplugged after Unplug. Call it
// once.
func (p *Pty) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { p.Close() })
	defer stop()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // physics on the wall clock while the host is quiet
		defer wg.Done()
		tk := time.NewTicker(p.cfg.Tick)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-tk.C:
				p.vb.AdvanceTo(p.Now())
			}
		}
	}()
	err := p.serve()
	close(done)
	wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.unplug:
		return ErrUnplugged
	case p.closed:
		return nil
	}
	return err
}

// serve reads requests and writes the replies at their times.
func (p *Pty) serve() error {
	runtime.LockOSThread() // steadier wake-ups for the waits
	defer runtime.UnlockOSThread()
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0) // best effort: 1 ns timer slack on this thread
	var rx [4096]byte
	var tx [outSize]byte
	vb := p.vb
	mu, out := vb.lock(), vb.out()
	for {
		n, err := p.master.Read(rx[:])
		arrival := p.Now()
		if err != nil {
			return fmt.Errorf("sim: pty read: %w", err)
		}
		mu.Lock()
		vb.receive(arrival, rx[:n])
		mu.Unlock()
		for {
			mu.Lock()
			c, ok := out.next()
			var k int
			if ok {
				k = out.take(tx[:], c.at) // everything due by then, in one write
			}
			mu.Unlock()
			if !ok {
				break
			}
			p.sleepUntil(c.at - p.cfg.Overhead)
			if _, err := p.master.Write(tx[:k]); err != nil {
				return fmt.Errorf("sim: pty write: %w", err)
			}
		}
	}
}

// sleepUntil waits until bus time t: clock_nanosleep until Spin before it
// (Go's timers round short sleeps up), then a busy-wait. It runs on the
// serving goroutine's locked OS thread.
func (p *Pty) sleepUntil(t time.Duration) {
	deadline := p.start.Add(t)
	if d := time.Until(deadline) - p.cfg.Spin; d > 0 {
		ts := unix.NsecToTimespec(int64(d))
		for unix.ClockNanosleep(unix.CLOCK_MONOTONIC, 0, &ts, &ts) == unix.EINTR {
		}
	}
	for time.Now().Before(deadline) {
		// A plain spin: runtime.Gosched on a locked thread hands the P to
		// another thread on every call, which a loaded machine turns into
		// stalls of seconds.
	}
}

// Unplug closes the master side, as pulling the adapter out: the host's
// reads and writes on the slave fail, and Run returns ErrUnplugged.
func (p *Pty) Unplug() error {
	p.mu.Lock()
	p.unplug = true
	p.mu.Unlock()
	return p.Close()
}

// Close stops serving and releases the pty (idempotent).
func (p *Pty) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return p.closeErr
	}
	p.closed = true
	p.closeErr = errors.Join(p.master.Close(), p.slave.Close())
	return p.closeErr
}
