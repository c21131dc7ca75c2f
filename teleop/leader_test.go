package teleop_test

import (
	"math"
	"testing"
	"time"

	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/teleop"
)

// fakeArm is a leader bus whose joints read what the test sets.
type fakeArm struct {
	pos    [robot.MaxJoints]float64
	fault  [robot.MaxJoints]robot.JointFault
	writes int
	torque bool
}

func (f *fakeArm) Read(now time.Time, s *robot.State) error {
	for i := 0; i < 6; i++ {
		if f.fault[i] == 0 {
			s.Position[i] = f.pos[i]
		}
		s.Fault[i] = f.fault[i]
	}
	return nil
}

func (f *fakeArm) Write(_ time.Time, c *robot.Command) error {
	f.writes++
	f.torque = c.Torque
	return nil
}

func (f *fakeArm) Halt() error { return nil }

func profiles(t testing.TB) (*robot.Description, *robot.Description) {
	t.Helper()
	l, err := robot.Load("so101-leader")
	if err != nil {
		t.Fatal(err)
	}
	f, err := robot.Load("so101-follower")
	if err != nil {
		t.Fatal(err)
	}
	return l, f
}

// TestLeaderMapping: LeRobot's convention — the leader's number (degrees
// for the body, 0–100 of the calibrated range for the gripper) becomes the
// follower's same number under the follower's own calibration.
func TestLeaderMapping(t *testing.T) {
	ld, fd := profiles(t)
	lcal := robot.Calibration{}
	fcal := robot.Calibration{}
	for i, j := range ld.Joints {
		lcal[j.Name] = robot.MotorCalibration{ID: j.ID, RangeMin: 1000 + 10*i, RangeMax: 3000}
		fcal[j.Name] = robot.MotorCalibration{ID: j.ID, HomingOffset: 50, RangeMin: 500, RangeMax: 3500 - 10*i}
	}
	lcal["gripper"] = robot.MotorCalibration{ID: 6, RangeMin: 1900, RangeMax: 2900, DriveMode: 0}
	fcal["gripper"] = robot.MotorCalibration{ID: 6, RangeMin: 2030, RangeMax: 3500}
	bus := &fakeArm{}
	l, err := teleop.NewLeader(teleop.LeaderConfig{Bus: bus, Leader: ld, Follower: fd, LeaderCal: lcal, FollowerCal: fcal, Degrees: true})
	if err != nil {
		t.Fatal(err)
	}
	lz, _ := robot.NewNormalizer(ld, lcal, nil)
	fz, _ := robot.NewNormalizer(fd, fcal, nil)
	// The leader's joints at ticks: body at mid+300, gripper at 25 % of its range.
	for i, j := range ld.Joints {
		c := lcal[j.Name]
		tick := float64(c.RangeMin+c.RangeMax)/2 + 300
		if j.Name == "gripper" {
			tick = 1900 + 250
		}
		bus.pos[i] = robot.NewTickMap(j, robot.Motors[j.Model], &c).Radians(tick)
	}
	var s robot.State
	var target [robot.MaxJoints]float64
	mask, fresh := l.Target(time.Now(), &s, &target)
	if !fresh || mask != 0x3F || bus.writes != 1 || bus.torque {
		t.Fatalf("mask %b fresh %v; leader writes %d torque %v", mask, fresh, bus.writes, bus.torque)
	}
	for i, j := range fd.Joints {
		got := fz.Value(robot.JointIndex(i), target[i])
		want := lz.Value(robot.JointIndex(i), bus.pos[i])
		// The follower's number equals the leader's, to one tick (LeRobot
		// truncates to a tick when it writes).
		tick := 360.0 / 4095
		if j.Name == "gripper" {
			tick = 100.0 / 1470
			if math.Abs(want-25) > 1e-9 {
				t.Errorf("leader gripper reads %v, want 25", want)
			}
		}
		if math.Abs(got-want) > tick+1e-9 {
			t.Errorf("%s: follower %v, leader %v", j.Name, got, want)
		}
	}
	// Gripper: 25 % of the follower's range, in its ticks.
	gc := fcal["gripper"]
	gt := robot.NewTickMap(fd.Joints[5], robot.Motors["sts3215"], &gc).Ticks(target[5])
	if math.Abs(gt-(2030+0.25*1470)) > 1 {
		t.Errorf("follower gripper at tick %v, want %v", gt, 2030+0.25*1470)
	}
	// Body joint in degrees: same angle relative to each range's middle.
	if got, want := fz.Value(0, target[0]), 300*360.0/4095; math.Abs(got-want) > 0.1 {
		t.Errorf("shoulder_pan %v°, want %v°", got, want)
	}

	// A silent leader servo: its follower joint holds, the others follow,
	// and the fault is reported.
	before := target
	bus.fault[3] = robot.FaultNoReply
	bus.pos[3] += 0.5
	bus.pos[0] += 0.1
	mask, fresh = l.Target(time.Now(), &s, &target)
	if !fresh || mask&(1<<3) != 0 || target[3] != before[3] || target[0] == before[0] {
		t.Errorf("silent leader joint: mask %b, targets %v → %v", mask, before[:6], target[:6])
	}
	if got := l.AppendFaults(nil); len(got) != 1 || got[0] != "leader wrist_flex: no-reply" {
		t.Errorf("faults %q", got)
	}
	if st := l.Status(); st.Faults["wrist_flex"] != "no-reply" || st.Reads != 2 {
		t.Errorf("status %+v", st)
	}
	// A silent follower servo freezes every target.
	bus.fault[3] = 0
	s.Fault[2] = robot.FaultNoReply
	before = target
	bus.pos[1] += 0.2
	if mask, fresh = l.Target(time.Now(), &s, &target); !fresh || mask != 0 || target != before {
		t.Errorf("silent follower servo: mask %b fresh %v", mask, fresh)
	}
	s.Fault[2] = 0
	// The whole leader silent: nothing fresh.
	for i := range bus.fault {
		bus.fault[i] = robot.FaultNoReply
	}
	if _, fresh = l.Target(time.Now(), &s, &target); fresh {
		t.Error("fresh with a silent leader")
	}
	for i := range bus.fault {
		bus.fault[i] = 0
	}
	if a := testing.AllocsPerRun(100, func() { l.Target(time.Now(), &s, &target) }); a != 0 {
		t.Errorf("Target: %v allocs", a)
	}

	// RANGE_M100_100 (use_degrees=False): the range fraction carries over.
	l2, err := teleop.NewLeader(teleop.LeaderConfig{Bus: bus, Leader: ld, Follower: fd, LeaderCal: lcal, FollowerCal: fcal})
	if err != nil {
		t.Fatal(err)
	}
	l2.Target(time.Now(), &s, &target)
	lr, _ := robot.NewNormalizer(ld, lcal, robot.LeRobotModes(ld, false))
	fr, _ := robot.NewNormalizer(fd, fcal, robot.LeRobotModes(fd, false))
	if got, want := fr.Value(1, target[1]), lr.Value(1, bus.pos[1]); math.Abs(got-want) > 200.0/3000 {
		t.Errorf("range mode: follower %v, leader %v", got, want)
	}
}
