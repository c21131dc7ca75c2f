// Package control is anther's real-time loop: read the joints, choose the
// intent (hold or target), apply the safety limits, write the command, and
// publish the step to bounded non-blocking rings — at a fixed rate with
// absolute deadlines and without allocating.
package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/anther-robotics/anther/robot"
)

// Mode is the loop's source of intent.
type Mode int32

// Sources of intent.
const (
	ModeHold   Mode = iota // hold the last command
	ModeTarget             // go to targets set through SetTargets
)

// String names the mode as the API shows it.
func (m Mode) String() string {
	switch m {
	case ModeHold:
		return "hold"
	case ModeTarget:
		return "target"
	}
	return "unknown"
}

// Targets is a set of joint position targets handed to the loop. Mask bit i
// says joint i's target is set; others keep their previous target.
type Targets struct {
	Mask     uint64
	Position [robot.MaxJoints]float64 // rad
}

// Config is what a Loop needs.
type Config struct {
	Rate   float64              // ticks per second
	Clock  Clock                // time source; nil means a wall clock with 50 µs spin
	Bus    robot.JointBus       // the robot's joints
	Limits []JointLimits        // one per joint, in joint order
	Sinks  []Sink               // receive every step; must not block
	Logger *slog.Logger         // for the non-real-time parts of Run
	OnTick func(s *robot.State) // optional hook after Read (tests); must not allocate
}

// Loop runs the control tick at a fixed rate. Create it with New, start it
// with Run; other goroutines talk to it only through the lock-free methods
// (SetTargets, Request, Lifecycle, Timing).
type Loop struct {
	cfg    Config
	n      int
	period time.Duration
	dt     float64
	clock  Clock
	log    *slog.Logger

	limiter *Limiter
	state   robot.State
	cmd     robot.Command
	target  [robot.MaxJoints]float64
	step    Step
	seq     uint64

	lifecycle atomic.Int32 // robot.Lifecycle
	mode      atomic.Int32 // Mode
	request   atomic.Int32 // pending Request (0 none)
	estop     atomic.Bool
	inbox     atomic.Pointer[Targets]
	busErrors atomic.Uint64
	lastErr   atomic.Pointer[error]
	timing    Timing
}

// Request is a lifecycle transition asked of the loop.
type Request int32

// Lifecycle requests.
const (
	RequestNone       Request = iota
	RequestActivate           // Inactive → Active
	RequestDeactivate         // Active/Holding → Inactive
	RequestReset              // Fault/EStopped → Inactive
)

// New checks cfg and prepares a loop. It does not touch the hardware.
func New(cfg Config) (*Loop, error) {
	if cfg.Rate <= 0 || cfg.Rate > 20000 {
		return nil, fmt.Errorf("control: rate %g Hz is outside (0, 20000]", cfg.Rate)
	}
	if cfg.Bus == nil {
		return nil, errors.New("control: no joint bus")
	}
	n := len(cfg.Limits)
	if n == 0 || n > robot.MaxJoints {
		return nil, fmt.Errorf("control: %d joints (want 1..%d)", n, robot.MaxJoints)
	}
	if cfg.Clock == nil {
		cfg.Clock = NewWallClock(50 * time.Microsecond)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	period := time.Duration(float64(time.Second) / cfg.Rate)
	l := &Loop{cfg: cfg, n: n, period: period, dt: period.Seconds(), clock: cfg.Clock, log: cfg.Logger}
	l.limiter = NewLimiter(cfg.Limits, l.dt)
	l.state.N, l.cmd.N = n, n
	l.lifecycle.Store(int32(robot.Inactive))
	return l, nil
}

// Period is the tick period.
func (l *Loop) Period() time.Duration { return l.period }

// Timing is the loop's live timing record.
func (l *Loop) Timing() *Timing { return &l.timing }

// Lifecycle is the robot's lifecycle state.
func (l *Loop) Lifecycle() robot.Lifecycle { return robot.Lifecycle(l.lifecycle.Load()) }

// Mode is the current source of intent.
func (l *Loop) Mode() Mode { return Mode(l.mode.Load()) }

// BusErrors counts ticks whose bus read or write failed.
func (l *Loop) BusErrors() uint64 { return l.busErrors.Load() }

// LastBusError is the most recent bus error, or nil.
func (l *Loop) LastBusError() error {
	if p := l.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// SetTargets hands new targets to the loop; the next tick picks them up and
// switches to ModeTarget. Safe from any goroutine; never blocks. Targets
// should already be checked against the joint limits (the loop clamps anyway).
func (l *Loop) SetTargets(t *Targets) {
	cp := *t
	l.inbox.Store(&cp)
}

// Request asks for a lifecycle transition; the next tick performs it.
func (l *Loop) Request(r Request) { l.request.Store(int32(r)) }

// EStop latches the emergency stop: the next tick writes torque off and the
// loop stays EStopped until RequestReset. Safe from any goroutine, and from a
// signal handler's goroutine.
func (l *Loop) EStop() { l.estop.Store(true) }

// Start prepares the first tick from a fresh read: the limiter starts at the
// measured positions. Run calls it; tests driving Tick by hand call it once.
func (l *Loop) Start(now time.Time) error {
	if err := l.cfg.Bus.Read(now, &l.state); err != nil {
		return fmt.Errorf("control: first read: %w", err)
	}
	l.limiter.Reset(&l.state)
	for i := 0; i < l.n; i++ {
		l.target[i] = l.limiter.Last(i)
	}
	return nil
}

// Tick runs one control tick for the deadline now. It does not allocate,
// lock, or block (beyond the bus's own bounded I/O).
func (l *Loop) Tick(now time.Time, lateness time.Duration) {
	t0 := l.clock.Now()
	s := &l.state
	err := l.cfg.Bus.Read(now, s)
	busErr := err != nil
	if busErr {
		l.noteErr(err)
	}
	if l.cfg.OnTick != nil {
		l.cfg.OnTick(s)
	}
	t1 := l.clock.Now()

	lc := l.transition()
	if p := l.inbox.Swap(nil); p != nil && lc == robot.Active {
		for i := 0; i < l.n; i++ {
			if p.Mask&(1<<i) != 0 {
				l.target[i] = p.Position[i]
			}
		}
		l.mode.Store(int32(ModeTarget))
	}
	if lc != robot.Active && lc != robot.Holding {
		// No torque: follow the measured joints so torque-on starts there.
		l.limiter.Reset(s)
		for i := 0; i < l.n; i++ {
			l.target[i] = l.limiter.Last(i)
		}
	}
	t2 := l.clock.Now()

	l.limiter.Apply(&l.target, &l.cmd)
	l.cmd.Torque = lc == robot.Active || lc == robot.Holding
	t3 := l.clock.Now()

	if err := l.cfg.Bus.Write(now, &l.cmd); err != nil {
		busErr = true
		l.noteErr(err)
	}
	t4 := l.clock.Now()

	st := &l.step
	st.Seq = l.seq
	st.Time = now
	st.Lifecycle = lc
	st.Mode = l.Mode()
	st.State = *s
	st.Target = l.target
	st.Command = l.cmd
	st.BusErr = busErr
	st.Lateness = lateness
	st.Faults = 0
	for i := 0; i < l.n; i++ {
		if s.Fault[i] != 0 {
			st.Faults |= 1 << i
		}
	}
	for _, sink := range l.cfg.Sinks {
		sink.Push(st)
	}
	l.seq++
	t5 := l.clock.Now()

	tm := &l.timing
	tm.Read.Add(t1.Sub(t0))
	tm.Intent.Add(t2.Sub(t1))
	tm.Limits.Add(t3.Sub(t2))
	tm.Write.Add(t4.Sub(t3))
	tm.Tick.Add(t5.Sub(t0))
	tm.Ticks.Add(1)
}

// transition applies a pending e-stop or lifecycle request and returns the
// lifecycle for this tick.
func (l *Loop) transition() robot.Lifecycle {
	lc := robot.Lifecycle(l.lifecycle.Load())
	if l.estop.Load() && lc != robot.EStopped {
		lc = robot.EStopped
	}
	switch Request(l.request.Swap(0)) {
	case RequestActivate:
		if lc == robot.Inactive {
			lc = robot.Active
			l.mode.Store(int32(ModeHold))
		}
	case RequestDeactivate:
		if lc == robot.Active || lc == robot.Holding {
			lc = robot.Inactive
		}
	case RequestReset:
		if lc == robot.EStopped || lc == robot.Fault {
			l.estop.Store(false)
			lc = robot.Inactive
		}
	}
	l.lifecycle.Store(int32(lc))
	return lc
}

func (l *Loop) noteErr(err error) {
	l.busErrors.Add(1)
	if l.lastErr.Load() == nil || *l.lastErr.Load() != err {
		// Bus errors are preallocated sentinels or wrapped once; storing
		// the pointer to a local copy escapes, so only do it on change.
		e := err
		l.lastErr.Store(&e)
	}
}

// Run paces Tick at the loop's rate with absolute deadlines until ctx ends,
// then halts the bus (torque off) and returns. Overruns are counted in
// Timing, never logged from here (the loop does no I/O of its own); missed
// periods are skipped. It locks its goroutine to an
// OS thread for the duration.
func (l *Loop) Run(ctx context.Context) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// The kernel's default timer slack (50 µs) would make every wake-up late.
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	now := l.clock.Now()
	if err := l.Start(now); err != nil {
		return err
	}
	next := now
	done := ctx.Done()
	for {
		select {
		case <-done:
			herr := l.cfg.Bus.Halt()
			if herr != nil {
				return fmt.Errorf("control: halt on stop: %w", herr)
			}
			return nil
		default:
		}
		l.clock.SleepUntil(next)
		woke := l.clock.Now()
		late := woke.Sub(next)
		l.timing.Lateness.Add(late)
		l.Tick(next, late)
		next = next.Add(l.period)
		if end := l.clock.Now(); end.After(next) {
			l.timing.Overruns.Add(1)
			missed := int64(end.Sub(next)/l.period) + 1
			next = next.Add(time.Duration(missed) * l.period)
			l.timing.Missed.Add(uint64(missed))
		}
	}
}
