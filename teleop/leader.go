package teleop

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/anther-robotics/anther/robot"
)

// LeaderConfig configures a Leader.
type LeaderConfig struct {
	// Bus is the leader arm's joints, configured (Configure done). The
	// Leader reads it on every tick of the follower's loop and writes it
	// only to keep its torque off.
	Bus robot.JointBus
	// Leader and Follower describe the two arms. Joints are paired by
	// name; follower joints without a twin are left alone.
	Leader, Follower *robot.Description
	// LeaderCal and FollowerCal are the calibrations each arm's bus uses
	// (feetech.Bus.Calibration after Configure); a joint missing from one
	// uses the whole turn.
	LeaderCal, FollowerCal robot.Calibration
	// Degrees maps the body joints in DEGREES, LeRobot's default since
	// v0.4.4; false maps them by range (RANGE_M100_100), as LeRobot did
	// before. The gripper is always mapped by range (RANGE_0_100).
	Degrees bool
}

// Leader is leader-follower teleoperation as a control.Source: every tick
// of the follower's loop it reads the leader arm's bus (whose torque it
// keeps off) and gives each follower joint the leader twin's position,
// passed through LeRobot's units as LeRobot passes it: the leader's number
// (degrees, or the range fraction) becomes the follower's same number, so
// arms with different calibrations — and the gripper, mapped from the
// leader's calibrated range onto the follower's — match as they do in
// LeRobot. The follower's loop then applies its safety limits.
//
// A leader joint whose servo did not answer keeps its follower target (the
// follower holds that joint); when no leader joint answers, Target reports
// nothing fresh and the loop, past its staleness limit, holds the whole
// arm. While a follower joint has no reply, the follower's targets are
// frozen (it holds where it was commanded) until the servo answers or the
// loop's own watchdog trips. Leader faults are visible through
// AppendFaults (GET /api/state with Server.AddFaultSource).
type Leader struct {
	bus   robot.JointBus
	lz    *robot.Normalizer
	fz    *robot.Normalizer
	n     int
	pairL [robot.MaxJoints]robot.JointIndex // leader joint of pair k
	pairF [robot.MaxJoints]robot.JointIndex // follower joint of pair k
	mask  uint64
	names []string // leader joint names, by leader index

	// Loop thread only.
	state   robot.State
	off     robot.Command
	started bool

	// Published for other goroutines.
	faults [robot.MaxJoints]atomic.Uint32
	reads  atomic.Uint64
	errs   atomic.Uint64
	fresh  atomic.Int64 // unix ns of the last tick with a leader reading
}

// NewLeader pairs the arms' joints and prepares the unit conversions. It
// does not touch the bus.
func NewLeader(cfg LeaderConfig) (*Leader, error) {
	if cfg.Bus == nil || cfg.Leader == nil || cfg.Follower == nil {
		return nil, errors.New("teleop: leader: bus and both descriptions are required")
	}
	lz, err := robot.NewNormalizer(cfg.Leader, cfg.LeaderCal, robot.LeRobotModes(cfg.Leader, cfg.Degrees))
	if err != nil {
		return nil, fmt.Errorf("teleop: leader %s: %w", cfg.Leader.Name, err)
	}
	fz, err := robot.NewNormalizer(cfg.Follower, cfg.FollowerCal, robot.LeRobotModes(cfg.Follower, cfg.Degrees))
	if err != nil {
		return nil, fmt.Errorf("teleop: follower %s: %w", cfg.Follower.Name, err)
	}
	l := &Leader{bus: cfg.Bus, lz: lz, fz: fz, names: cfg.Leader.JointNames()}
	for fi, fj := range cfg.Follower.Joints {
		li, ok := cfg.Leader.Joint(fj.Name)
		if !ok {
			continue
		}
		if lz.Mode(li) != fz.Mode(robot.JointIndex(fi)) {
			return nil, fmt.Errorf("teleop: joint %s: leader maps it in %v, the follower in %v", fj.Name, lz.Mode(li), fz.Mode(robot.JointIndex(fi)))
		}
		l.pairL[l.n], l.pairF[l.n] = li, robot.JointIndex(fi)
		l.mask |= 1 << fi
		l.n++
	}
	if l.n == 0 {
		return nil, fmt.Errorf("teleop: %s and %s have no joint in common", cfg.Leader.Name, cfg.Follower.Name)
	}
	l.state.N = len(cfg.Leader.Joints)
	l.off.N = len(cfg.Leader.Joints)
	return l, nil
}

// Target implements control.Source on the follower loop's thread: one read
// of the leader's bus (bounded by that bus's budget), no allocation.
func (l *Leader) Target(now time.Time, s *robot.State, target *[robot.MaxJoints]float64) (uint64, bool) {
	if !l.started {
		// Torque off on the leader, once: it is moved by hand.
		if err := l.bus.Write(now, &l.off); err == nil {
			l.started = true
		}
	}
	err := l.bus.Read(now, &l.state)
	l.reads.Add(1)
	if err != nil {
		l.errs.Add(1)
	}
	var got, mask uint64
	for k := 0; k < l.n; k++ {
		li := l.pairL[k]
		f := l.state.Fault[li]
		l.faults[li].Store(uint32(f))
		if f&(robot.FaultNoReply|robot.FaultCorrupt) == 0 {
			got |= 1 << k
		}
	}
	if got == 0 {
		return 0, false
	}
	l.fresh.Store(now.UnixNano())
	for k := 0; k < l.n; k++ {
		if s.Fault[l.pairF[k]]&(robot.FaultNoReply|robot.FaultCorrupt) != 0 {
			return 0, true // a follower servo is silent: hold every target
		}
	}
	for k := 0; k < l.n; k++ {
		if got&(1<<k) == 0 {
			continue // that leader servo is silent: its follower joint holds
		}
		li, fi := l.pairL[k], l.pairF[k]
		v := l.lz.Value(li, l.state.Position[li])
		target[fi] = l.fz.Radians(fi, v)
		mask |= 1 << fi
	}
	return mask, true
}

// Mask is the set of follower joints the leader drives.
func (l *Leader) Mask() uint64 { return l.mask }

// LeaderStatus is the leader arm's side of teleoperation, for the API.
type LeaderStatus struct {
	Reads  uint64            `json:"reads"`            // leader bus reads
	Errors uint64            `json:"errors"`           // reads that returned an error
	Faults map[string]string `json:"faults,omitempty"` // leader joint → its faults, where any
	Fresh  time.Time         `json:"fresh,omitzero"`   // the last tick with a leader reading
}

// Status returns the leader's counters and faults. Safe from any
// goroutine.
func (l *Leader) Status() LeaderStatus {
	st := LeaderStatus{Reads: l.reads.Load(), Errors: l.errs.Load()}
	if ns := l.fresh.Load(); ns != 0 {
		st.Fresh = time.Unix(0, ns)
	}
	for k := 0; k < l.n; k++ {
		li := l.pairL[k]
		if f := robot.JointFault(l.faults[li].Load()); f != 0 {
			if st.Faults == nil {
				st.Faults = map[string]string{}
			}
			st.Faults[l.names[li]] = f.String()
		}
	}
	return st
}

// AppendFaults appends the leader's joint faults ("leader shoulder_pan:
// no-reply") to dst, for GET /api/state's faults. Safe from any goroutine.
func (l *Leader) AppendFaults(dst []string) []string {
	for k := 0; k < l.n; k++ {
		li := l.pairL[k]
		if f := robot.JointFault(l.faults[li].Load()); f != 0 {
			dst = append(dst, "leader "+l.names[li]+": "+f.String())
		}
	}
	return dst
}
