package robot

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Description is a robot: its buses, joints, cameras and loop rate. It is
// loaded from YAML (a built-in profile or a file) and validated before use.
type Description struct {
	Name    string       // profile name, e.g. "reachy-mini"
	Kind    string       // robot family for whole-robot constraints ("reachy-mini", "so101", "koch", "generic")
	Rate    float64      // control loop rate, Hz
	Buses   []BusSpec    // motor buses
	Joints  []JointSpec  // joints, in JointIndex order
	Cameras []CameraSpec // cameras
	Source  string       // where it was loaded from (file name or "profile:NAME")
}

// BusSpec describes one serial motor bus.
type BusSpec struct {
	Name     string // bus name, referenced by joints
	Protocol string // "dynamixel2" or "feetech"
	Port     string // serial device, e.g. /dev/ttyACM0
	Baud     int    // bits per second
	Read     string // how state is read each tick: "sync" (SYNC_READ) or "fast" (FAST_SYNC_READ)
}

// JointSpec describes one joint and the motor that drives it.
type JointSpec struct {
	Name            string            // joint name (LeRobot names for SO/Koch arms)
	Bus             string            // name of the bus the motor is on
	ID              int               // motor ID on that bus
	Model           string            // motor model key, see Motors
	Direction       int               // +1 or -1: sign between motor and joint angle
	Offset          Radians           // joint angle at the motor's centre tick
	Min, Max        Radians           // hard position limits
	Home            Radians           // position the robot goes to when activated with no target
	MaxVelocity     RadiansPerSecond  // velocity limit
	MaxAcceleration RadiansPerSecond2 // acceleration limit
	MaxTorque       NewtonMeters      // torque limit
}

// CameraSpec describes one camera.
type CameraSpec struct {
	Name   string  // camera name; dataset key observation.images.<Name>
	Source string  // "sim", a V4L2 device (/dev/video0 or an index), rtsp://… URL, or a video file
	Width  int     // pixels
	Height int     // pixels
	FPS    float64 // frames per second
}

// Joint returns the index of the joint called name, and whether it exists.
func (d *Description) Joint(name string) (JointIndex, bool) {
	for i := range d.Joints {
		if d.Joints[i].Name == name {
			return JointIndex(i), true
		}
	}
	return -1, false
}

// JointNames lists the joint names in JointIndex order.
func (d *Description) JointNames() []string {
	names := make([]string, len(d.Joints))
	for i, j := range d.Joints {
		names[i] = j.Name
	}
	return names
}

// Bus returns the bus called name, or nil.
func (d *Description) Bus(name string) *BusSpec {
	for i := range d.Buses {
		if d.Buses[i].Name == name {
			return &d.Buses[i]
		}
	}
	return nil
}

// BusJoints lists the joint indices on the named bus, in description order.
func (d *Description) BusJoints(bus string) []JointIndex {
	var idx []JointIndex
	for i, j := range d.Joints {
		if j.Bus == bus {
			idx = append(idx, JointIndex(i))
		}
	}
	return idx
}

// The YAML shape of a description. Quantities are kept as text and parsed
// during validation so errors can name the line and field.
type fileDesc struct {
	Name    string       `yaml:"name"`
	Kind    string       `yaml:"kind"`
	Rate    *float64     `yaml:"rate"`
	Buses   []fileBus    `yaml:"buses"`
	Joints  []fileJoint  `yaml:"joints"`
	Cameras []fileCamera `yaml:"cameras"`
}

type fileBus struct {
	Name     string `yaml:"name"`
	Protocol string `yaml:"protocol"`
	Port     string `yaml:"port"`
	Baud     int    `yaml:"baud"`
	Read     string `yaml:"read"`
}

type fileJoint struct {
	Name            string   `yaml:"name"`
	Bus             string   `yaml:"bus"`
	ID              *int     `yaml:"id"`
	Model           string   `yaml:"model"`
	Direction       *int     `yaml:"direction"`
	Offset          quantity `yaml:"offset"`
	Min             quantity `yaml:"min"`
	Max             quantity `yaml:"max"`
	Home            quantity `yaml:"home"`
	MaxVelocity     quantity `yaml:"max_velocity"`
	MaxAcceleration quantity `yaml:"max_acceleration"`
	MaxTorque       quantity `yaml:"max_torque"`
}

type fileCamera struct {
	Name   string  `yaml:"name"`
	Source string  `yaml:"source"`
	Width  int     `yaml:"width"`
	Height int     `yaml:"height"`
	FPS    float64 `yaml:"fps"`
}

// quantity is a number with an optional unit, kept as text until validation.
type quantity string

// UnmarshalYAML keeps the scalar's text.
func (q *quantity) UnmarshalYAML(b []byte) error {
	s := strings.TrimSpace(string(b))
	s = strings.Trim(s, `"'`)
	*q = quantity(s)
	return nil
}

// Protocols lists the bus protocols anther speaks.
var protocols = []string{"dynamixel2", "feetech"}

// DescriptionError is a problem in a description, located by file, line and
// field. Error() reads "file:line: field: message".
type DescriptionError struct {
	File  string // file name (base name) or profile:NAME
	Line  int    // 1-based line, 0 when unknown
	Field string // path of the field, e.g. joints[3].id
	Msg   string // what is wrong
}

// Error formats the problem as "file:line: field: message".
func (e *DescriptionError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrDescription is wrapped by every description error, for errors.Is.
var ErrDescription = errors.New("robot: invalid description")

// Unwrap lets errors.Is(err, ErrDescription) hold.
func (e *DescriptionError) Unwrap() error { return ErrDescription }

// LoadFile reads and validates a description file.
func LoadFile(path string) (*Description, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("robot: %w", err)
	}
	return Parse(filepath.Base(path), data)
}

// Load returns the built-in profile called nameOrFile, or, if there is none,
// reads nameOrFile as a description file.
func Load(nameOrFile string) (*Description, error) {
	if data, err := profileFS.ReadFile("profiles/" + nameOrFile + ".yaml"); err == nil {
		d, err := Parse(nameOrFile+".yaml", data)
		if err != nil {
			return nil, err
		}
		d.Source = "profile:" + nameOrFile
		return d, nil
	}
	if _, err := os.Stat(nameOrFile); err != nil {
		return nil, fmt.Errorf("robot: %q is neither a built-in profile (%s) nor a readable file: %w",
			nameOrFile, strings.Join(Profiles(), ", "), err)
	}
	return LoadFile(nameOrFile)
}

//go:embed profiles/*.yaml
var profileFS embed.FS

// Profiles lists the names of the built-in robot profiles.
func Profiles() []string {
	entries, _ := profileFS.ReadDir("profiles")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(names)
	return names
}

// ProfileYAML returns the text of a built-in profile.
func ProfileYAML(name string) ([]byte, error) {
	b, err := profileFS.ReadFile("profiles/" + name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("robot: no built-in profile %q", name)
	}
	return b, nil
}

// Parse decodes and validates a description. file names the source in errors.
func Parse(file string, data []byte) (d *Description, err error) {
	// The YAML library panics on some malformed inputs (found by fuzzing);
	// a bad file must give an error, never take the daemon down.
	defer func() {
		if r := recover(); r != nil {
			d, err = nil, &DescriptionError{File: file, Msg: fmt.Sprintf("YAML parser failed on this input: %v", r)}
		}
	}()
	astFile, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, yamlError(file, err)
	}
	var fd fileDesc
	if err := yaml.NewDecoder(bytes.NewReader(data), yaml.DisallowUnknownField()).Decode(&fd); err != nil {
		return nil, yamlError(file, err)
	}
	v := validator{file: file, ast: astFile}
	d = v.validate(&fd)
	if v.err != nil {
		return nil, v.err
	}
	d.Source = file
	return d, nil
}

// yamlError turns a YAML decoding error into a DescriptionError.
func yamlError(file string, err error) error {
	if line, field, msg, ok := YAMLErrorPos(err); ok {
		return &DescriptionError{File: file, Line: line, Field: field, Msg: msg}
	}
	return &DescriptionError{File: file, Msg: err.Error()}
}

// validator checks a decoded description and keeps the first error.
type validator struct {
	file string
	ast  *ast.File
	err  error
}

// fail records the first error, located at the field's line (or, if the
// field is absent, at its nearest present parent).
func (v *validator) fail(field, format string, args ...any) {
	if v.err != nil {
		return
	}
	v.err = &DescriptionError{File: v.file, Line: v.line(field), Field: field, Msg: fmt.Sprintf(format, args...)}
}

// line finds the source line of field (a path like joints[3].id).
func (v *validator) line(field string) int { return YAMLLine(v.ast, field) }

func (v *validator) validate(fd *fileDesc) *Description {
	d := &Description{Name: fd.Name, Kind: fd.Kind}
	if d.Name == "" {
		v.fail("name", "missing robot name")
	}
	if d.Kind == "" {
		d.Kind = "generic"
	}
	switch {
	case fd.Rate == nil:
		v.fail("rate", "missing loop rate (Hz)")
	case *fd.Rate < 1 || *fd.Rate > 10000:
		v.fail("rate", "loop rate %g Hz is outside 1..10000", *fd.Rate)
	default:
		d.Rate = *fd.Rate
	}
	if len(fd.Joints) == 0 {
		v.fail("joints", "a robot needs at least one joint")
	}
	if len(fd.Joints) > MaxJoints {
		v.fail("joints", "%d joints is more than the %d supported", len(fd.Joints), MaxJoints)
	}
	busNames := map[string]bool{}
	for i, b := range fd.Buses {
		f := fmt.Sprintf("buses[%d]", i)
		switch {
		case b.Name == "":
			v.fail(f+".name", "missing bus name")
		case busNames[b.Name]:
			v.fail(f+".name", "duplicate bus name %q", b.Name)
		}
		busNames[b.Name] = true
		if !contains(protocols, b.Protocol) {
			v.fail(f+".protocol", "unknown protocol %q (use one of %s)", b.Protocol, strings.Join(protocols, ", "))
		}
		if b.Baud == 0 {
			b.Baud = 1000000
		}
		if b.Baud < 9600 || b.Baud > 4500000 {
			v.fail(f+".baud", "baud %d is outside 9600..4500000", b.Baud)
		}
		switch b.Read {
		case "":
			b.Read = "sync"
		case "sync", "fast":
		default:
			v.fail(f+".read", "unknown read mode %q (use sync or fast)", b.Read)
		}
		if b.Read == "fast" && b.Protocol != "dynamixel2" {
			v.fail(f+".read", "fast sync read is a dynamixel2 feature, not %s", b.Protocol)
		}
		d.Buses = append(d.Buses, BusSpec(b))
	}
	type busID struct {
		bus string
		id  int
	}
	ids := map[busID]bool{}
	names := map[string]bool{}
	for i, fj := range fd.Joints {
		f := fmt.Sprintf("joints[%d]", i)
		j := JointSpec{Name: fj.Name, Bus: fj.Bus, Model: fj.Model, Direction: 1}
		switch {
		case j.Name == "":
			v.fail(f+".name", "missing joint name")
		case names[j.Name]:
			v.fail(f+".name", "duplicate joint name %q", j.Name)
		}
		names[j.Name] = true
		if !busNames[j.Bus] {
			v.fail(f+".bus", "unknown bus %q", j.Bus)
		}
		switch {
		case fj.ID == nil:
			v.fail(f+".id", "missing motor id")
		case *fj.ID < 0 || *fj.ID > 252:
			v.fail(f+".id", "id %d is outside 0..252", *fj.ID)
		case ids[busID{j.Bus, *fj.ID}]:
			v.fail(f+".id", "duplicate id %d on bus %s", *fj.ID, j.Bus)
		default:
			j.ID = *fj.ID
			ids[busID{j.Bus, j.ID}] = true
		}
		m, ok := Motors[j.Model]
		if !ok {
			v.fail(f+".model", "unknown motor model %q (use one of %s)", j.Model, strings.Join(MotorModels(), ", "))
		} else if b := d.Bus(j.Bus); b != nil && b.Protocol != m.Protocol {
			v.fail(f+".model", "%s is a %s motor but bus %s speaks %s", j.Model, m.Protocol, b.Name, b.Protocol)
		}
		if fj.Direction != nil {
			if *fj.Direction != 1 && *fj.Direction != -1 {
				v.fail(f+".direction", "direction must be 1 or -1, not %d", *fj.Direction)
			}
			j.Direction = *fj.Direction
		}
		j.Offset = v.angle(f+".offset", fj.Offset, 0)
		j.Min = v.angle(f+".min", fj.Min, Radians(-1e9))
		j.Max = v.angle(f+".max", fj.Max, Radians(-1e9))
		if fj.Min == "" {
			v.fail(f+".min", "missing lower position limit")
		}
		if fj.Max == "" {
			v.fail(f+".max", "missing upper position limit")
		}
		if fj.Min != "" && fj.Max != "" && j.Min >= j.Max {
			v.fail(f+".max", "upper limit %.4g rad is not above lower limit %.4g rad", float64(j.Max), float64(j.Min))
		}
		j.Home = v.angle(f+".home", fj.Home, min(max(0, j.Min), j.Max))
		if fj.Home != "" && (j.Home < j.Min || j.Home > j.Max) {
			v.fail(f+".home", "home %.4g rad is outside the limits [%.4g, %.4g]", float64(j.Home), float64(j.Min), float64(j.Max))
		}
		j.MaxVelocity = RadiansPerSecond(v.positive(f+".max_velocity", fj.MaxVelocity, parseVelocityF, float64(m.MaxVelocity)))
		j.MaxAcceleration = RadiansPerSecond2(v.positive(f+".max_acceleration", fj.MaxAcceleration, parseAccelerationF, 20*float64(j.MaxVelocity)))
		j.MaxTorque = NewtonMeters(v.positive(f+".max_torque", fj.MaxTorque, parseTorqueF, float64(m.StallTorque)))
		if ok && fj.MaxVelocity != "" && float64(j.MaxVelocity) > float64(m.MaxVelocity)*1.0001 {
			v.fail(f+".max_velocity", "%.4g rad/s is faster than a %s can turn (%.4g rad/s)", float64(j.MaxVelocity), j.Model, float64(m.MaxVelocity))
		}
		if ok && fj.MaxTorque != "" && float64(j.MaxTorque) > float64(m.StallTorque)*1.0001 {
			v.fail(f+".max_torque", "%.4g Nm is more than a %s's stall torque (%.4g Nm)", float64(j.MaxTorque), j.Model, float64(m.StallTorque))
		}
		d.Joints = append(d.Joints, j)
	}
	camNames := map[string]bool{}
	for i, c := range fd.Cameras {
		f := fmt.Sprintf("cameras[%d]", i)
		switch {
		case c.Name == "":
			v.fail(f+".name", "missing camera name")
		case camNames[c.Name]:
			v.fail(f+".name", "duplicate camera name %q", c.Name)
		}
		camNames[c.Name] = true
		if c.Source == "" {
			v.fail(f+".source", "missing camera source")
		}
		if c.Width <= 0 || c.Height <= 0 || c.Width > 8192 || c.Height > 8192 {
			v.fail(f+".width", "image size %dx%d is not in 1..8192", c.Width, c.Height)
		}
		if c.FPS <= 0 || c.FPS > 1000 {
			v.fail(f+".fps", "fps %g is outside (0, 1000]", c.FPS)
		}
		d.Cameras = append(d.Cameras, CameraSpec(c))
	}
	return d
}

// parseVelocityF is ParseVelocity returning a plain float64.
func parseVelocityF(s string) (float64, error) { v, err := ParseVelocity(s); return float64(v), err }

// parseAccelerationF is ParseAcceleration returning a plain float64.
func parseAccelerationF(s string) (float64, error) {
	v, err := ParseAcceleration(s)
	return float64(v), err
}

// parseTorqueF is ParseTorque returning a plain float64.
func parseTorqueF(s string) (float64, error) { v, err := ParseTorque(s); return float64(v), err }

func (v *validator) angle(field string, q quantity, def Radians) Radians {
	if q == "" {
		return def
	}
	a, err := ParseAngle(string(q))
	if err != nil {
		v.fail(field, "%v", err)
		return def
	}
	return a
}

func (v *validator) positive(field string, q quantity, parse func(string) (float64, error), def float64) float64 {
	if q == "" {
		return def
	}
	x, err := parse(string(q))
	if err != nil {
		v.fail(field, "%v", err)
		return def
	}
	if x <= 0 {
		v.fail(field, "must be positive, not %g", x)
		return def
	}
	return x
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
