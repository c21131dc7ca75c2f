package camera

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anther-robotics/anther/robot"
)

// Errors of this package. Source errors wrap them where they apply.
var (
	// ErrRunning is returned by Run on a camera that is already running.
	ErrRunning = errors.New("camera: already running")
	// ErrFatal marks a source error that retrying will not fix (a missing
	// file, an unsupported codec); Run returns it instead of retrying.
	ErrFatal = errors.New("camera: fatal")
	// ErrStopped is returned by Next once the camera's Run has returned.
	ErrStopped = errors.New("camera: stopped")
)

// Transport is how an RTSP client receives RTP.
type Transport string

// RTSP transports.
const (
	TransportAuto Transport = ""    // UDP, falling back to TCP when no packet arrives (gortsplib's default)
	TransportUDP  Transport = "udp" // RTP over UDP
	TransportTCP  Transport = "tcp" // RTP interleaved in the RTSP TCP connection
)

// Config describes one camera. Zero values pick the defaults noted.
type Config struct {
	Name   string            // for logs and stats
	Source string            // see ParseSource; KindSim is the caller's to resolve into an RTSP URL
	Width  int               // USB: requested width (0 = device default); others: informative
	Height int               // USB: requested height (0 = device default)
	FPS    float64           // USB: requested rate; file: playback rate (0 = the file's own)
	FourCC string            // USB: pixel format to ask for, "MJPG" or "YUYV" ("" = device default)
	Format robot.PixelFormat // delivered format: PixelBGR24 (default) or PixelRGB24

	Transport      Transport     // RTSP: see Transport
	DecoderThreads int           // RTSP: libavcodec slice threads (0 = 1: lowest latency, least CPU)
	ReadTimeout    time.Duration // RTSP: how long without data before reconnecting (0 = 3 s)
	Loop           bool          // file: start again at the end instead of stopping
	Unpaced        bool          // file: deliver frames as fast as they decode instead of at the file's rate

	Slots      int           // ring buffers (0 = 4; at least 3)
	MinBackoff time.Duration // first wait before reconnecting after a failure (0 = 100 ms)
	MaxBackoff time.Duration // longest wait between reconnections (0 = 5 s)
	Logger     *slog.Logger  // nil = discard
}

// Mode is what a source actually delivers, which may differ from what was
// asked (a USB camera grants the nearest mode it supports).
type Mode struct {
	Codec  string  `json:"codec"`  // "h264", "h265", a V4L2 fourcc ("MJPG", "YUYV") or a file's codec
	Width  int     `json:"width"`  // pixels
	Height int     `json:"height"` // pixels
	FPS    float64 `json:"fps"`    // nominal rate (0 when the source does not say)
}

// Stats are a camera's counters, safe to read at any time.
type Stats struct {
	Name        string        `json:"name"`
	Source      string        `json:"source"` // passwords hidden
	Kind        string        `json:"kind"`
	Mode        Mode          `json:"mode"`
	Connected   bool          `json:"connected"`    // the source is open and delivering
	FPS         float64       `json:"fps"`          // measured over the last second
	Frames      uint64        `json:"frames"`       // frames delivered (the newest Seq)
	Dropped     uint64        `json:"dropped"`      // frames captured but not delivered: no free buffer, undecodable, incomplete
	PacketsLost uint64        `json:"packets_lost"` // RTP packets lost (RTSP)
	Reconnects  uint64        `json:"reconnects"`   // source restarts after a failure
	LastFrame   time.Time     `json:"last_frame"`   // arrival of the newest frame
	Latency     time.Duration `json:"latency_ns"`   // arrival minus capture of the newest frame
	DecodeCPU   time.Duration `json:"decode_cpu_ns"`
	LastError   string        `json:"last_error,omitempty"`
}

// Camera captures from one source on its own goroutine (Run) and serves
// the newest frames to any number of readers. It implements robot.Camera.
type Camera struct {
	cfg  Config
	src  Source
	log  *slog.Logger
	ring *ring
	grab grabber

	running atomic.Bool
	done    chan struct{} // closed when Run returns

	// producer side, touched only by the source goroutine
	cur         *ringSlot
	lastCapture time.Time
	fpsStart    time.Time
	fpsFrames   int

	// counters, written by the producer, read by Stats
	dropped     atomic.Uint64
	packetsLost atomic.Uint64
	reconnects  atomic.Uint64
	decodeCPU   atomic.Int64
	fpsBits     atomic.Uint64
	lastArrival atomic.Int64 // unix ns
	latency     atomic.Int64 // ns
	connected   atomic.Bool
	mu          sync.Mutex // guards mode and lastErr
	mode        Mode
	lastErr     string
}

var _ robot.Camera = (*Camera)(nil)

// grabber is one kind of source. grab captures until ctx ends (returning
// nil) or the source fails; the Camera retries failures with backoff unless
// they wrap ErrFatal. grab publishes frames through the camera's producer
// methods (begin, commit) from the goroutine that called it.
type grabber interface {
	grab(ctx context.Context, c *Camera) error
}

// New checks cfg and returns a camera that has touched nothing yet: Run
// opens the source.
func New(cfg Config) (*Camera, error) {
	src, err := ParseSource(cfg.Source)
	if err != nil {
		return nil, err
	}
	if cfg.Format == robot.PixelUnknown {
		cfg.Format = robot.PixelBGR24
	}
	if cfg.Format != robot.PixelBGR24 && cfg.Format != robot.PixelRGB24 {
		return nil, fmt.Errorf("camera %s: format %s not supported (want bgr24 or rgb24)", cfg.Name, cfg.Format)
	}
	if cfg.Width < 0 || cfg.Height < 0 || cfg.FPS < 0 || math.IsNaN(cfg.FPS) || math.IsInf(cfg.FPS, 0) {
		return nil, fmt.Errorf("camera %s: bad size %dx%d or rate %g", cfg.Name, cfg.Width, cfg.Height, cfg.FPS)
	}
	switch cfg.Transport {
	case TransportAuto, TransportUDP, TransportTCP:
	default:
		return nil, fmt.Errorf("camera %s: transport %q (want udp, tcp or empty)", cfg.Name, cfg.Transport)
	}
	if cfg.Slots == 0 {
		cfg.Slots = 4
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(5*time.Second, cfg.MinBackoff)
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 3 * time.Second
	}
	if cfg.DecoderThreads <= 0 {
		cfg.DecoderThreads = 1
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Camera{cfg: cfg, src: src, log: log.With("camera", cfg.Name), ring: newRing(cfg.Slots), done: make(chan struct{})}
	switch src.Kind {
	case KindUSB:
		c.grab = &usbGrabber{}
	case KindFile:
		c.grab = &fileGrabber{}
	case KindRTSP:
		c.grab = &rtspGrabber{}
	default:
		return nil, fmt.Errorf("camera %s: source %q: %s sources are built by the caller", cfg.Name, src, src.Kind)
	}
	return c, nil
}

// Name is the camera's name from its Config.
func (c *Camera) Name() string { return c.cfg.Name }

// Source is the parsed source.
func (c *Camera) Source() Source { return c.src }

// Run captures until ctx ends, reopening the source with exponential
// backoff after failures, and returns nil then. It returns early with an
// error only for failures that wrap ErrFatal, or, for a file without
// Loop, returns nil at the end of the file. Call it once.
func (c *Camera) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer close(c.done)
	defer c.connected.Store(false)
	backoff := c.cfg.MinBackoff
	lastLogged := ""
	for {
		before := c.ring.seq.Load()
		err := c.grab.grab(ctx, c)
		c.connected.Store(false)
		if c.cur != nil {
			c.ring.abandon(c.cur)
			c.cur = nil
		}
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			return nil // the source ended (a file without Loop)
		}
		c.setError(err)
		if errors.Is(err, ErrFatal) {
			c.log.Error("camera failed", "source", c.src.String(), "err", err)
			return err
		}
		if c.ring.seq.Load() > before {
			backoff = c.cfg.MinBackoff // it worked for a while: retry quickly
		}
		c.reconnects.Add(1)
		// Warn once per kind of failure; a camera unplugged for an hour
		// should not fill the log.
		lvl := slog.LevelWarn
		if msg := err.Error(); msg == lastLogged {
			lvl = slog.LevelDebug
		} else {
			lastLogged = msg
		}
		c.log.Log(ctx, lvl, "camera source failed; reconnecting", "source", c.src.String(), "err", err, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, c.cfg.MaxBackoff)
	}
}

// Latest copies the newest frame into dst without waiting. It returns
// robot.ErrNoFrame before the first frame, and robot.ErrStale (with dst
// filled) if the frame was captured more than maxAge ago (maxAge <= 0
// accepts any age). It allocates only when dst.Pix is too small.
func (c *Camera) Latest(dst *robot.Frame, maxAge time.Duration) error {
	if !c.ring.read(dst) {
		return robot.ErrNoFrame
	}
	if maxAge > 0 && time.Since(dst.Capture) > maxAge {
		return robot.ErrStale
	}
	return nil
}

// Next waits for a frame newer than dst.Seq and copies the newest into dst.
// It returns ctx.Err() when ctx ends and ErrStopped once Run has returned.
// Set dst.Seq to 0 to accept the newest frame whatever it is.
func (c *Camera) Next(ctx context.Context, dst *robot.Frame) error {
	return c.ring.next(ctx, dst, c.done)
}

// Done is closed when Run returns.
func (c *Camera) Done() <-chan struct{} { return c.done }

// Mode reports what the source delivers (zero until it has opened).
func (c *Camera) Mode() Mode {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mode
}

// Stats returns the camera's counters.
func (c *Camera) Stats() Stats {
	c.mu.Lock()
	mode, lastErr := c.mode, c.lastErr
	c.mu.Unlock()
	st := Stats{
		Name: c.cfg.Name, Source: c.src.String(), Kind: c.src.Kind.String(), Mode: mode,
		Connected: c.connected.Load(), Frames: c.ring.seq.Load(), Dropped: c.dropped.Load(),
		PacketsLost: c.packetsLost.Load(), Reconnects: c.reconnects.Load(),
		Latency: time.Duration(c.latency.Load()), DecodeCPU: time.Duration(c.decodeCPU.Load()), LastError: lastErr,
	}
	if ns := c.lastArrival.Load(); ns != 0 {
		st.LastFrame = time.Unix(0, ns)
		if time.Since(st.LastFrame) < 2*time.Second {
			st.FPS = math.Float64frombits(c.fpsBits.Load())
		}
	}
	return st
}

func (c *Camera) setMode(m Mode) {
	c.mu.Lock()
	c.mode = m
	c.mu.Unlock()
}

func (c *Camera) setError(err error) {
	c.mu.Lock()
	c.lastErr = err.Error()
	c.mu.Unlock()
}

// begin returns the frame to fill for a w×h image in the configured
// format, or nil (the frame is counted as dropped) when every buffer is in
// use. Producer only; follow with commit or cancel.
func (c *Camera) begin(w, h int) *robot.Frame {
	if c.cur != nil {
		c.ring.abandon(c.cur)
	}
	c.cur = c.ring.acquire(w, h, c.cfg.Format)
	if c.cur == nil {
		c.dropped.Add(1)
		return nil
	}
	return &c.cur.f
}

// cancel gives back the frame from begin unpublished, counting it dropped.
func (c *Camera) cancel() {
	if c.cur != nil {
		c.ring.abandon(c.cur)
		c.cur = nil
		c.dropped.Add(1)
	}
}

// commit publishes the frame from begin, captured at capture.
func (c *Camera) commit(capture time.Time) {
	if c.cur == nil {
		return
	}
	now := time.Now()
	if capture.IsZero() || capture.After(now) {
		capture = now
	}
	if capture.Before(c.lastCapture) {
		capture = c.lastCapture // keep capture times monotonic across reconnections
	}
	c.lastCapture = capture
	c.ring.publish(c.cur, capture, now)
	c.cur = nil
	c.connected.Store(true)
	c.lastArrival.Store(now.UnixNano())
	c.latency.Store(int64(now.Sub(capture)))
	c.fpsFrames++
	if c.fpsStart.IsZero() {
		c.fpsStart = now
		c.fpsFrames = 0
	} else if el := now.Sub(c.fpsStart); el >= time.Second {
		c.fpsBits.Store(math.Float64bits(float64(c.fpsFrames) / el.Seconds()))
		c.fpsStart, c.fpsFrames = now, 0
	}
}

// dropFrame counts a frame the source captured but could not deliver.
func (c *Camera) dropFrame() { c.dropped.Add(1) }
