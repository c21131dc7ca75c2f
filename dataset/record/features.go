// Package record connects the control loop to LeRobot datasets: a Recorder
// that attaches to the loop as a control.Sink and records episodes at the
// dataset's fps (state as read, the command actually written after the
// safety limits as the action, one image per camera), a scripted operator
// that moves every joint smoothly for recordings without a teleoperator,
// and Replay, a control.Source that plays an episode's actions back
// through the safety layer. The dataset format itself is package dataset.
package record

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/anther-robotics/anther/dataset"
	"github.com/anther-robotics/anther/robot"
)

// Units of the joint values stored in a dataset.
const (
	// UnitsLeRobot stores what current LeRobot robots record: degrees for
	// body joints (MotorNormMode.DEGREES) and 0..100 over the joint's range
	// for grippers (RANGE_0_100).
	UnitsLeRobot = "lerobot"
	// UnitsDegrees stores every joint in degrees.
	UnitsDegrees = "deg"
	// UnitsRadians stores every joint in radians (anther's internal unit).
	UnitsRadians = "rad"
)

// Per-dimension unit names kept in meta/anther.json.
const (
	unitDeg      = "deg"
	unitRad      = "rad"
	unitRange100 = "range_0_100"
)

// JointMap converts between the robot's joint positions (radians, by joint
// index) and the dataset's vector values, named "<joint>.pos" as LeRobot
// names motors.
type JointMap struct {
	Joints []int    // robot joint index of each dataset dimension
	Names  []string // "<joint>.pos"
	Units  []string // unit of each dimension
	min    []float64
	max    []float64
}

// NewJointMap maps every joint of d, in description order, with units
// UnitsLeRobot, UnitsDegrees or UnitsRadians.
func NewJointMap(d *robot.Description, units string) (*JointMap, error) {
	m := &JointMap{}
	for i, j := range d.Joints {
		u := unitDeg
		switch units {
		case UnitsLeRobot, "":
			if strings.Contains(j.Name, "gripper") {
				u = unitRange100
			}
		case UnitsDegrees:
		case UnitsRadians:
			u = unitRad
		default:
			return nil, fmt.Errorf("record: units %q (want %s, %s or %s)", units, UnitsLeRobot, UnitsDegrees, UnitsRadians)
		}
		m.Joints = append(m.Joints, i)
		m.Names = append(m.Names, j.Name+".pos")
		m.Units = append(m.Units, u)
		m.min = append(m.min, float64(j.Min))
		m.max = append(m.max, float64(j.Max))
	}
	return m, nil
}

// JointMapFor maps a dataset vector feature's names onto the joints of d
// (names "<joint>.pos" or "<joint>"), with the units the dataset recorded
// (from meta/anther.json), or LeRobot's convention when unknown.
func JointMapFor(d *robot.Description, names []string, units []string) (*JointMap, error) {
	if len(units) != 0 && len(units) != len(names) {
		return nil, fmt.Errorf("record: %d units for %d names", len(units), len(names))
	}
	m := &JointMap{}
	for k, n := range names {
		base := strings.TrimSuffix(n, ".pos")
		idx, ok := d.Joint(base)
		if !ok {
			return nil, fmt.Errorf("record: dataset joint %q is not a joint of %s (joints: %s)", n, d.Name, strings.Join(d.JointNames(), ", "))
		}
		j := d.Joints[idx]
		u := unitDeg
		if len(units) > 0 {
			u = units[k]
		} else if strings.Contains(base, "gripper") {
			u = unitRange100
		}
		switch u {
		case unitDeg, unitRad, unitRange100:
		default:
			return nil, fmt.Errorf("record: unit %q of %s is unknown", u, n)
		}
		m.Joints = append(m.Joints, int(idx))
		m.Names = append(m.Names, n)
		m.Units = append(m.Units, u)
		m.min = append(m.min, float64(j.Min))
		m.max = append(m.max, float64(j.Max))
	}
	return m, nil
}

// Len is the number of dimensions.
func (m *JointMap) Len() int { return len(m.Joints) }

// Mask is the bit set of the robot joints the map covers.
func (m *JointMap) Mask() uint64 {
	var mask uint64
	for _, j := range m.Joints {
		mask |= 1 << j
	}
	return mask
}

// ToDataset converts joint positions (rad) to dataset values in dst.
func (m *JointMap) ToDataset(dst []float64, pos *[robot.MaxJoints]float64) {
	for k, j := range m.Joints {
		v := pos[j]
		switch m.Units[k] {
		case unitDeg:
			v = v * 180 / math.Pi
		case unitRange100:
			lo, hi := m.min[k], m.max[k]
			v = (math.Max(lo, math.Min(hi, v)) - lo) / (hi - lo) * 100
		}
		dst[k] = v
	}
}

// FromDataset converts dataset values to joint positions (rad) in dst.
func (m *JointMap) FromDataset(dst *[robot.MaxJoints]float64, vals []float64) {
	for k, j := range m.Joints {
		v := vals[k]
		switch m.Units[k] {
		case unitDeg:
			v = v * math.Pi / 180
		case unitRange100:
			v = m.min[k] + v/100*(m.max[k]-m.min[k])
		}
		dst[j] = v
	}
}

// RobotType is the info.json robot_type for a description: LeRobot's names
// for its robots ("so101-follower" → "so101_follower").
func RobotType(d *robot.Description) string { return strings.ReplaceAll(d.Name, "-", "_") }

// CameraKey is the dataset feature of a camera: observation.images.<name>.
func CameraKey(name string) string { return "observation.images." + name }

// Features are the dataset features recording d gives, in LeRobot's order:
// action, observation.state, then one video per camera (width×height).
func Features(m *JointMap, cams []CameraSpec) []dataset.Feature {
	names, _ := json.Marshal(m.Names)
	out := []dataset.Feature{
		{Key: "action", DType: "float32", Shape: []int{m.Len()}, Names: names},
		{Key: "observation.state", DType: "float32", Shape: []int{m.Len()}, Names: slices.Clone(names)},
	}
	for _, c := range cams {
		out = append(out, dataset.Feature{Key: CameraKey(c.Name), DType: dataset.DTypeVideo,
			Shape: []int{c.Height, c.Width, 3}, Names: json.RawMessage(`["height","width","channels"]`)})
	}
	return out
}

// UnitsOf is the meta/anther.json units record for m.
func UnitsOf(m *JointMap) map[string][]string {
	return map[string][]string{"action": slices.Clone(m.Units), "observation.state": slices.Clone(m.Units)}
}
