package robot

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// URDFJoint is one joint of a URDF file with its <limit>.
type URDFJoint struct {
	Name     string
	Type     string // revolute, continuous, prismatic, fixed, floating, planar
	Lower    float64
	Upper    float64
	Velocity float64 // rad/s (or m/s), 0 if not given
	Effort   float64 // N·m (or N), 0 if not given
	HasLimit bool
	Mimic    string // joint this one mimics, if any
}

// Actuated reports whether the joint can carry a motor (revolute, continuous
// or prismatic, not mimicking another joint).
func (j URDFJoint) Actuated() bool {
	return (j.Type == "revolute" || j.Type == "continuous" || j.Type == "prismatic") && j.Mimic == ""
}

// URDF is what anther reads from a URDF file: the robot name and its joints
// in file order. Links, meshes and inertias are ignored, so missing mesh
// files do not matter.
type URDF struct {
	Name   string
	Joints []URDFJoint
}

type urdfXML struct {
	Name   string `xml:"name,attr"`
	Joints []struct {
		Name  string `xml:"name,attr"`
		Type  string `xml:"type,attr"`
		Limit *struct {
			Lower    string `xml:"lower,attr"`
			Upper    string `xml:"upper,attr"`
			Velocity string `xml:"velocity,attr"`
			Effort   string `xml:"effort,attr"`
		} `xml:"limit"`
		Mimic *struct {
			Joint string `xml:"joint,attr"`
		} `xml:"mimic"`
	} `xml:"joint"`
}

// ErrURDF is wrapped by every URDF parsing error.
var ErrURDF = errors.New("robot: invalid URDF")

// ReadURDF parses a URDF file.
func ReadURDF(path string) (*URDF, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("robot: %w", err)
	}
	return ParseURDF(data)
}

// ParseURDF parses URDF XML. Only top-level <joint> elements of <robot> are
// read (ros2_control and gazebo blocks also name joints, without types).
func ParseURDF(data []byte) (*URDF, error) {
	var x urdfXML
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	// Find the <robot> element.
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil, fmt.Errorf("%w: no <robot> element", ErrURDF)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrURDF, err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Local != "robot" {
				return nil, fmt.Errorf("%w: root element is <%s>, want <robot>", ErrURDF, se.Name.Local)
			}
			if err := dec.DecodeElement(&x, &se); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrURDF, err)
			}
			break
		}
	}
	u := &URDF{Name: x.Name}
	seen := map[string]bool{}
	for i, xj := range x.Joints {
		if xj.Name == "" {
			return nil, fmt.Errorf("%w: joint %d has no name", ErrURDF, i)
		}
		if seen[xj.Name] {
			return nil, fmt.Errorf("%w: duplicate joint %q", ErrURDF, xj.Name)
		}
		seen[xj.Name] = true
		j := URDFJoint{Name: xj.Name, Type: xj.Type}
		switch j.Type {
		case "revolute", "continuous", "prismatic", "fixed", "floating", "planar":
		default:
			return nil, fmt.Errorf("%w: joint %q has unknown type %q", ErrURDF, j.Name, j.Type)
		}
		if xj.Mimic != nil {
			j.Mimic = xj.Mimic.Joint
		}
		if xj.Limit != nil {
			var err error
			num := func(field, s string) float64 {
				if s == "" || err != nil {
					return 0
				}
				v, e := strconv.ParseFloat(strings.TrimSpace(s), 64)
				if e != nil || math.IsNaN(v) || math.IsInf(v, 0) {
					err = fmt.Errorf("%w: joint %q: limit %s=%q is not a number", ErrURDF, j.Name, field, s)
				}
				return v
			}
			j.Lower = num("lower", xj.Limit.Lower)
			j.Upper = num("upper", xj.Limit.Upper)
			j.Velocity = num("velocity", xj.Limit.Velocity)
			j.Effort = num("effort", xj.Limit.Effort)
			if err != nil {
				return nil, err
			}
			j.HasLimit = j.Type != "continuous" && (xj.Limit.Lower != "" || xj.Limit.Upper != "")
			if j.HasLimit && j.Lower >= j.Upper {
				return nil, fmt.Errorf("%w: joint %q: lower %g is not below upper %g", ErrURDF, j.Name, j.Lower, j.Upper)
			}
			if j.Velocity < 0 || j.Effort < 0 {
				return nil, fmt.Errorf("%w: joint %q: negative velocity or effort limit", ErrURDF, j.Name)
			}
		}
		u.Joints = append(u.Joints, j)
	}
	return u, nil
}

// ApplyURDFLimits tightens d's joint limits with the URDF's <limit>s for
// joints of the same name: the position range becomes the intersection, and
// velocity and torque limits the smaller of the two. It returns the joints
// it matched and those of d the URDF lacks.
func ApplyURDFLimits(d *Description, u *URDF) (matched, missing []string) {
	byName := map[string]URDFJoint{}
	for _, j := range u.Joints {
		byName[j.Name] = j
	}
	for i := range d.Joints {
		j := &d.Joints[i]
		uj, ok := byName[j.Name]
		if !ok || !uj.Actuated() {
			missing = append(missing, j.Name)
			continue
		}
		matched = append(matched, j.Name)
		if uj.HasLimit {
			lo, hi := max(j.Min, Radians(uj.Lower)), min(j.Max, Radians(uj.Upper))
			if lo < hi {
				j.Min, j.Max = lo, hi
				j.Home = max(lo, min(hi, j.Home))
			}
		}
		if uj.Velocity > 0 {
			j.MaxVelocity = min(j.MaxVelocity, RadiansPerSecond(uj.Velocity))
		}
		if uj.Effort > 0 {
			j.MaxTorque = min(j.MaxTorque, NewtonMeters(uj.Effort))
		}
	}
	return matched, missing
}
