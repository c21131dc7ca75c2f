package policy

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anther-robotics/anther/robot"
)

// RunnerConfig tunes a Runner.
type RunnerConfig struct {
	// IMU gives projected gravity and gyro terms. Nil: a fixed base
	// (gravity 0,0,−1; no rotation), which is what the simulator, having no
	// floating base, also reports.
	IMU IMU
	// Trace, if set, is called on the inference goroutine after each
	// inference with what the policy saw and produced (tests, recording).
	// It must be quick and must not keep the pointers.
	Trace  func(o *Observation, c *Chunk)
	Logger *slog.Logger
	// Nice is the scheduling niceness given to the inference thread
	// (Linux; 0 leaves it as the process's). A positive value lets the
	// control loop's thread win the CPU whenever both want it.
	Nice int
}

// Runner runs a Policy on its own goroutine (locked to an OS thread) and
// feeds the control loop: it implements control.Source. On the loop's
// thread, Target snapshots the robot's state at each policy step, wakes the
// inference goroutine, and reads the newest plan — the newest action of an
// MLP, or the action for the current step of the current (aggregated)
// chunk — without allocating, locking or blocking. If inference falls behind
// so that no action covers the current step, Target reports the source as
// not fresh and the loop's staleness watchdog holds the robot.
type Runner struct {
	p      *Policy
	cfg    RunnerConfig
	log    *slog.Logger
	period time.Duration
	single bool // MLP: apply the newest action whenever it arrives
	thresh float64
	interp bool
	mask   uint64
	joints []int

	obs  triple[Observation]
	plan triple[plan]
	wake wakeWord
	reqs atomic.Uint64 // requests made (loop)
	done atomic.Uint64 // requests served (inference)
	cur  atomic.Int64  // the loop's current policy step
	idle chan struct{}

	cmds  atomic.Pointer[[MaxCommands]float64]
	reset atomic.Bool

	// Loop thread only.
	started    bool
	t0         time.Time
	lastReq    int64
	lastMiss   int64
	appliedSeq uint64
	epoch      uint64
	needReset  bool

	// Inference goroutine only.
	chunk   *Chunk
	agg     *aggregator
	curEpch uint64

	// Statistics (atomics).
	lat        Latency
	inferences atomic.Uint64
	errs       atomic.Uint64
	nans       atomic.Uint64
	missed     atomic.Uint64
	applied    atomic.Uint64
	lastErr    atomic.Pointer[string]
	running    atomic.Bool
	runMu      sync.Mutex
}

// NewRunner prepares a runner for p. Start its goroutine with Run, then
// install it on the loop (loop.SetSource(name, r, r.Stale())).
func NewRunner(p *Policy, cfg RunnerConfig) *Runner {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	sp := p.spec
	r := &Runner{p: p, cfg: cfg, log: log, period: time.Duration(float64(time.Second) / sp.Rate),
		single: p.chunkN == 1, thresh: sp.Action.Chunk.RequestThreshold, interp: sp.Action.Chunk.Interpolate,
		mask: p.mask, joints: p.actIdx, idle: make(chan struct{}, 1), lastReq: -1, lastMiss: -1}
	r.obs.init()
	r.plan.init()
	for i := range r.plan.buf {
		r.plan.buf[i].targets = make([][robot.MaxJoints]float64, 2*p.chunkN+2)
	}
	r.chunk = p.NewChunk()
	r.agg = newAggregator(sp.Action.Chunk, p.chunkN, p.actIdx)
	var c [MaxCommands]float64
	for i, cs := range sp.Commands {
		c[i] = cs.Default
	}
	r.cmds.Store(&c)
	return r
}

// Policy is the runner's policy.
func (r *Runner) Policy() *Policy { return r.p }

// Period is the policy step.
func (r *Runner) Period() time.Duration { return r.period }

// Stale is the staleness limit to give the loop: three policy steps (at
// least 30 ms). Past it without a fresh action the loop holds.
func (r *Runner) Stale() time.Duration { return max(3*r.period, 30*time.Millisecond) }

// Mask has bit i set for each robot joint the policy drives.
func (r *Runner) Mask() uint64 { return r.mask }

// SetCommand sets an operator command (clipped to its range). Safe from any
// goroutine.
func (r *Runner) SetCommand(name string, v float64) error {
	i := r.p.spec.Command(name)
	if i < 0 {
		var names []string
		for _, c := range r.p.spec.Commands {
			names = append(names, c.Name)
		}
		return fmt.Errorf("policy: %s has no command %q (commands: %v)", r.p.spec.Name, name, names)
	}
	c := r.p.spec.Commands[i]
	if c.Min != 0 || c.Max != 0 {
		v = max(c.Min, min(c.Max, v))
	}
	for {
		old := r.cmds.Load()
		nc := *old
		nc[i] = v
		if r.cmds.CompareAndSwap(old, &nc) {
			return nil
		}
	}
}

// Commands returns the current operator commands by name.
func (r *Runner) Commands() map[string]float64 {
	c := r.cmds.Load()
	out := map[string]float64{}
	for i, cs := range r.p.spec.Commands {
		out[cs.Name] = c[i]
	}
	return out
}

// Reset restarts the policy at the next Target call: step 0, empty history,
// initial phase and carry, no plan. Call it before installing the runner on
// the loop again. Safe from any goroutine.
func (r *Runner) Reset() { r.reset.Store(true) }

// Target implements control.Source. It runs on the loop's thread: no
// allocation, no lock, no blocking (one futex wake per policy step).
func (r *Runner) Target(now time.Time, s *robot.State, target *[robot.MaxJoints]float64) (uint64, bool) {
	if r.reset.Swap(false) || !r.started {
		r.started, r.t0, r.lastReq, r.lastMiss = true, now, -1, -1
		r.epoch++
		r.needReset = true
	}
	el := now.Sub(r.t0)
	if el < 0 {
		el = 0
	}
	step := int64(el / r.period)
	r.cur.Store(step)
	pl, _ := r.plan.Read()
	current := pl.valid && pl.epoch == r.epoch

	// Ask for an inference at each new policy step when the plan runs low.
	if step > r.lastReq {
		remaining := int64(0)
		if current {
			remaining = max(0, pl.first+int64(pl.n)-step)
		}
		low := float64(remaining) <= r.thresh*float64(r.p.chunkN)
		switch {
		case !low:
		case r.reqs.Load() != r.done.Load():
			if step != r.lastMiss {
				r.lastMiss = step
				r.missed.Add(1)
			}
		default:
			o := r.obs.Back()
			o.Step, o.Time, o.State, o.Reset, o.epoch = step, r.t0.Add(time.Duration(step)*r.period), *s, r.needReset, r.epoch
			r.needReset = false
			o.Gravity, o.Gyro = [3]float64{0, 0, -1}, [3]float64{}
			if r.cfg.IMU != nil {
				_ = r.cfg.IMU.ReadIMU(now, &o.Gravity, &o.Gyro)
			}
			r.obs.Publish()
			r.lastReq = step
			r.reqs.Add(1)
			r.wake.wake()
		}
	}

	if !current || pl.n == 0 {
		return r.mask, false
	}
	if r.single {
		if pl.seq == r.appliedSeq {
			return r.mask, false
		}
		r.appliedSeq = pl.seq
		r.write(&pl.targets[0], nil, 0, target)
		r.applied.Add(1)
		return r.mask, true
	}
	i := step - pl.first
	if i < 0 || i >= int64(pl.n) {
		return r.mask, false
	}
	var next *[robot.MaxJoints]float64
	frac := 0.0
	if r.interp && i+1 < int64(pl.n) {
		next = &pl.targets[i+1]
		frac = float64(el-time.Duration(step)*r.period) / float64(r.period)
	}
	r.write(&pl.targets[i], next, frac, target)
	r.applied.Add(1)
	return r.mask, true
}

func (r *Runner) write(a, b *[robot.MaxJoints]float64, frac float64, target *[robot.MaxJoints]float64) {
	for _, j := range r.joints {
		v := a[j]
		if b != nil {
			v += (b[j] - v) * frac
		}
		target[j] = v
	}
}

// Run is the inference goroutine: it waits for the loop's requests, runs
// the policy on the newest snapshot, merges the chunk and publishes the
// plan, until ctx ends. It locks its OS thread (with RunnerConfig.Nice set,
// for good: call it from a goroutine of its own). Only one Run at a time.
func (r *Runner) Run(ctx context.Context) error {
	if !r.runMu.TryLock() {
		return fmt.Errorf("policy: runner %s is already running", r.p.spec.Name)
	}
	defer r.runMu.Unlock()
	runtime.LockOSThread()
	if r.cfg.Nice == 0 {
		defer runtime.UnlockOSThread()
	} else if err := setThreadNice(r.cfg.Nice); err != nil {
		defer runtime.UnlockOSThread()
		r.log.Warn("policy: cannot lower the inference thread's priority", "nice", r.cfg.Nice, "err", err)
	}
	// With its niceness changed the thread stays locked: it ends with its
	// goroutine instead of carrying the lower priority to other goroutines.
	r.running.Store(true)
	defer r.running.Store(false)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			r.wake.wake()
		case <-stop:
		}
	}()
	defer func() {
		close(stop)
		wg.Wait()
	}()
	for {
		seen := r.wake.load()
		if ctx.Err() != nil {
			return nil
		}
		req := r.reqs.Load()
		if req == r.done.Load() {
			r.wake.wait(seen, 100*time.Millisecond)
			continue
		}
		r.serve()
		r.done.Store(req)
		select {
		case r.idle <- struct{}{}:
		default:
		}
	}
}

// serve runs one inference on the newest snapshot.
func (r *Runner) serve() {
	o, _ := r.obs.Read()
	o.Commands = *r.cmds.Load()
	if o.epoch != r.curEpch {
		r.curEpch = o.epoch
		r.agg.reset()
		o.Reset = true
	}
	t0 := time.Now()
	err := r.p.Infer(o, r.chunk)
	r.lat.Add(time.Since(t0))
	if err != nil {
		r.errs.Add(1)
		msg := err.Error()
		if p := r.lastErr.Load(); p == nil || *p != msg {
			r.lastErr.Store(&msg)
			r.log.Warn("policy: inference failed", "policy", r.p.spec.Name, "err", err)
		}
		return
	}
	r.inferences.Add(1)
	if r.chunk.NaN {
		r.nans.Add(1)
	}
	cur := max(r.cur.Load(), o.Step)
	if r.single {
		cur = o.Step
	}
	r.agg.add(r.chunk, cur)
	pl := r.plan.Back()
	r.agg.publish(pl, cur, o.epoch)
	r.plan.Publish()
	if r.cfg.Trace != nil {
		r.cfg.Trace(o, r.chunk)
	}
}

// WaitIdle waits until every inference the loop has asked for is done (the
// stepped simulator calls it between ticks so that inference takes no
// simulated time). Not for the loop's thread.
func (r *Runner) WaitIdle(ctx context.Context) error {
	for r.reqs.Load() != r.done.Load() {
		select {
		case <-r.idle:
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
			if !r.running.Load() {
				return fmt.Errorf("policy: runner %s is not running", r.p.spec.Name)
			}
		}
	}
	return nil
}

// RunnerStats are the runner's counters and inference latency.
type RunnerStats struct {
	Policy     string         `json:"policy"`
	RateHz     float64        `json:"rate_hz"`
	Running    bool           `json:"running"`
	Inferences uint64         `json:"inferences"`
	Errors     uint64         `json:"errors"`
	NaNOutputs uint64         `json:"nan_outputs"`
	Missed     uint64         `json:"missed_steps"`    // steps whose inference could not start (previous still running)
	Applied    uint64         `json:"applied_targets"` // loop ticks that took a fresh target
	LastError  string         `json:"last_error,omitempty"`
	Latency    LatencySummary `json:"latency"`
	Step       int64          `json:"step"`
}

// Stats reports the runner's statistics. Safe from any goroutine.
func (r *Runner) Stats() RunnerStats {
	st := RunnerStats{Policy: r.p.spec.Name, RateHz: r.p.spec.Rate, Running: r.running.Load(),
		Inferences: r.inferences.Load(), Errors: r.errs.Load(), NaNOutputs: r.nans.Load(),
		Missed: r.missed.Load(), Applied: r.applied.Load(), Latency: r.lat.Summary(), Step: r.cur.Load()}
	if p := r.lastErr.Load(); p != nil {
		st.LastError = *p
	}
	return st
}
