// Package control is anther's real-time loop: read the joints, choose the
// intent (hold, a target, or a source such as a leader arm or a policy),
// apply the safety layer (watchdogs and limits), write the command, and
// publish the step to bounded non-blocking rings — at a fixed rate with
// absolute deadlines and without allocating.
package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
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
	ModeSource             // follow the Source set with SetSource
)

// String names the mode as the API shows it.
func (m Mode) String() string {
	switch m {
	case ModeHold:
		return "hold"
	case ModeTarget:
		return "target"
	case ModeSource:
		return "source"
	}
	return "unknown"
}

// Targets is a set of joint position targets handed to the loop. Mask bit i
// says joint i's target is set; others keep their previous target.
type Targets struct {
	Mask     uint64
	Position [robot.MaxJoints]float64 // rad
}

// Source produces targets every tick: a leader arm, a policy runner, a
// dataset replay. Target runs on the loop's thread: it must not allocate,
// lock or block. It fills the joints it drives, returns their mask, and
// returns fresh=false when it has nothing new (the loop keeps the previous
// target and, past Safety.SourceStale, holds).
type Source interface {
	Target(now time.Time, s *robot.State, target *[robot.MaxJoints]float64) (mask uint64, fresh bool)
}

// sourceBox carries a Source through an atomic pointer.
type sourceBox struct {
	name  string
	src   Source
	stale time.Duration
}

// Config is what a Loop needs.
type Config struct {
	Rate   float64        // ticks per second
	Clock  Clock          // time source; nil means a wall clock with 50 µs spin
	Bus    robot.JointBus // the robot's joints
	Limits []JointLimits  // one per joint, in joint order
	Safety Safety         // watchdogs; zero values take defaults
	Sinks  []Sink         // receive every step; must not block
	Logger *slog.Logger   // for the non-real-time parts of Run
	RT     *RealTime      // real-time tuning of the loop thread (nil: none)
}

// Loop runs the control tick at a fixed rate. Create it with New, start it
// with Run; other goroutines talk to it only through its lock-free methods
// (SetTargets, SetSource, Heartbeat, Request, EStop, and the readers).
type Loop struct {
	cfg    Config
	safety Safety
	n      int
	period time.Duration
	dt     float64
	clock  Clock
	log    *slog.Logger

	// Owned by the loop's thread.
	limiter     *Limiter
	state       robot.State
	cmd         robot.Command
	target      [robot.MaxJoints]float64
	hold        [robot.MaxJoints]float64
	step        Step
	seq         uint64
	holdSince   time.Time
	busStreak   int
	overStreak  int
	noReply     [robot.MaxJoints]int
	hwFault     [robot.MaxJoints]int
	lastFresh   time.Time
	curSource   *sourceBox
	stall       time.Duration // how far the last tick ran past its next deadline
	clampTicks  atomic.Uint64
	limitTicks  atomic.Uint64
	busStreakA  atomic.Int32
	overStreakA atomic.Int32

	// Shared with other goroutines (atomics only).
	lifecycle atomic.Int32 // robot.Lifecycle
	mode      atomic.Int32 // Mode
	request   atomic.Int32 // pending Request (0 none)
	estop     atomic.Bool
	inbox     atomic.Pointer[Targets]
	source    atomic.Pointer[sourceBox]
	heartbeat atomic.Int64 // clock ns of the last operator heartbeat (0 = disarmed)
	tripA     atomic.Int32 // Trip
	tripAt    atomic.Int64 // clock ns
	tripJ     atomic.Uint64
	busErrors atomic.Uint64
	lastErr   atomic.Pointer[error]
	timing    Timing
	t0        time.Time
	rtResult  atomic.Pointer[RTResult]
}

// Request is a lifecycle transition asked of the loop.
type Request int32

// Lifecycle requests.
const (
	RequestNone       Request = iota
	RequestActivate           // Inactive → Active
	RequestDeactivate         // Active/Holding → Inactive
	RequestReset              // Fault/EStopped/Holding → Inactive
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
	l := &Loop{cfg: cfg, safety: cfg.Safety.withDefaults(cfg.Rate), n: n, period: period,
		dt: period.Seconds(), clock: cfg.Clock, log: cfg.Logger}
	l.limiter = NewLimiter(cfg.Limits, l.dt)
	l.state.N, l.cmd.N = n, n
	l.lifecycle.Store(int32(robot.Inactive))
	l.t0 = cfg.Clock.Now()
	return l, nil
}

// Period is the tick period.
func (l *Loop) Period() time.Duration { return l.period }

// Safety is the loop's watchdog configuration (with defaults applied).
func (l *Loop) Safety() Safety { return l.safety }

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

// SafetyStatus reports the safety layer's state.
func (l *Loop) SafetyStatus() SafetyStatus {
	st := SafetyStatus{
		Trip:      Trip(l.tripA.Load()).String(),
		Heartbeat: l.heartbeat.Load() != 0,
		BusStreak: int(l.busStreakA.Load()),
		Overruns:  int(l.overStreakA.Load()),
		Clamped:   l.clampTicks.Load(),
		Limited:   l.limitTicks.Load(),
	}
	if at := l.tripAt.Load(); at != 0 {
		st.Since = l.t0.Add(time.Duration(at))
	}
	for m, i := l.tripJ.Load(), 0; m != 0; m, i = m>>1, i+1 {
		if m&1 != 0 {
			st.Joints = append(st.Joints, i)
		}
	}
	if b := l.source.Load(); b != nil {
		st.Source = b.name
	}
	return st
}

// RTResult reports what the real-time tuning did, once Run has started
// (nil without Config.RT).
func (l *Loop) RTResult() *RTResult { return l.rtResult.Load() }

// LastTrip is the most recent trip reason.
func (l *Loop) LastTrip() Trip { return Trip(l.tripA.Load()) }

// SetTargets hands new targets to the loop; the next tick picks them up and
// switches to ModeTarget (replacing any Source). Safe from any goroutine;
// never blocks. The loop clamps them into the limits anyway.
func (l *Loop) SetTargets(t *Targets) {
	cp := *t
	l.inbox.Store(&cp)
}

// SetSource makes src the source of intent from the next tick (nil returns
// to holding). stale is how long it may go without a fresh target before the
// loop holds (0: 3 loop periods). Safe from any goroutine.
func (l *Loop) SetSource(name string, src Source, stale time.Duration) {
	if src == nil {
		l.source.Store(nil)
		return
	}
	if stale <= 0 {
		stale = 3 * l.period
	}
	l.source.Store(&sourceBox{name: name, src: src, stale: stale})
}

// Heartbeat tells the loop an operator is present. The first heartbeat arms
// the watchdog: if heartbeats then stop for Safety.Heartbeat while the robot
// is active, it holds. DisarmHeartbeat (or a reset) disarms it.
func (l *Loop) Heartbeat() {
	ns := int64(l.clock.Now().Sub(l.t0))
	if ns == 0 {
		ns = 1
	}
	l.heartbeat.Store(ns)
}

// DisarmHeartbeat stops watching the operator heartbeat (the operator left
// control on purpose).
func (l *Loop) DisarmHeartbeat() { l.heartbeat.Store(0) }

// Request asks for a lifecycle transition; the next tick performs it.
func (l *Loop) Request(r Request) { l.request.Store(int32(r)) }

// EStop latches the emergency stop: the next tick writes torque off and the
// loop stays EStopped until RequestReset. Safe from any goroutine.
func (l *Loop) EStop() { l.estop.Store(true) }

// Start prepares the first tick from a fresh read: the limiter starts at the
// measured positions. Run calls it; tests driving Tick by hand call it once.
func (l *Loop) Start(now time.Time) error {
	// A single lost or corrupted reply must not keep the robot from
	// starting: try the first read a few times.
	var err error
	for range 3 {
		if err = l.cfg.Bus.Read(now, &l.state); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("control: first read: %w", err)
	}
	l.limiter.Reset(&l.state)
	for i := 0; i < l.n; i++ {
		l.target[i] = l.limiter.Last(i)
	}
	l.lastFresh = now
	return nil
}

// trip records a trip and moves the lifecycle to its end state.
func (l *Loop) trip(t Trip, now time.Time, joints uint64, lc robot.Lifecycle) robot.Lifecycle {
	l.tripA.Store(int32(t))
	l.tripAt.Store(int64(now.Sub(l.t0)))
	l.tripJ.Store(joints)
	switch t {
	case TripEStop:
		return robot.EStopped
	case TripBusErrors, TripMotorFault, TripHoldExpired:
		return robot.Fault
	}
	if lc == robot.Active {
		// Hold where the joints are commanded now.
		for i := 0; i < l.n; i++ {
			l.hold[i] = l.limiter.Last(i)
		}
		l.holdSince = now
		return robot.Holding
	}
	return lc
}

// Tick runs one control tick for the deadline now, which the loop woke
// lateness after. It does not allocate, lock, or block (beyond the bus's own
// bounded I/O).
func (l *Loop) Tick(now time.Time, lateness time.Duration) {
	t0 := l.clock.Now()
	s := &l.state
	err := l.cfg.Bus.Read(now, s)
	busErr := err != nil
	if busErr {
		l.noteErr(err)
	}
	t1 := l.clock.Now()

	lc := l.transition(now)
	lc = l.watch(now, s, busErr, lateness, lc)
	l.intent(now, s, lc)
	t2 := l.clock.Now()

	lc = robot.Lifecycle(l.lifecycle.Load())
	l.limiter.Apply(&l.target, &l.cmd)
	l.cmd.Torque = lc == robot.Active || lc == robot.Holding
	if lc == robot.Holding {
		for i := 0; i < l.n; i++ {
			l.cmd.Effort[i] *= l.safety.HoldTorque
		}
	}
	if l.cmd.Clamped != 0 {
		l.clampTicks.Add(1)
	}
	if l.cmd.Limited != 0 {
		l.limitTicks.Add(1)
	}
	t3 := l.clock.Now()

	if err := l.cfg.Bus.Write(now, &l.cmd); err != nil {
		busErr = true
		l.noteErr(err)
	}
	if busErr {
		l.busStreak++
	} else {
		l.busStreak = 0
	}
	l.busStreakA.Store(int32(l.busStreak))
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
	st.Trip = Trip(l.tripA.Load())
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

// transition applies a pending e-stop or lifecycle request.
func (l *Loop) transition(now time.Time) robot.Lifecycle {
	lc := robot.Lifecycle(l.lifecycle.Load())
	if l.estop.Load() && lc != robot.EStopped {
		lc = l.trip(TripEStop, now, 0, lc)
	}
	switch Request(l.request.Swap(0)) {
	case RequestActivate:
		if lc == robot.Inactive {
			lc = robot.Active
			l.mode.Store(int32(ModeHold))
			l.source.Store(nil)
			l.curSource = nil
			l.busStreak, l.overStreak = 0, 0
		}
	case RequestDeactivate:
		if lc == robot.Active || lc == robot.Holding {
			lc = robot.Inactive
		}
	case RequestReset:
		if lc == robot.EStopped || lc == robot.Fault || lc == robot.Holding {
			l.estop.Store(false)
			l.heartbeat.Store(0)
			l.busStreak, l.overStreak = 0, 0
			for i := range l.noReply {
				l.noReply[i], l.hwFault[i] = 0, 0
			}
			lc = robot.Inactive
		}
	}
	l.lifecycle.Store(int32(lc))
	return lc
}

// hwFaults are the joint faults that stop the robot at once: hardware errors,
// and a motor that lost torque while commanded on (it rebooted or shut down).
// An input-voltage error is reported but does not stop the robot: like
// Pollen's daemon (shutdown mask 52), a sagging battery should not drop a
// head that is still able to hold itself.
const hwFaults = robot.FaultOverheat | robot.FaultOverload | robot.FaultElectrical | robot.FaultTorqueOff

// watch runs the watchdogs and returns the lifecycle after any trip.
func (l *Loop) watch(now time.Time, s *robot.State, busErr bool, lateness time.Duration, lc robot.Lifecycle) robot.Lifecycle {
	if lc == robot.EStopped || lc == robot.Fault {
		return lc
	}
	sf := &l.safety
	// Motors: hardware errors and missing replies, per joint.
	var hwMask, nrMask uint64
	for i := 0; i < l.n; i++ {
		f := s.Fault[i]
		if f&hwFaults != 0 {
			l.hwFault[i]++
		} else {
			l.hwFault[i] = 0
		}
		if f&robot.FaultNoReply != 0 {
			l.noReply[i]++
		} else {
			l.noReply[i] = 0
		}
		if l.hwFault[i] >= sf.MotorFaultTicks {
			hwMask |= 1 << i
		}
		if l.noReply[i] >= sf.NoReplyTicks {
			nrMask |= 1 << i
		}
	}
	switch {
	case hwMask != 0:
		lc = l.trip(TripMotorFault, now, hwMask, lc)
	case nrMask != 0 || l.busStreak+boolInt(busErr) >= sf.BusErrorTicks:
		lc = l.trip(TripBusErrors, now, nrMask, lc)
	}
	if lc == robot.Fault {
		l.lifecycle.Store(int32(lc))
		return lc
	}
	if lc == robot.Active {
		switch {
		case lateness >= sf.ClockJump || l.stall >= sf.ClockJump:
			lc = l.trip(TripClockJump, now, 0, lc)
		case l.overStreak >= sf.OverrunStreak:
			lc = l.trip(TripOverrunStreak, now, 0, lc)
		default:
			if hb := l.heartbeat.Load(); hb != 0 && now.Sub(l.t0)-time.Duration(hb) > sf.Heartbeat {
				lc = l.trip(TripHeartbeat, now, 0, lc)
			}
		}
	}
	l.stall = 0
	if lc == robot.Holding && now.Sub(l.holdSince) >= sf.HoldGrace {
		lc = l.trip(TripHoldExpired, now, 0, lc)
	}
	l.lifecycle.Store(int32(lc))
	return lc
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// intent chooses this tick's targets.
func (l *Loop) intent(now time.Time, s *robot.State, lc robot.Lifecycle) {
	switch lc {
	case robot.Active:
		if p := l.inbox.Swap(nil); p != nil {
			for i := 0; i < l.n; i++ {
				if p.Mask&(1<<i) != 0 {
					l.target[i] = p.Position[i]
				}
			}
			l.source.Store(nil)
			l.mode.Store(int32(ModeTarget))
		}
		if b := l.source.Load(); b != nil {
			if b != l.curSource {
				l.curSource = b
				l.lastFresh = now
			}
			l.mode.Store(int32(ModeSource))
			_, fresh := b.src.Target(now, s, &l.target)
			if fresh {
				l.lastFresh = now
			}
			for i := 0; i < l.n; i++ {
				if math.IsNaN(l.target[i]) || math.IsInf(l.target[i], 0) {
					l.target[i] = l.limiter.Last(i)
					l.source.Store(nil)
					l.curSource = nil
					l.lifecycle.Store(int32(l.trip(TripSourceInvalid, now, 1<<i, lc)))
					l.holdTargets()
					return
				}
			}
			if now.Sub(l.lastFresh) > b.stale {
				l.source.Store(nil)
				l.curSource = nil
				l.lifecycle.Store(int32(l.trip(TripSourceStale, now, 0, lc)))
				l.holdTargets()
			}
		} else if l.curSource != nil {
			l.curSource = nil
			l.mode.Store(int32(ModeHold))
		}
	case robot.Holding:
		l.holdTargets()
	default:
		// No torque: follow the measured joints so torque-on starts there.
		l.limiter.Reset(s)
		for i := 0; i < l.n; i++ {
			l.target[i] = l.limiter.Last(i)
		}
		l.inbox.Store(nil)
	}
}

func (l *Loop) holdTargets() {
	copy(l.target[:l.n], l.hold[:l.n])
}

func (l *Loop) noteErr(err error) {
	l.busErrors.Add(1)
	if p := l.lastErr.Load(); p == nil || *p != err {
		// Bus errors are preallocated sentinels, so this copy happens only
		// when the error changes.
		e := err
		l.lastErr.Store(&e)
	}
}

// Run paces Tick at the loop's rate with absolute deadlines until ctx ends,
// then halts the bus (torque off) and returns. Overruns are counted in
// Timing, never logged from here (the loop does no I/O of its own); missed
// periods are skipped. It locks its goroutine to an OS thread for the
// duration.
func (l *Loop) Run(ctx context.Context) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// The kernel's default timer slack (50 µs) would make every wake-up late.
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	if l.cfg.RT != nil {
		res := l.cfg.RT.apply()
		defer l.cfg.RT.restore() // before the deferred unlock: leave no real-time thread behind
		l.rtResult.Store(&res)
		for _, r := range res.Refused {
			l.log.Warn("control: real-time tuning refused by the OS; timing will be worse", "knob", r)
		}
		if len(res.Applied) > 0 {
			l.log.Info("control: real-time tuning applied", "knobs", res.Applied)
		}
	}
	now := l.clock.Now()
	if err := l.Start(now); err != nil {
		return err
	}
	next := now
	done := ctx.Done()
	for {
		select {
		case <-done:
			if err := l.cfg.Bus.Halt(); err != nil {
				return fmt.Errorf("control: halt on stop: %w", err)
			}
			return nil
		default:
		}
		l.clock.SleepUntil(next)
		late := l.clock.Now().Sub(next)
		l.timing.Lateness.Add(late)
		l.Tick(next, late)
		next = next.Add(l.period)
		if end := l.clock.Now(); end.After(next) {
			l.timing.Overruns.Add(1)
			l.overStreak++
			l.stall = end.Sub(next)
			missed := int64(end.Sub(next)/l.period) + 1
			next = next.Add(time.Duration(missed) * l.period)
			l.timing.Missed.Add(uint64(missed))
		} else {
			l.overStreak = 0
		}
		l.overStreakA.Store(int32(l.overStreak))
	}
}
