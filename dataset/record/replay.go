package record

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/dataset"
	"github.com/anther-robotics/anther/robot"
)

// Replay plays an episode's actions back as targets at the dataset's fps:
// a control.Source, so every target still goes through the loop's safety
// layer. It first blends from where the joints are to the episode's first
// action over Lead, then steps through the actions, interpolating linearly
// between frames, and holds the last one. Target runs on the loop's thread
// and does not allocate; Done and Progress are safe from any goroutine.
type Replay struct {
	frames [][robot.MaxJoints]float64 // rad
	mask   uint64
	fps    float64
	lead   time.Duration
	start  [robot.MaxJoints]float64
	t0     time.Time
	begun  bool
	frame  atomic.Int64
	done   atomic.Bool
}

// NewReplay returns a replay of frames (joint targets in rad, for the
// joints in mask) at fps, after a blend of lead from the current pose.
func NewReplay(frames [][robot.MaxJoints]float64, mask uint64, fps int, lead time.Duration) (*Replay, error) {
	if len(frames) == 0 || fps <= 0 || mask == 0 {
		return nil, fmt.Errorf("record: replay of %d frames at %d fps for mask %#x", len(frames), fps, mask)
	}
	return &Replay{frames: frames, mask: mask, fps: float64(fps), lead: lead}, nil
}

// Target implements control.Source.
func (r *Replay) Target(now time.Time, st *robot.State, target *[robot.MaxJoints]float64) (uint64, bool) {
	if !r.begun {
		r.begun, r.t0 = true, now
		r.start = st.Position
	}
	t := now.Sub(r.t0)
	first := &r.frames[0]
	if t < r.lead {
		x := t.Seconds() / r.lead.Seconds()
		a := x * x * (3 - 2*x)
		for j := 0; j < robot.MaxJoints; j++ {
			if r.mask&(1<<j) != 0 {
				target[j] = r.start[j] + a*(first[j]-r.start[j])
			}
		}
		return r.mask, true
	}
	pos := (t - r.lead).Seconds() * r.fps
	k := int(math.Floor(pos))
	last := len(r.frames) - 1
	if k >= last {
		k = last
		r.done.Store(true)
	}
	r.frame.Store(int64(k))
	a := &r.frames[k]
	b := &r.frames[min(k+1, last)]
	f := pos - float64(k)
	if k == last {
		f = 0
	}
	for j := 0; j < robot.MaxJoints; j++ {
		if r.mask&(1<<j) != 0 {
			target[j] = a[j] + f*(b[j]-a[j])
		}
	}
	return r.mask, true
}

// Done reports whether the last frame has been reached.
func (r *Replay) Done() bool { return r.done.Load() }

// Progress is the frame being played and the number of frames.
func (r *Replay) Progress() (frame, total int) { return int(r.frame.Load()), len(r.frames) }

// Duration is how long the replay runs, lead included.
func (r *Replay) Duration() time.Duration {
	return r.lead + time.Duration(float64(len(r.frames)-1)/r.fps*float64(time.Second))
}

// EpisodeTrajectory reads episode index of ds and converts a vector
// feature (normally "action" or "observation.state") to joint positions of
// d in rad, with the units the dataset recorded. It returns the frames, the
// joints they cover, and the map used.
func EpisodeTrajectory(ctx context.Context, ds *dataset.Dataset, index int, feature string, d *robot.Description) ([][robot.MaxJoints]float64, *JointMap, error) {
	f := ds.Info.Feature(feature)
	if f == nil {
		return nil, nil, fmt.Errorf("record: dataset has no feature %s", feature)
	}
	names := f.NameList()
	if len(names) != f.Dim() {
		return nil, nil, fmt.Errorf("record: %s has %d names for %d values; cannot map it onto joints", feature, len(names), f.Dim())
	}
	jm, err := JointMapFor(d, names, ds.Units[feature])
	if err != nil {
		return nil, nil, err
	}
	data, err := ds.ReadEpisode(ctx, index)
	if err != nil {
		return nil, nil, err
	}
	out := make([][robot.MaxJoints]float64, data.Len)
	for i := range out {
		jm.FromDataset(&out[i], data.Row(feature, i))
	}
	return out, jm, nil
}

// ReplayConfig is a replay run: the real loop on the wall clock over Bus.
type ReplayConfig struct {
	Desc     *robot.Description
	Bus      robot.JointBus
	Rate     float64 // loop rate, Hz (0: the description's)
	Spin     time.Duration
	Dataset  *dataset.Dataset
	Episode  int
	Feature  string        // the targets: "action" (default)
	Lead     time.Duration // blend from the current pose to the first frame (0: 2 s)
	Settle   time.Duration // hold after the last frame before measuring ends (0: 0.5 s)
	Logger   *slog.Logger
	Progress func(frame, total int) // called about 5 times a second (may be nil)
	Safety   control.Safety         // watchdog settings for the replay's loop (zero: defaults)
}

// ReplayResult compares the replayed motion with the recording.
type ReplayResult struct {
	Episode int      `json:"episode"`
	Frames  int      `json:"frames"`
	FPS     int      `json:"fps"`
	Joints  []string `json:"joints"`
	Units   []string `json:"units"`
	// RMS error, per joint and over all joints, between the joints as
	// measured during the replay at each frame's time and the episode's
	// observation.state (reproduction) and action (tracking), in the
	// dataset's units.
	RMSState     []float64 `json:"rms_vs_observation_state"`
	RMSStateAll  float64   `json:"rms_vs_observation_state_all"`
	RMSAction    []float64 `json:"rms_vs_action"`
	RMSActionAll float64   `json:"rms_vs_action_all"`
	MaxState     float64   `json:"max_abs_vs_observation_state"`
	Seconds      float64   `json:"seconds"`
	Overruns     uint64    `json:"loop_overruns"`
	Trip         string    `json:"safety_trip"`
}

type measured struct {
	t   time.Time
	pos [robot.MaxJoints]float64
}

// RunReplay replays an episode on the robot through the loop's safety
// layer and measures how closely the joints reproduce the recording.
func RunReplay(ctx context.Context, rc ReplayConfig) (*ReplayResult, error) {
	if rc.Feature == "" {
		rc.Feature = "action"
	}
	if rc.Lead <= 0 {
		rc.Lead = 2 * time.Second
	}
	if rc.Settle <= 0 {
		rc.Settle = 500 * time.Millisecond
	}
	if rc.Rate <= 0 {
		rc.Rate = rc.Desc.Rate
	}
	if rc.Logger == nil {
		rc.Logger = slog.Default()
	}
	ds := rc.Dataset
	frames, jm, err := EpisodeTrajectory(ctx, ds, rc.Episode, rc.Feature, rc.Desc)
	if err != nil {
		return nil, err
	}
	data, err := ds.ReadEpisode(ctx, rc.Episode)
	if err != nil {
		return nil, err
	}
	rp, err := NewReplay(frames, jm.Mask(), ds.Info.FPS, rc.Lead)
	if err != nil {
		return nil, err
	}
	ring := control.NewRing(1 << 14)
	loop, err := control.New(control.Config{Safety: rc.Safety, Rate: rc.Rate, Clock: control.NewWallClock(rc.Spin), Bus: rc.Bus,
		Limits: control.LimitsFromDescription(rc.Desc, 0.01), Sinks: []control.Sink{ring}, Logger: rc.Logger})
	if err != nil {
		return nil, err
	}
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- loop.Run(lctx) }()
	if err := Activate(ctx, loop, 5*time.Second); err != nil {
		return nil, err
	}
	// Start from a clean ring: the replay's first target is this tick's.
	var st control.Step
	for ring.Pop(&st) {
	}
	loop.SetSource("replay", rp, 0)
	var got []measured
	var t0 time.Time
	var settleAt time.Time
	lastProgress := time.Now()
	for {
		for ring.Pop(&st) {
			if st.Mode != control.ModeSource {
				continue
			}
			if t0.IsZero() {
				t0 = st.Time
			}
			got = append(got, measured{t: st.Time, pos: st.State.Position})
		}
		if rp.Done() && settleAt.IsZero() {
			settleAt = time.Now().Add(rc.Settle)
		}
		if !settleAt.IsZero() && time.Now().After(settleAt) {
			break
		}
		if lc := loop.Lifecycle(); lc != robot.Active {
			return nil, fmt.Errorf("record: replay stopped: robot is %s (trip %s)", lc, loop.LastTrip())
		}
		if rc.Progress != nil && time.Since(lastProgress) > 200*time.Millisecond {
			lastProgress = time.Now()
			rc.Progress(rp.Progress())
		}
		select {
		case <-time.After(5 * time.Millisecond):
		case err := <-done:
			return nil, fmt.Errorf("record: loop stopped: %w", err)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	loop.SetSource("", nil, 0)
	stop()
	<-done
	if len(got) == 0 {
		return nil, errors.New("record: no steps measured")
	}
	res := &ReplayResult{Episode: rc.Episode, Frames: len(frames), FPS: ds.Info.FPS, Joints: jm.Names, Units: jm.Units,
		Seconds: got[len(got)-1].t.Sub(t0).Seconds(), Overruns: loop.Timing().Overruns.Load(), Trip: loop.LastTrip().String()}
	n := jm.Len()
	res.RMSState, res.RMSAction = make([]float64, n), make([]float64, n)
	vals := make([]float64, n)
	var sumS, sumA float64
	stateFeat := ds.Info.Feature("observation.state")
	j := 0
	for k := 0; k < len(frames); k++ {
		at := t0.Add(rc.Lead + time.Duration(float64(k)/float64(ds.Info.FPS)*float64(time.Second)))
		for j < len(got)-1 && got[j+1].t.Sub(at) <= 0 {
			j++
		}
		// Nearest measured step at or just before the frame's time.
		jm.ToDataset(vals, &got[j].pos)
		act := data.Row(rc.Feature, k)
		for d := 0; d < n; d++ {
			ea := vals[d] - act[d]
			res.RMSAction[d] += ea * ea
			sumA += ea * ea
			if stateFeat != nil && stateFeat.Dim() == n {
				es := vals[d] - data.Row("observation.state", k)[d]
				res.RMSState[d] += es * es
				sumS += es * es
				res.MaxState = math.Max(res.MaxState, math.Abs(es))
			}
		}
	}
	for d := 0; d < n; d++ {
		res.RMSState[d] = math.Sqrt(res.RMSState[d] / float64(len(frames)))
		res.RMSAction[d] = math.Sqrt(res.RMSAction[d] / float64(len(frames)))
	}
	res.RMSStateAll = math.Sqrt(sumS / float64(len(frames)*n))
	res.RMSActionAll = math.Sqrt(sumA / float64(len(frames)*n))
	return res, nil
}
