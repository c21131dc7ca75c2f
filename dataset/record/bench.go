package record

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/dataset"
	"github.com/anther-robotics/anther/robot"
)

// PoseTap is a control.Sink that keeps the latest joint positions for
// readers off the loop (a simulated camera drawing the arm). Push never
// blocks: if a reader holds the lock, the step is skipped.
type PoseTap struct {
	mu  sync.Mutex
	n   int
	pos [robot.MaxJoints]float64
}

// Push implements control.Sink.
func (p *PoseTap) Push(s *control.Step) bool {
	if !p.mu.TryLock() {
		return false
	}
	p.n, p.pos = s.State.N, s.State.Position
	p.mu.Unlock()
	return true
}

// Joints appends the latest joint positions (rad) to dst[:0].
func (p *PoseTap) Joints(dst []float64) []float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append(dst[:0], p.pos[:p.n]...)
}

// BenchConfig is a recording benchmark: the real loop on the wall clock
// over bus, the scripted operator, and the recorder with cameras.
type BenchConfig struct {
	Desc     *robot.Description
	Bus      robot.JointBus
	Cameras  []CameraSpec // running cameras
	Root     string       // dataset folder (must not exist)
	Video    dataset.VideoConfig
	FPS      int
	LoopRate float64       // Hz
	Idle     time.Duration // loop alone, for the idle lateness
	Duration time.Duration // one recorded episode
	Spin     time.Duration // the wall clock's final spin
	Taps     []control.Sink
	// KeepP makes the loop's sleeps keep the Go scheduler's P (the
	// daemon's --rt): wake-ups then never wait for other goroutines.
	KeepP bool
	// RT applies the loop's real-time tuning (SCHED_FIFO, mlockall, GC
	// off up to a memory limit), as anther run --rt does; it implies KeepP.
	RT bool
	// StartCameras, if set, is called when the idle phase ends, so the idle
	// lateness is the loop's alone.
	StartCameras func()
	Logger       *slog.Logger
}

// BenchResult is what RunBench measured.
type BenchResult struct {
	Codec            string            `json:"codec"`
	Cameras          int               `json:"cameras"`
	Width            int               `json:"width"`
	Height           int               `json:"height"`
	FPS              int               `json:"fps"`
	LoopRateHz       float64           `json:"loop_rate_hz"`
	Seconds          float64           `json:"seconds"`
	FramesExpected   int               `json:"frames_expected"`
	Frames           int               `json:"frames"`
	DroppedSteps     uint64            `json:"dropped_steps"`
	Issues           map[string]int    `json:"issues"`
	Faithful         bool              `json:"faithful"`
	MaxBacklog       int               `json:"max_encoder_backlog"`
	StopToSavedMS    float64           `json:"stop_to_saved_ms"`
	IdleLateness     control.Summary   `json:"idle_lateness_us"`
	RecordLateness   control.Summary   `json:"recording_lateness_us"`
	LatenessP99Ratio float64           `json:"lateness_p99_ratio"`
	KeepP            bool              `json:"keep_p"`
	RT               *control.RTResult `json:"rt,omitempty"`
	Overruns         uint64            `json:"overruns_while_recording"`
	Valid            bool              `json:"validates"`
	ValidationErrors []string          `json:"validation_errors,omitempty"`
}

// RunBench runs the loop idle for Idle, then records one episode of
// Duration, saves it and validates the dataset.
func RunBench(ctx context.Context, bc BenchConfig) (*BenchResult, error) {
	if bc.Logger == nil {
		bc.Logger = slog.Default()
	}
	jm, err := NewJointMap(bc.Desc, UnitsLeRobot)
	if err != nil {
		return nil, err
	}
	rec, err := New(Config{Joints: jm, FPS: bc.FPS, Cameras: bc.Cameras, Logger: bc.Logger})
	if err != nil {
		return nil, err
	}
	clock := control.NewWallClock(bc.Spin)
	clock.KeepP = bc.KeepP || bc.RT
	lcfg := control.Config{Rate: bc.LoopRate, Clock: clock, Bus: bc.Bus,
		Limits: control.LimitsFromDescription(bc.Desc, 0.01), Sinks: append([]control.Sink{rec}, bc.Taps...), Logger: bc.Logger}
	if bc.RT {
		rt := control.DefaultRealTime()
		lcfg.RT = &rt
	}
	loop, err := control.New(lcfg)
	if err != nil {
		return nil, err
	}
	w, err := dataset.Open(ctx, bc.Root, dataset.Config{RobotType: RobotType(bc.Desc), FPS: bc.FPS,
		Features: Features(jm, bc.Cameras), Video: bc.Video, Units: UnitsOf(jm), Logger: bc.Logger})
	if err != nil {
		return nil, err
	}
	defer w.Close()

	lctx, stopLoop := context.WithCancel(ctx)
	defer stopLoop()
	loopDone := make(chan error, 1)
	go func() { loopDone <- loop.Run(lctx) }()
	rctx, stopRec := context.WithCancel(ctx)
	defer stopRec()
	go func() { _ = rec.Run(rctx) }()
	if err := Activate(ctx, loop, 5*time.Second); err != nil {
		return nil, err
	}
	loop.SetSource("scripted", NewScripted(bc.Desc), 0)

	sleep := func(d time.Duration) error {
		select {
		case <-time.After(d):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case err := <-loopDone:
			return fmt.Errorf("record: loop stopped: %w", err)
		}
	}
	if err := sleep(bc.Idle); err != nil {
		return nil, err
	}
	res := &BenchResult{Codec: bc.Video.Codec, Cameras: len(bc.Cameras), FPS: bc.FPS, LoopRateHz: bc.LoopRate,
		Seconds: bc.Duration.Seconds(), KeepP: bc.KeepP || bc.RT}
	if len(bc.Cameras) > 0 {
		res.Width, res.Height = bc.Cameras[0].Width, bc.Cameras[0].Height
	}
	tm := loop.Timing()
	res.IdleLateness = tm.Lateness.Summary()
	if bc.StartCameras != nil {
		bc.StartCameras()
		if err := sleep(time.Second); err != nil { // first frames
			return nil, err
		}
	}
	tm.Lateness.Reset()
	over0 := tm.Overruns.Load()

	if err := rec.Start(ctx, w, "benchmark: scripted motion"); err != nil {
		return nil, err
	}
	end := time.Now().Add(bc.Duration)
	for time.Now().Before(end) {
		if err := sleep(50 * time.Millisecond); err != nil {
			return nil, err
		}
		res.MaxBacklog = max(res.MaxBacklog, rec.Status().Backlog)
	}
	st := rec.Status()
	t0 := time.Now()
	sum, err := rec.Stop(ctx)
	res.StopToSavedMS = float64(time.Since(t0).Microseconds()) / 1000
	res.RecordLateness = tm.Lateness.Summary()
	res.Overruns = tm.Overruns.Load() - over0
	if err != nil {
		return nil, err
	}
	res.Frames = sum.Frames
	res.FramesExpected = int(bc.Duration.Seconds() * float64(bc.FPS))
	res.DroppedSteps = st.Dropped
	res.Issues = sum.Quality.Issues
	res.Faithful = sum.Quality.Faithful
	if res.IdleLateness.P99US > 0 {
		res.LatenessP99Ratio = res.RecordLateness.P99US / res.IdleLateness.P99US
	}
	stopRec()
	stopLoop()
	<-loopDone
	w.Close()
	rep, err := dataset.Validate(ctx, bc.Root, dataset.ValidateOptions{})
	if err != nil {
		return nil, err
	}
	res.Valid, res.ValidationErrors = rep.OK(), rep.Errors
	res.RT = loop.RTResult()
	return res, nil
}
