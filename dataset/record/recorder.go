package record

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/dataset"
	"github.com/anther-robotics/anther/robot"
)

// Config is what a Recorder needs.
type Config struct {
	Joints  *JointMap    // dataset vectors ↔ robot joints
	FPS     int          // dataset frames per second
	Cameras []CameraSpec // in dataset order (must match the dataset's cameras)
	// RingSize is the number of loop steps buffered between the loop and
	// the recorder (0: 8192, 16 s at 500 Hz). A full ring drops steps
	// (counted): the loop never waits.
	RingSize int
	// MaxImageAge is the oldest camera image accepted for a frame (0: 4
	// frame periods); an older one is recorded as a duplicate and marks the
	// episode as not faithful.
	MaxImageAge time.Duration
	// MaxSkew is how far an image's capture time may be from its step's
	// time (0: 2 frame periods); beyond it the episode is marked.
	MaxSkew time.Duration
	Logger  *slog.Logger
}

// Recorder records episodes from the control loop into a dataset. Attach
// it to the loop as a Sink (Push never blocks: it copies the step into a
// ring, or drops and counts it when the ring is full) and run Run on its
// own goroutine; Run samples the steps at the dataset's fps, grabs one
// image per camera for each frame and feeds the episode. Encoders that fall
// behind block Run (AcquireImage), never the loop; if that makes the ring
// overflow or the images late, the episode is marked as not faithful and
// the operator is told. Start, Stop, Discard and Status are safe from any
// goroutine.
type Recorder struct {
	cfg   Config
	ring  *control.Ring
	armed atomic.Bool
	cmds  chan command
	log   *slog.Logger

	mu     sync.Mutex
	status Status
}

// Status is what the operator sees.
type Status struct {
	State    string           `json:"state"` // idle, recording, saving
	Dataset  string           `json:"dataset,omitempty"`
	Episode  int              `json:"episode"`
	Task     string           `json:"task,omitempty"`
	Elapsed  float64          `json:"elapsed_s"`
	Frames   int              `json:"frames"`
	Encoded  int              `json:"encoded"`
	Backlog  int              `json:"encoder_backlog"` // frames waiting for the slowest camera's encoder
	Dropped  uint64           `json:"dropped_steps"`   // loop steps the ring dropped during this episode
	Faithful bool             `json:"faithful"`
	Issues   map[string]int   `json:"issues,omitempty"`
	Saved    int              `json:"episodes_saved"`
	Last     *dataset.Summary `json:"last,omitempty"`
}

// Issue names (keys of Status.Issues and dataset.Quality.Issues). The
// first three mark an episode as not faithful.
const (
	IssueLostSteps     = "lost_steps"      // loop steps dropped across a frame's time: a frame repeats the previous step
	IssueStaleImages   = "stale_images"    // camera image older than MaxImageAge (or none): the previous image repeats
	IssueSkewedImages  = "skewed_images"   // image captured more than MaxSkew from its step (recorder behind)
	IssueRepeatedImage = "repeated_images" // the camera had no new frame since the last one (informational)
	IssueEncoderWaits  = "encoder_waits"   // frames that waited for an encoder buffer (backpressure, informational)
)

type cmdKind int

const (
	cmdStart cmdKind = iota
	cmdStop
	cmdDiscard
)

type command struct {
	kind  cmdKind
	w     *dataset.Writer
	task  string
	reply chan result
}

type result struct {
	sum dataset.Summary
	err error
}

// New checks cfg and returns a recorder.
func New(cfg Config) (*Recorder, error) {
	if cfg.Joints == nil || cfg.Joints.Len() == 0 {
		return nil, errors.New("record: no joints")
	}
	if cfg.FPS <= 0 {
		return nil, fmt.Errorf("record: fps %d", cfg.FPS)
	}
	for _, c := range cfg.Cameras {
		if c.Camera == nil || c.Width <= 0 || c.Height <= 0 {
			return nil, fmt.Errorf("record: camera %q has no source or size", c.Name)
		}
	}
	if cfg.RingSize <= 0 {
		cfg.RingSize = 8192
	}
	period := time.Second / time.Duration(cfg.FPS)
	if cfg.MaxImageAge <= 0 {
		cfg.MaxImageAge = 4 * period
	}
	if cfg.MaxSkew <= 0 {
		cfg.MaxSkew = 2 * period
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Recorder{cfg: cfg, ring: control.NewRing(cfg.RingSize), cmds: make(chan command), log: cfg.Logger,
		status: Status{State: "idle", Faithful: true}}, nil
}

// Push implements control.Sink. Between episodes it does nothing.
func (r *Recorder) Push(s *control.Step) bool {
	if !r.armed.Load() {
		return true
	}
	return r.ring.Push(s)
}

var _ control.Sink = (*Recorder)(nil)

// Status returns the recorder's state.
func (r *Recorder) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.status
	if s.Issues != nil {
		s.Issues = make(map[string]int, len(r.status.Issues))
		for k, v := range r.status.Issues {
			s.Issues[k] = v
		}
	}
	return s
}

func (r *Recorder) do(ctx context.Context, c command) (dataset.Summary, error) {
	c.reply = make(chan result, 1)
	select {
	case r.cmds <- c:
	case <-ctx.Done():
		return dataset.Summary{}, fmt.Errorf("record: recorder not running: %w", ctx.Err())
	}
	select {
	case res := <-c.reply:
		return res.sum, res.err
	case <-ctx.Done():
		return dataset.Summary{}, ctx.Err()
	}
}

// Start begins an episode of w with task from the next loop step.
func (r *Recorder) Start(ctx context.Context, w *dataset.Writer, task string) error {
	_, err := r.do(ctx, command{kind: cmdStart, w: w, task: task})
	return err
}

// Stop ends the episode and saves it; it returns when the episode is part
// of the dataset.
func (r *Recorder) Stop(ctx context.Context) (dataset.Summary, error) {
	// The episode ends now: no step after this call is recorded; the ones
	// already in the ring are (with their images), then it is saved.
	r.armed.Store(false)
	return r.do(ctx, command{kind: cmdStop})
}

// Discard ends the episode and drops it.
func (r *Recorder) Discard(ctx context.Context) error {
	_, err := r.do(ctx, command{kind: cmdDiscard})
	return err
}

// episode is the recording state owned by Run's goroutine.
type episode struct {
	ep       *dataset.Episode
	w        *dataset.Writer
	started  bool
	t0       time.Time
	lastSeq  uint64
	k        int // frames emitted
	dropped0 uint64
	issues   map[string]int
	warned   bool
	frames   []robot.Frame // last frame read per camera
	images   []*dataset.Image
	prev     [][]byte // previous image per camera (for duplicates)
	prevSeq  []uint64
	action   []float64
	state    []float64
	lateness *control.Histogram // the loop's wake-up lateness over the episode
}

// Run drains the ring and records until ctx ends; an open episode is then
// discarded.
func (r *Recorder) Run(ctx context.Context) error {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	var cur *episode
	var st control.Step
	for {
		if cur == nil || r.ring.Len() == 0 {
			select {
			case <-ctx.Done():
				return r.quit(cur)
			case c := <-r.cmds:
				cur = r.handle(ctx, c, cur)
			case <-tick.C:
			}
		} else {
			// Steps are waiting: take a command if there is one, else go on.
			select {
			case <-ctx.Done():
				return r.quit(cur)
			case c := <-r.cmds:
				cur = r.handle(ctx, c, cur)
			default:
			}
		}
		// Bounded batches, so a Stop gets through even while the encoders
		// hold the recorder back.
		for n := 0; n < 64 && cur != nil && r.ring.Pop(&st); n++ {
			if err := r.sample(ctx, cur, &st); err != nil {
				r.log.Error("record: episode failed; discarding it", "episode", cur.ep.Index(), "err", err)
				r.armed.Store(false)
				_ = cur.ep.Discard()
				cur = nil
				r.mu.Lock()
				r.status.State = "idle"
				r.status.Issues = map[string]int{"failed": 1}
				r.status.Faithful = false
				r.mu.Unlock()
			}
		}
		if cur != nil {
			r.updateStatus(cur)
		}
	}
}

// quit discards an open episode when Run ends.
func (r *Recorder) quit(cur *episode) error {
	r.armed.Store(false)
	if cur != nil {
		_ = cur.ep.Discard()
		r.setIdle()
	}
	return nil
}

func (r *Recorder) setIdle() {
	r.mu.Lock()
	r.status.State = "idle"
	r.mu.Unlock()
}

func (r *Recorder) handle(ctx context.Context, c command, cur *episode) *episode {
	switch c.kind {
	case cmdStart:
		if cur != nil {
			c.reply <- result{err: fmt.Errorf("record: episode %d is being recorded; stop or discard it first", cur.ep.Index())}
			return cur
		}
		ep, err := c.w.StartEpisode(c.task)
		if err != nil {
			c.reply <- result{err: err}
			return nil
		}
		n := len(r.cfg.Cameras)
		e := &episode{ep: ep, w: c.w, issues: map[string]int{}, frames: make([]robot.Frame, n),
			images: make([]*dataset.Image, n), prev: make([][]byte, n), prevSeq: make([]uint64, n),
			action: make([]float64, r.cfg.Joints.Len()), state: make([]float64, r.cfg.Joints.Len())}
		if got := ep.Cameras(); len(got) != n {
			_ = ep.Discard()
			c.reply <- result{err: fmt.Errorf("record: the dataset has %d cameras, the recorder %d", len(got), n)}
			return nil
		}
		// Empty the ring of anything older, then arm.
		var st control.Step
		for r.ring.Pop(&st) {
		}
		e.dropped0 = r.ring.Dropped()
		r.armed.Store(true)
		r.mu.Lock()
		r.status = Status{State: "recording", Dataset: c.w.Root(), Episode: ep.Index(), Task: c.task, Faithful: true,
			Saved: r.status.Saved, Last: r.status.Last}
		r.mu.Unlock()
		r.log.Info("record: episode started", "episode", ep.Index(), "task", c.task)
		c.reply <- result{}
		return e
	case cmdStop:
		if cur == nil {
			c.reply <- result{err: errors.New("record: no episode is being recorded")}
			return nil
		}
		r.armed.Store(false)
		// Take the steps still in the ring up to now.
		var st control.Step
		for r.ring.Pop(&st) {
			if err := r.sample(ctx, cur, &st); err != nil {
				_ = cur.ep.Discard()
				r.setIdle()
				c.reply <- result{err: err}
				return nil
			}
		}
		r.updateStatus(cur)
		r.mu.Lock()
		r.status.State = "saving"
		r.mu.Unlock()
		q := quality(cur.issues)
		if h := cur.lateness; h != nil {
			sm := h.Summary()
			q.Loop = &dataset.LoopTiming{Ticks: sm.Count, P50US: sm.P50US, P99US: sm.P99US, P999US: sm.P999US, MaxUS: sm.MaxUS}
			r.log.Info("record: loop timing over the episode", "episode", cur.ep.Index(), "ticks", sm.Count,
				"lateness_p50_us", sm.P50US, "lateness_p99_us", sm.P99US, "lateness_p99_9_us", sm.P999US, "lateness_max_us", sm.MaxUS)
		}
		if !q.Faithful {
			r.log.Warn("record: episode was not recorded faithfully; saved and marked", "episode", cur.ep.Index(), "issues", cur.issues)
		}
		sum, err := cur.ep.Save(ctx, q)
		r.mu.Lock()
		r.status.State = "idle"
		if err == nil {
			r.status.Saved++
			r.status.Last = &sum
		}
		r.mu.Unlock()
		if err == nil {
			r.log.Info("record: episode saved", "episode", sum.Index, "frames", sum.Frames,
				"save_ms", sum.SaveTime.Milliseconds(), "faithful", q.Faithful)
		}
		c.reply <- result{sum: sum, err: err}
		return nil
	case cmdDiscard:
		if cur == nil {
			c.reply <- result{err: errors.New("record: no episode is being recorded")}
			return nil
		}
		r.armed.Store(false)
		err := cur.ep.Discard()
		r.setIdle()
		r.log.Info("record: episode discarded", "episode", cur.ep.Index())
		c.reply <- result{err: err}
		return nil
	}
	return cur
}

// quality turns issue counts into the episode's mark.
func quality(issues map[string]int) dataset.Quality {
	q := dataset.Quality{Faithful: true, Issues: map[string]int{}}
	for k, v := range issues {
		if v == 0 {
			continue
		}
		q.Issues[k] = v
		if k == IssueLostSteps || k == IssueStaleImages || k == IssueSkewedImages {
			q.Faithful = false
		}
	}
	if len(q.Issues) == 0 {
		q.Issues = nil
	}
	return q
}

func (r *Recorder) note(e *episode, issue string, n int) {
	e.issues[issue] += n
	if !e.warned && (issue == IssueLostSteps || issue == IssueStaleImages || issue == IssueSkewedImages) {
		e.warned = true
		r.log.Warn("record: this episode cannot be recorded faithfully; it will be marked (re-record it, or lower the load)",
			"episode", e.ep.Index(), "issue", issue, "frame", e.k)
	}
}

func (r *Recorder) updateStatus(e *episode) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status.Frames = e.ep.Frames()
	r.status.Encoded = e.ep.Encoded()
	r.status.Backlog = e.ep.Backlog()
	r.status.Elapsed = float64(e.k) / float64(r.cfg.FPS)
	r.status.Dropped = r.ring.Dropped() - e.dropped0
	r.status.Faithful = quality(e.issues).Faithful
	r.status.Issues = make(map[string]int, len(e.issues))
	for k, v := range e.issues {
		r.status.Issues[k] = v
	}
}

// sample turns loop steps into dataset frames: frame k is the first step at
// or after t0 + k/fps.
func (r *Recorder) sample(ctx context.Context, e *episode, st *control.Step) error {
	if e.lateness == nil {
		e.lateness = &control.Histogram{}
	}
	e.lateness.Add(st.Lateness)
	if !e.started {
		e.started, e.t0, e.lastSeq = true, st.Time, st.Seq
	} else {
		e.lastSeq = st.Seq
	}
	fps := float64(r.cfg.FPS)
	deadline := e.t0.Add(time.Duration(float64(e.k) / fps * float64(time.Second)))
	if st.Time.Before(deadline) {
		return nil
	}
	// Deadlines passed without a step (steps lost in the ring, or a stalled
	// loop) are filled with this step and marked.
	behind := int(math.Floor(st.Time.Sub(deadline).Seconds() * fps))
	if behind > 0 {
		r.note(e, IssueLostSteps, behind)
	}
	for i := 0; i <= behind; i++ {
		if err := r.emit(ctx, e, st); err != nil {
			return err
		}
	}
	return nil
}

// emit adds one frame from st and the cameras' latest images.
func (r *Recorder) emit(ctx context.Context, e *episode, st *control.Step) error {
	r.cfg.Joints.ToDataset(e.action, &st.Command.Position)
	r.cfg.Joints.ToDataset(e.state, &st.State.Position)
	for c, cam := range r.cfg.Cameras {
		t0 := time.Now()
		img, err := e.ep.AcquireImage(ctx, c)
		if err != nil {
			return err
		}
		if time.Since(t0) > time.Millisecond {
			r.note(e, IssueEncoderWaits, 1)
		}
		f := &e.frames[c]
		err = cam.Camera.Latest(f, r.cfg.MaxImageAge)
		switch {
		case err == nil || errors.Is(err, robot.ErrStale):
			if err != nil {
				r.note(e, IssueStaleImages, 1)
			}
			if cerr := toRGB(img.Pix, img.Width, img.Height, f); cerr != nil {
				e.ep.ReleaseImage(c, img)
				return cerr
			}
			if err == nil {
				if skew := f.Capture.Sub(st.Time); skew > r.cfg.MaxSkew || skew < -r.cfg.MaxSkew {
					r.note(e, IssueSkewedImages, 1)
				}
				if f.Seq == e.prevSeq[c] {
					r.note(e, IssueRepeatedImage, 1)
				}
			}
			e.prevSeq[c] = f.Seq
		default: // no frame at all
			r.note(e, IssueStaleImages, 1)
			if e.prev[c] != nil {
				copy(img.Pix, e.prev[c])
			} else {
				clear(img.Pix)
			}
		}
		if e.prev[c] == nil {
			e.prev[c] = make([]byte, len(img.Pix))
		}
		copy(e.prev[c], img.Pix)
		img.Time = f.Capture
		e.images[c] = img
	}
	if err := e.ep.Add([][]float64{e.action, e.state}, e.images); err != nil {
		return err
	}
	e.k++
	return nil
}
