package policy

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/anther-robotics/anther/robot"
)

// Spec is a policy's contract with the robot: which joints it drives and in
// what order, how its observation tensors are assembled from the robot's
// state (terms, scales, history), how its output becomes joint targets, how
// fast it runs, and its recurrent state and normalization. It comes from a
// YAML sidecar, from the model's metadata_props, or from a known exporter's
// conventions (see LoadSpec).
type Spec struct {
	Name   string  // for logs and the API
	Source string  // where the spec came from ("file.yaml", "metadata:dof_names", ...)
	Dir    string  // folder that relative paths (stats, init model) are read from
	Rate   float64 // policy steps per second

	Joints   []string  // the policy's joint order, by the robot's joint names
	Defaults []float64 // default joint positions (rad) in policy order; nil: the robot's home pose
	Kp, Kd   []float64 // gains the policy was trained with (informational)

	Commands      []CommandSpec // operator commands the observation may contain
	Inputs        []InputSpec   // one per model input built from terms
	Action        ActionSpec
	Phase         *PhaseSpec
	Recurrent     *RecurrentSpec
	Normalization *NormSpec
}

// CommandSpec is one operator command (a velocity, a height, ...).
type CommandSpec struct {
	Name     string
	Min, Max float64 // range the command is clipped to (Min == Max == 0: unbounded)
	Default  float64
}

// Layouts of an input's history.
const (
	LayoutTerm  = "term"  // per term, oldest first, terms concatenated (Isaac Lab)
	LayoutFrame = "frame" // whole frames, oldest first (legged_gym / BHL frame stacking)
)

// InputSpec assembles one model input from observation terms.
type InputSpec struct {
	Name    string // model input name ("" binds the model's only input)
	History int    // frames kept (1 = no history)
	Layout  string // LayoutTerm or LayoutFrame
	Fill    string // how history starts after a reset: "zeros" or "first" (repeat the first frame)
	Terms   []TermSpec
}

// Term kinds.
const (
	TermJointPos         = "joint_pos"         // q
	TermJointPosRel      = "joint_pos_rel"     // q − default
	TermJointVel         = "joint_vel"         // q̇
	TermLastAction       = "last_action"       // previous raw action (after clip)
	TermProjectedGravity = "projected_gravity" // gravity unit vector in the base frame
	TermGyro             = "gyro"              // base angular velocity, rad/s
	TermCommand          = "command"           // selected operator commands
	TermPhaseSin         = "phase_sin"         // sin of each gait phase
	TermPhaseCos         = "phase_cos"         // cos of each gait phase
	TermState            = "state"             // LeRobot observation.state (joint positions × scale, normalized)
	TermImage            = "image"             // LeRobot observation.images.<camera> (CHW, [0,1], normalized)
	TermConstant         = "constant"          // fixed values
)

var termKinds = []string{TermJointPos, TermJointPosRel, TermJointVel, TermLastAction, TermProjectedGravity,
	TermGyro, TermCommand, TermPhaseSin, TermPhaseCos, TermState, TermImage, TermConstant}

// TermSpec is one observation term.
type TermSpec struct {
	Kind       string
	Name       string    // label (defaults to Kind)
	Scale      []float64 // one value, or one per element (nil: 1)
	Clip       []float64 // [lo, hi] after scaling (nil: none)
	Joints     []string  // joint terms: a subset of the policy's joints (nil: all)
	Components []string  // command: which commands, in order
	Camera     string    // image: camera name (stats key observation.images.<camera>)
	Width      int       // image size the model expects
	Height     int
	Value      []float64 // constant
	Normalize  string    // state, image: "" (use NormSpec), identity, mean_std, min_max, quantiles, quantile10
	StatsKey   string    // state, image: the stats.json feature (default observation.state / observation.images.<camera>)
}

// Aggregation modes for overlapping action chunks.
const (
	AggLatest   = "latest"   // the newest chunk replaces older predictions
	AggWeighted = "weighted" // old·(1−w) + new·w where chunks overlap (LeRobot async client, w = 0.7)
	AggEnsemble = "ensemble" // ACT temporal ensembling: weights exp(−coeff·i), i = 0 for the oldest
)

// ActionSpec turns the model's output into joint targets:
// target = scale · unnormalize(clip(raw)) + offset.
type ActionSpec struct {
	Output    string    // model output name ("" binds the model's first output)
	Joints    []string  // joints the action drives, in output order (nil: Spec.Joints)
	Scale     []float64 // one or per joint (nil: 1)
	Offset    string    // "default" (the default joint positions), "none", or "values"
	Offsets   []float64 // when Offset is "values"
	Clip      []float64 // [lo, hi] on the raw output (nil: none)
	Normalize string    // "" (use NormSpec), identity, mean_std, min_max, quantiles, quantile10
	StatsKey  string    // default "action"
	Chunk     ChunkSpec
}

// ChunkSpec says how action chunks are consumed.
type ChunkSpec struct {
	Size             int     // actions per chunk (0: from the output shape)
	Aggregation      string  // AggLatest, AggWeighted, AggEnsemble
	Weight           float64 // AggWeighted: weight of the new chunk (default 0.7)
	EnsembleCoeff    float64 // AggEnsemble: the exponent coefficient (default 0.01)
	RequestThreshold float64 // ask for a new chunk when remaining/size ≤ this (default 0.5; ensemble: every step)
	Interpolate      bool    // interpolate linearly between steps at the loop's rate
}

// PhaseSpec is a gait clock: phases advance 2π per Period seconds, one per
// offset; phase_sin/phase_cos expose them. With StandThreshold > 0, a
// velocity command below it holds every phase at π, and moving again
// restarts from Offsets (holosoma's convention).
type PhaseSpec struct {
	Period         float64
	Offsets        []float64
	StandThreshold float64
}

// RecurrentSpec describes recurrent state carried between steps (K-Scale
// kinfer style): the carry output of one step is the carry input of the next;
// the first carry comes from an init graph (a model with no inputs) or is zero.
type RecurrentSpec struct {
	InitModel string // path to the init graph (relative to Spec.Dir), optional
	Input     string // model input that receives the carry
	Output    string // model output that produces the next carry
}

// NormSpec says where LeRobot statistics come from and which modes apply.
type NormSpec struct {
	Stats  string // stats.json path (relative to Spec.Dir)
	State  string // mode for state terms (default mean_std)
	Action string // mode for the action (default mean_std)
	Images string // mode for image terms (default mean_std)
}

// FrameDim is the number of values one frame of the input carries.
func (in *InputSpec) FrameDim(s *Spec) int {
	n := 0
	for i := range in.Terms {
		n += in.Terms[i].Dim(s)
	}
	return n
}

// Dim is the number of values the term contributes to one frame.
func (t *TermSpec) Dim(s *Spec) int {
	switch t.Kind {
	case TermJointPos, TermJointPosRel, TermJointVel, TermState:
		if t.Joints != nil {
			return len(t.Joints)
		}
		return len(s.Joints)
	case TermLastAction:
		return len(s.ActionJoints())
	case TermProjectedGravity, TermGyro:
		return 3
	case TermCommand:
		return len(t.Components)
	case TermPhaseSin, TermPhaseCos:
		if s.Phase == nil {
			return 0
		}
		return len(s.Phase.Offsets)
	case TermImage:
		return 3 * t.Width * t.Height
	case TermConstant:
		return len(t.Value)
	}
	return 0
}

// ActionJoints are the joints the action drives, in output order.
func (s *Spec) ActionJoints() []string {
	if s.Action.Joints != nil {
		return s.Action.Joints
	}
	return s.Joints
}

// Command returns the index of the command called name, or -1.
func (s *Spec) Command(name string) int {
	for i, c := range s.Commands {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// MaxCommands is how many operator commands a spec may define.
const MaxCommands = 16

// ErrSpec is wrapped by every spec error, for errors.Is.
var ErrSpec = errors.New("policy: invalid spec")

// SpecError is a problem in a spec, located by file, line and field:
// Error() reads "policy: file:line: field: message".
type SpecError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

// Error formats the problem.
func (e *SpecError) Error() string {
	var b strings.Builder
	b.WriteString("policy: ")
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap makes errors.Is(err, ErrSpec) hold.
func (e *SpecError) Unwrap() error { return ErrSpec }

// floats is a YAML number or list of numbers.
type floats []float64

// UnmarshalYAML accepts 0.25 or [0.25, 0.5].
func (f *floats) UnmarshalYAML(b []byte) error {
	var x float64
	if err := yaml.Unmarshal(b, &x); err == nil {
		*f = floats{x}
		return nil
	}
	var xs []float64
	if err := yaml.Unmarshal(b, &xs); err != nil {
		return errors.New("want a number or a list of numbers")
	}
	*f = xs
	return nil
}

// numberList is a list whose items may be numbers or "pi"-style expressions
// (pi, -pi, pi/2, 2*pi).
type numberList []float64

// UnmarshalYAML accepts numbers and simple multiples of pi.
func (n *numberList) UnmarshalYAML(b []byte) error {
	var raw []string
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return errors.New("want a list of numbers")
	}
	out := make([]float64, len(raw))
	for i, s := range raw {
		v, err := parseNumber(s)
		if err != nil {
			return err
		}
		out[i] = v
	}
	*n = out
	return nil
}

func parseNumber(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		return v, nil
	}
	l := strings.ToLower(strings.ReplaceAll(s, " ", ""))
	sign := 1.0
	if strings.HasPrefix(l, "-") {
		sign, l = -1, l[1:]
	}
	mul, div := 1.0, 1.0
	if i := strings.Index(l, "*pi"); i > 0 {
		m, err := strconv.ParseFloat(l[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number", s)
		}
		mul, l = m, "pi"+l[i+3:]
	}
	if !strings.HasPrefix(l, "pi") {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	l = l[2:]
	if strings.HasPrefix(l, "/") {
		d, err := strconv.ParseFloat(l[1:], 64)
		if err != nil || d == 0 {
			return 0, fmt.Errorf("%q is not a number", s)
		}
		div, l = d, ""
	}
	if l != "" {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return sign * mul * math.Pi / div, nil
}

// The YAML shape of a spec.
type fileSpec struct {
	Format        string        `yaml:"format"`
	Name          string        `yaml:"name"`
	Rate          float64       `yaml:"rate"`
	Joints        []string      `yaml:"joints"`
	Defaults      numberList    `yaml:"default_joint_pos"`
	Kp            []float64     `yaml:"kp"`
	Kd            []float64     `yaml:"kd"`
	Commands      []fileCommand `yaml:"commands"`
	Inputs        []fileInput   `yaml:"inputs"`
	Action        fileAction    `yaml:"action"`
	Phase         *filePhase    `yaml:"phase"`
	Recurrent     *fileRecur    `yaml:"recurrent"`
	Normalization *fileNorm     `yaml:"normalization"`
}

type fileCommand struct {
	Name    string    `yaml:"name"`
	Range   []float64 `yaml:"range"`
	Default float64   `yaml:"default"`
}

type fileInput struct {
	Name    string     `yaml:"name"`
	History int        `yaml:"history"`
	Layout  string     `yaml:"layout"`
	Fill    string     `yaml:"fill"`
	Terms   []fileTerm `yaml:"terms"`
}

type fileTerm struct {
	Kind       string    `yaml:"kind"`
	Name       string    `yaml:"name"`
	Scale      floats    `yaml:"scale"`
	Clip       []float64 `yaml:"clip"`
	Joints     []string  `yaml:"joints"`
	Components []string  `yaml:"components"`
	Camera     string    `yaml:"camera"`
	Width      int       `yaml:"width"`
	Height     int       `yaml:"height"`
	Value      floats    `yaml:"value"`
	Normalize  string    `yaml:"normalize"`
	Stats      string    `yaml:"stats_key"`
}

type fileAction struct {
	Output    string    `yaml:"output"`
	Joints    []string  `yaml:"joints"`
	Scale     floats    `yaml:"scale"`
	Offset    offset    `yaml:"offset"`
	Clip      []float64 `yaml:"clip"`
	Normalize string    `yaml:"normalize"`
	Stats     string    `yaml:"stats_key"`
	Chunk     fileChunk `yaml:"chunk"`
}

type fileChunk struct {
	Size             int      `yaml:"size"`
	Aggregation      string   `yaml:"aggregation"`
	Weight           *float64 `yaml:"weight"`
	EnsembleCoeff    *float64 `yaml:"ensemble_coeff"`
	RequestThreshold *float64 `yaml:"request_threshold"`
	Interpolate      bool     `yaml:"interpolate"`
}

type filePhase struct {
	Period         float64    `yaml:"period"`
	Offsets        numberList `yaml:"offsets"`
	StandThreshold float64    `yaml:"stand_threshold"`
}

type fileRecur struct {
	InitModel string `yaml:"init_model"`
	Input     string `yaml:"input"`
	Output    string `yaml:"output"`
}

type fileNorm struct {
	Stats  string `yaml:"stats"`
	State  string `yaml:"state"`
	Action string `yaml:"action"`
	Images string `yaml:"images"`
}

// offset is "default", "none", or a list of numbers.
type offset struct {
	mode   string
	values []float64
}

// UnmarshalYAML accepts default, none, or a list.
func (o *offset) UnmarshalYAML(b []byte) error {
	var s string
	if err := yaml.Unmarshal(b, &s); err == nil {
		if _, err := parseNumber(s); err != nil {
			o.mode = s // checked with the rest of the spec
			return nil
		}
	}
	var xs numberList
	if err := xs.UnmarshalYAML(b); err != nil {
		return errors.New(`want "default", "none" or a list of numbers`)
	}
	o.mode, o.values = "values", xs
	return nil
}

// SpecFormat is the value of a spec file's optional format: field.
const SpecFormat = "anther.policy/v1"

// ParseSpec decodes and checks a policy spec. file names the source in
// errors and dir is where relative paths are resolved. It reads anther's own
// format and, recognised by their keys, Berkeley Humanoid Lite deployment
// configs (policy_dt, num_observations, joints, ...), which it converts with
// that project's documented observation layout.
func ParseSpec(file, dir string, data []byte) (s *Spec, err error) {
	// The YAML library panics on some malformed documents (found by
	// FuzzParseSpec): report those as errors.
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, &SpecError{File: file, Msg: fmt.Sprintf("malformed YAML (%v)", r)}
		}
	}()
	return parseSpec(file, dir, data)
}

func parseSpec(file, dir string, data []byte) (*Spec, error) {
	if bytes.Contains(data, []byte("policy_dt")) && bytes.Contains(data, []byte("num_observations")) {
		var probe map[string]any
		if err := yaml.Unmarshal(data, &probe); err == nil {
			if _, ok := probe["policy_dt"]; ok {
				return parseBHL(file, dir, data)
			}
		}
	}
	astFile, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, specYAMLError(file, err)
	}
	var fs fileSpec
	if err := yaml.NewDecoder(bytes.NewReader(data), yaml.DisallowUnknownField()).Decode(&fs); err != nil {
		return nil, specYAMLError(file, err)
	}
	v := &specChecker{file: file, ast: astFile}
	s := v.convert(&fs)
	if v.err != nil {
		return nil, v.err
	}
	s.Source, s.Dir = file, dir
	if err := s.check(v); err != nil {
		return nil, err
	}
	return s, nil
}

func specYAMLError(file string, err error) error {
	if line, field, msg, ok := robot.YAMLErrorPos(err); ok {
		return &SpecError{File: file, Line: line, Field: field, Msg: msg}
	}
	return &SpecError{File: file, Msg: err.Error()}
}

// specChecker keeps the first error, located by field path when the YAML
// source is known.
type specChecker struct {
	file string
	ast  *ast.File
	err  error
}

func (v *specChecker) fail(field, format string, args ...any) {
	if v.err != nil {
		return
	}
	v.err = &SpecError{File: v.file, Line: v.line(field), Field: field, Msg: fmt.Sprintf(format, args...)}
}

func (v *specChecker) line(field string) int { return robot.YAMLLine(v.ast, field) }

func (v *specChecker) convert(fs *fileSpec) *Spec {
	if fs.Format != "" && fs.Format != SpecFormat {
		v.fail("format", "unknown format %q (this anther reads %s)", fs.Format, SpecFormat)
	}
	s := &Spec{Name: fs.Name, Rate: fs.Rate, Joints: fs.Joints, Defaults: fs.Defaults, Kp: fs.Kp, Kd: fs.Kd}
	for i, c := range fs.Commands {
		cs := CommandSpec{Name: c.Name, Default: c.Default}
		switch len(c.Range) {
		case 0:
		case 2:
			cs.Min, cs.Max = c.Range[0], c.Range[1]
		default:
			v.fail(fmt.Sprintf("commands[%d].range", i), "want [min, max]")
		}
		s.Commands = append(s.Commands, cs)
	}
	for _, in := range fs.Inputs {
		is := InputSpec{Name: in.Name, History: in.History, Layout: in.Layout, Fill: in.Fill}
		for _, t := range in.Terms {
			is.Terms = append(is.Terms, TermSpec{Kind: t.Kind, Name: t.Name, Scale: t.Scale, Clip: t.Clip,
				Joints: t.Joints, Components: t.Components, Camera: t.Camera, Width: t.Width, Height: t.Height,
				Value: t.Value, Normalize: t.Normalize, StatsKey: t.Stats})
		}
		s.Inputs = append(s.Inputs, is)
	}
	a := fs.Action
	s.Action = ActionSpec{Output: a.Output, Joints: a.Joints, Scale: a.Scale, Offset: a.Offset.mode,
		Offsets: a.Offset.values, Clip: a.Clip, Normalize: a.Normalize, StatsKey: a.Stats,
		Chunk: ChunkSpec{Size: a.Chunk.Size, Aggregation: a.Chunk.Aggregation, Interpolate: a.Chunk.Interpolate}}
	c := &s.Action.Chunk
	c.Weight, c.EnsembleCoeff, c.RequestThreshold = -1, -1, -1
	if a.Chunk.Weight != nil {
		c.Weight = *a.Chunk.Weight
	}
	if a.Chunk.EnsembleCoeff != nil {
		c.EnsembleCoeff = *a.Chunk.EnsembleCoeff
	}
	if a.Chunk.RequestThreshold != nil {
		c.RequestThreshold = *a.Chunk.RequestThreshold
	}
	if fs.Phase != nil {
		s.Phase = &PhaseSpec{Period: fs.Phase.Period, Offsets: fs.Phase.Offsets, StandThreshold: fs.Phase.StandThreshold}
	}
	if fs.Recurrent != nil {
		s.Recurrent = &RecurrentSpec{InitModel: fs.Recurrent.InitModel, Input: fs.Recurrent.Input, Output: fs.Recurrent.Output}
	}
	if fs.Normalization != nil {
		s.Normalization = &NormSpec{Stats: fs.Normalization.Stats, State: fs.Normalization.State,
			Action: fs.Normalization.Action, Images: fs.Normalization.Images}
	}
	return s
}

// Normalization modes (LeRobot's NormalizationMode).
var normModes = []string{"identity", "mean_std", "min_max", "quantiles", "quantile10"}

// Check validates a spec built in code (specs from ParseSpec are checked
// already) and fills its defaults.
func (s *Spec) Check() error {
	return s.check(&specChecker{file: s.Source})
}

// check validates the spec and fills defaults. It returns the first problem.
func (s *Spec) check(v *specChecker) error {
	if s.Name == "" {
		s.Name = strings.TrimSuffix(s.Source, ".yaml")
	}
	if !(s.Rate > 0 && s.Rate <= 1000) {
		v.fail("rate", "policy rate %g Hz is outside (0, 1000]", s.Rate)
	}
	if len(s.Joints) == 0 {
		v.fail("joints", "the policy names no joints")
	}
	seen := map[string]bool{}
	for i, j := range s.Joints {
		if j == "" || seen[j] {
			v.fail(fmt.Sprintf("joints[%d]", i), "empty or duplicate joint name %q", j)
		}
		seen[j] = true
	}
	inJoints := func(field string, js []string) {
		for i, j := range js {
			if !seen[j] {
				v.fail(fmt.Sprintf("%s[%d]", field, i), "joint %q is not in the policy's joints", j)
			}
		}
	}
	if s.Defaults != nil && len(s.Defaults) != len(s.Joints) {
		v.fail("default_joint_pos", "%d values for %d joints", len(s.Defaults), len(s.Joints))
	}
	if s.Kp != nil && len(s.Kp) != len(s.Joints) {
		v.fail("kp", "%d values for %d joints", len(s.Kp), len(s.Joints))
	}
	if s.Kd != nil && len(s.Kd) != len(s.Joints) {
		v.fail("kd", "%d values for %d joints", len(s.Kd), len(s.Joints))
	}
	if len(s.Commands) > MaxCommands {
		v.fail("commands", "%d commands; at most %d", len(s.Commands), MaxCommands)
	}
	cmds := map[string]bool{}
	for i, c := range s.Commands {
		if c.Name == "" || cmds[c.Name] {
			v.fail(fmt.Sprintf("commands[%d].name", i), "empty or duplicate command %q", c.Name)
		}
		cmds[c.Name] = true
		if c.Min > c.Max {
			v.fail(fmt.Sprintf("commands[%d].range", i), "min %g is above max %g", c.Min, c.Max)
		}
	}
	if s.Phase != nil {
		p := s.Phase
		if !(p.Period > 0) {
			v.fail("phase.period", "gait period must be positive")
		}
		if len(p.Offsets) == 0 {
			p.Offsets = []float64{0}
		}
	}
	aj := s.ActionJoints()
	inJoints("action.joints", s.Action.Joints)
	if len(s.Inputs) == 0 {
		v.fail("inputs", "the policy has no inputs")
	}
	inputNames := map[string]bool{}
	for i := range s.Inputs {
		in := &s.Inputs[i]
		f := fmt.Sprintf("inputs[%d]", i)
		if inputNames[in.Name] {
			v.fail(f+".name", "duplicate input %q", in.Name)
		}
		inputNames[in.Name] = true
		if in.History == 0 {
			in.History = 1
		}
		if in.History < 1 || in.History > 1000 {
			v.fail(f+".history", "history %d is outside 1..1000", in.History)
		}
		switch in.Layout {
		case "":
			in.Layout = LayoutTerm
		case LayoutTerm, LayoutFrame:
		default:
			v.fail(f+".layout", "unknown layout %q (use term or frame)", in.Layout)
		}
		switch in.Fill {
		case "":
			in.Fill = "zeros"
		case "zeros", "first":
		default:
			v.fail(f+".fill", "unknown fill %q (use zeros or first)", in.Fill)
		}
		if len(in.Terms) == 0 {
			v.fail(f+".terms", "input %q has no terms", in.Name)
		}
		for k := range in.Terms {
			t := &in.Terms[k]
			tf := fmt.Sprintf("%s.terms[%d]", f, k)
			if !slices.Contains(termKinds, t.Kind) {
				v.fail(tf+".kind", "unknown term %q (use one of %s)", t.Kind, strings.Join(termKinds, ", "))
				continue
			}
			if t.Name == "" {
				t.Name = t.Kind
			}
			inJoints(tf+".joints", t.Joints)
			switch t.Kind {
			case TermCommand:
				if len(t.Components) == 0 {
					v.fail(tf+".components", "a command term names the commands it carries")
				}
				for c, name := range t.Components {
					if !cmds[name] {
						v.fail(fmt.Sprintf("%s.components[%d]", tf, c), "command %q is not in commands:", name)
					}
				}
			case TermPhaseSin, TermPhaseCos:
				if s.Phase == nil {
					v.fail(tf+".kind", "%s needs a phase: section", t.Kind)
				}
			case TermImage:
				if t.Camera == "" {
					v.fail(tf+".camera", "an image term names its camera")
				}
				if t.Width <= 0 || t.Height <= 0 || t.Width > 4096 || t.Height > 4096 {
					v.fail(tf+".width", "image size %dx%d is not in 1..4096", t.Width, t.Height)
				}
				if t.StatsKey == "" {
					t.StatsKey = "observation.images." + t.Camera
				}
			case TermState:
				if t.StatsKey == "" {
					t.StatsKey = "observation.state"
				}
			case TermConstant:
				if len(t.Value) == 0 {
					v.fail(tf+".value", "a constant term needs values")
				}
			case TermLastAction:
				if len(aj) == 0 {
					v.fail(tf, "last_action needs action joints")
				}
			}
			if t.Normalize != "" && !slices.Contains(normModes, t.Normalize) {
				v.fail(tf+".normalize", "unknown mode %q (use one of %s)", t.Normalize, strings.Join(normModes, ", "))
			}
			dim := t.Dim(s)
			if len(t.Scale) > 1 && len(t.Scale) != dim {
				v.fail(tf+".scale", "%d scales for %d values", len(t.Scale), dim)
			}
			if t.Clip != nil && (len(t.Clip) != 2 || t.Clip[0] > t.Clip[1]) {
				v.fail(tf+".clip", "want [lo, hi] with lo ≤ hi")
			}
		}
	}
	a := &s.Action
	if len(a.Scale) > 1 && len(a.Scale) != len(aj) {
		v.fail("action.scale", "%d scales for %d action joints", len(a.Scale), len(aj))
	}
	switch a.Offset {
	case "":
		a.Offset = "none"
	case "default", "none":
	case "values":
		if len(a.Offsets) != len(aj) {
			v.fail("action.offset", "%d offsets for %d action joints", len(a.Offsets), len(aj))
		}
	default:
		v.fail("action.offset", `unknown offset %q (use "default", "none" or a list of numbers)`, a.Offset)
	}
	if a.Clip != nil && (len(a.Clip) != 2 || a.Clip[0] > a.Clip[1]) {
		v.fail("action.clip", "want [lo, hi] with lo ≤ hi")
	}
	if a.Normalize != "" && !slices.Contains(normModes, a.Normalize) {
		v.fail("action.normalize", "unknown mode %q (use one of %s)", a.Normalize, strings.Join(normModes, ", "))
	}
	if a.StatsKey == "" {
		a.StatsKey = "action"
	}
	c := &a.Chunk
	switch c.Aggregation {
	case "":
		c.Aggregation = AggLatest
	case AggLatest, AggWeighted, AggEnsemble:
	default:
		v.fail("action.chunk.aggregation", "unknown aggregation %q (use latest, weighted or ensemble)", c.Aggregation)
	}
	if c.Size < 0 || c.Size > 10000 {
		v.fail("action.chunk.size", "chunk size %d is outside 0..10000", c.Size)
	}
	if c.Weight < 0 {
		c.Weight = 0.7
	}
	if c.Weight > 1 {
		v.fail("action.chunk.weight", "weight %g is outside [0, 1]", c.Weight)
	}
	if c.EnsembleCoeff < 0 {
		c.EnsembleCoeff = 0.01
	}
	if c.RequestThreshold < 0 {
		c.RequestThreshold = 0.5
		if c.Aggregation == AggEnsemble {
			c.RequestThreshold = 1
		}
	}
	if c.RequestThreshold > 1 {
		v.fail("action.chunk.request_threshold", "threshold %g is outside [0, 1]", c.RequestThreshold)
	}
	if r := s.Recurrent; r != nil {
		if r.Input == "" || r.Output == "" {
			v.fail("recurrent", "a recurrent policy names its carry input and output")
		}
		if inputNames[r.Input] {
			v.fail("recurrent.input", "carry input %q is also built from terms", r.Input)
		}
	}
	if n := s.Normalization; n != nil {
		for _, m := range []struct{ field, mode string }{{"state", n.State}, {"action", n.Action}, {"images", n.Images}} {
			if m.mode != "" && !slices.Contains(normModes, m.mode) {
				v.fail("normalization."+m.field, "unknown mode %q (use one of %s)", m.mode, strings.Join(normModes, ", "))
			}
		}
		if n.State == "" {
			n.State = "mean_std"
		}
		if n.Action == "" {
			n.Action = "mean_std"
		}
		if n.Images == "" {
			n.Images = "mean_std"
		}
	}
	return v.err
}

// Describe lists where each term sits in each input, e.g.
// "actor_obs: actions 0:29, base_ang_vel 29:32, ... (100 values)". With
// history, term layout gives each term's whole history span; frame layout
// gives positions within one frame.
func (s *Spec) Describe() []string {
	var out []string
	for i := range s.Inputs {
		in := &s.Inputs[i]
		var parts []string
		o := 0
		for k := range in.Terms {
			t := &in.Terms[k]
			n := t.Dim(s)
			if in.Layout == LayoutTerm {
				n *= in.History
			}
			parts = append(parts, fmt.Sprintf("%s %d:%d", t.Name, o, o+n))
			o += n
		}
		total := in.FrameDim(s) * in.History
		h := ""
		if in.History > 1 {
			h = fmt.Sprintf(", history %d (%s layout, oldest first, starts with %s)", in.History, in.Layout, in.Fill)
		}
		name := in.Name
		if name == "" {
			name = "(the model's input)"
		}
		out = append(out, fmt.Sprintf("%s: %s (%d values%s)", name, strings.Join(parts, ", "), total, h))
	}
	return out
}
