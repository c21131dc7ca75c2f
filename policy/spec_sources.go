package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/goccy/go-yaml"

	"github.com/anther-robotics/anther/policy/onnx"
)

// MetaSpecKey is the metadata_props key under which a model may carry a
// complete anther spec (YAML).
const MetaSpecKey = "anther.policy"

// LoadSpec finds a model's spec, first match wins:
//  1. specPath, if given (anther's format or a Berkeley Humanoid Lite config);
//  2. a complete spec in the model's metadata_props[MetaSpecKey];
//  3. a sidecar next to the model: the model's path with .yaml for .onnx;
//  4. holosoma-style metadata (dof_names, kp, kd, command_ranges), read with
//     holosoma's locomotion layout (HolosomaSpec).
//
// Fields a spec leaves out but the metadata has (kp, kd, default_joint_pos)
// are taken from the metadata.
func LoadSpec(modelPath, specPath string, m *onnx.Model) (*Spec, error) {
	meta := m.MetaMap()
	var (
		s   *Spec
		err error
	)
	sidecar := strings.TrimSuffix(modelPath, filepath.Ext(modelPath)) + ".yaml"
	switch {
	case specPath != "":
		s, err = ReadSpec(specPath)
	case meta[MetaSpecKey] != "":
		s, err = ParseSpec(filepath.Base(modelPath)+":metadata["+MetaSpecKey+"]", filepath.Dir(modelPath), []byte(meta[MetaSpecKey]))
	case fileExists(sidecar):
		s, err = ReadSpec(sidecar)
	case meta["dof_names"] != "":
		s, err = HolosomaSpec(filepath.Base(modelPath), meta, firstOutput(m))
		if s != nil {
			s.Dir = filepath.Dir(modelPath)
		}
	default:
		return nil, fmt.Errorf("policy: %s carries no policy spec (no %s or dof_names in its metadata_props, keys: %v) and has no sidecar %s: pass a spec file",
			modelPath, MetaSpecKey, m.MetaKeys(), filepath.Base(sidecar))
	}
	if err != nil {
		return nil, err
	}
	if err := s.fillFromMetadata(meta); err != nil {
		return nil, fmt.Errorf("policy: %s: %w", modelPath, err)
	}
	return s, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

func firstOutput(m *onnx.Model) string {
	if len(m.Graph.Outputs) > 0 {
		return m.Graph.Outputs[0].Name
	}
	return ""
}

// ReadSpec reads a spec file.
func ReadSpec(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("policy: spec %s: no such file", path)
		}
		return nil, fmt.Errorf("policy: spec %s: %w", path, err)
	}
	return ParseSpec(filepath.Base(path), filepath.Dir(path), data)
}

// fillFromMetadata completes kp, kd and defaults from JSON number lists in the
// metadata (keys kp, kd, default_joint_pos or default_dof_angles), and checks
// that a dof_names list, if present, matches the spec's joints.
func (s *Spec) fillFromMetadata(meta map[string]string) error {
	list := func(key string) ([]float64, error) {
		raw, ok := meta[key]
		if !ok {
			return nil, nil
		}
		var v []float64
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			return nil, fmt.Errorf("metadata %q is not a JSON list of numbers: %w", key, err)
		}
		if len(v) != len(s.Joints) {
			return nil, fmt.Errorf("metadata %q has %d values for %d joints", key, len(v), len(s.Joints))
		}
		return v, nil
	}
	if raw, ok := meta["dof_names"]; ok {
		var names []string
		if err := json.Unmarshal([]byte(raw), &names); err != nil {
			return fmt.Errorf("metadata dof_names is not a JSON list of strings: %w", err)
		}
		if strings.Join(names, ",") != strings.Join(s.Joints, ",") {
			return fmt.Errorf("metadata dof_names %v differ from the spec's joints %v", names, s.Joints)
		}
	}
	var err error
	if s.Kp == nil {
		if s.Kp, err = list("kp"); err != nil {
			return err
		}
	}
	if s.Kd == nil {
		if s.Kd, err = list("kd"); err != nil {
			return err
		}
	}
	if s.Defaults == nil {
		for _, k := range []string{"default_joint_pos", "default_dof_angles"} {
			if s.Defaults, err = list(k); err != nil || s.Defaults != nil {
				return err
			}
		}
	}
	return nil
}

// HolosomaSpec builds the spec of a holosoma locomotion policy from its
// metadata_props: dof_names (the joints), kp, kd, command_ranges, and
// holosoma's conventions for the rest (holosoma_inference, g1-29dof-loco):
// one input, actor_obs, whose terms are sorted by name —
//
//	actions | base_ang_vel·0.25 | command_ang_vel | command_lin_vel | cos_phase |
//	dof_pos−default | dof_vel·0.05 | projected_gravity | sin_phase
//
// with no history; raw actions clipped to ±100; target = 0.25·a + default;
// 50 Hz; two gait phases (0, π) advancing 2π per second, held at π while the
// velocity command is below 0.01. Default joint positions come from the
// metadata when present, else from the robot's home pose at bind time.
func HolosomaSpec(name string, meta map[string]string, output string) (*Spec, error) {
	var joints []string
	if err := json.Unmarshal([]byte(meta["dof_names"]), &joints); err != nil {
		return nil, fmt.Errorf("policy: %s: metadata dof_names is not a JSON list of strings: %w", name, err)
	}
	s := &Spec{Name: strings.TrimSuffix(name, filepath.Ext(name)), Source: name + ":metadata[dof_names]", Rate: 50, Joints: joints}
	s.Commands = []CommandSpec{{Name: "lin_vel_x", Min: -1, Max: 1}, {Name: "lin_vel_y", Min: -1, Max: 1}, {Name: "ang_vel_yaw", Min: -1, Max: 1}}
	if raw := meta["command_ranges"]; raw != "" {
		var ranges map[string][]float64
		if err := json.Unmarshal([]byte(raw), &ranges); err != nil {
			return nil, fmt.Errorf("policy: %s: metadata command_ranges is not a JSON object of [min, max]: %w", name, err)
		}
		keys := make([]string, 0, len(ranges))
		for k := range ranges {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			r := ranges[k]
			if len(r) != 2 {
				return nil, fmt.Errorf("policy: %s: command_ranges[%q] is not [min, max]", name, k)
			}
			if i := s.Command(k); i >= 0 {
				s.Commands[i].Min, s.Commands[i].Max = r[0], r[1]
			} else {
				s.Commands = append(s.Commands, CommandSpec{Name: k, Min: r[0], Max: r[1]})
			}
		}
	}
	s.Phase = &PhaseSpec{Period: 1, Offsets: []float64{0, math.Pi}, StandThreshold: 0.01}
	s.Inputs = []InputSpec{{Name: "actor_obs", History: 1, Layout: LayoutTerm, Fill: "zeros", Terms: []TermSpec{
		{Kind: TermLastAction, Name: "actions"},
		{Kind: TermGyro, Name: "base_ang_vel", Scale: []float64{0.25}},
		{Kind: TermCommand, Name: "command_ang_vel", Components: []string{"ang_vel_yaw"}},
		{Kind: TermCommand, Name: "command_lin_vel", Components: []string{"lin_vel_x", "lin_vel_y"}},
		{Kind: TermPhaseCos, Name: "cos_phase"},
		{Kind: TermJointPosRel, Name: "dof_pos"},
		{Kind: TermJointVel, Name: "dof_vel", Scale: []float64{0.05}},
		{Kind: TermProjectedGravity, Name: "projected_gravity"},
		{Kind: TermPhaseSin, Name: "sin_phase"},
	}}}
	s.Action = ActionSpec{Output: output, Scale: []float64{0.25}, Offset: "default", Clip: []float64{-100, 100},
		Chunk: ChunkSpec{Weight: -1, EnsembleCoeff: -1, RequestThreshold: -1}}
	if err := s.check(&specChecker{file: s.Source}); err != nil {
		return nil, err
	}
	return s, nil
}

// bhlConfig is a Berkeley Humanoid Lite deployment config (configs/policy_*.yaml).
type bhlConfig struct {
	ControlDT       float64   `yaml:"control_dt"`
	PolicyDT        float64   `yaml:"policy_dt"`
	NumJoints       int       `yaml:"num_joints"`
	Joints          []string  `yaml:"joints"`
	JointKp         []float64 `yaml:"joint_kp"`
	JointKd         []float64 `yaml:"joint_kd"`
	Defaults        []float64 `yaml:"default_joint_positions"`
	NumObservations int       `yaml:"num_observations"`
	HistoryLength   int       `yaml:"history_length"`
	NumActions      int       `yaml:"num_actions"`
	ActionScale     float64   `yaml:"action_scale"`
	ActionLower     float64   `yaml:"action_limit_lower"`
	ActionUpper     float64   `yaml:"action_limit_upper"`
}

// parseBHL converts a Berkeley Humanoid Lite config with that project's
// layout (Berkeley-Humanoid-Lite-Lowlevel, policy/rl_controller.py):
//
//	[cmd_vel(vx, vy, wz) 3 | base_ang_vel 3 | projected_gravity 3 |
//	 joint_pos−default N | joint_vel N | prev_actions N]
//
// stacked over history_length+1 whole frames (oldest first, zeros at start);
// raw actions clipped to [action_limit_lower, action_limit_upper];
// target = action_scale·a + default; rate 1/policy_dt. N is num_actions; when
// it is below num_joints the actions drive the last N joints.
func parseBHL(file, dir string, data []byte) (*Spec, error) {
	var c bhlConfig
	if err := yaml.Unmarshal(data, &c); err != nil {
		return nil, specYAMLError(file, err)
	}
	v := &specChecker{file: file}
	if !(c.PolicyDT > 0) {
		return nil, &SpecError{File: file, Field: "policy_dt", Msg: "must be positive"}
	}
	if c.NumActions <= 0 || c.NumActions > len(c.Joints) {
		return nil, &SpecError{File: file, Field: "num_actions", Msg: fmt.Sprintf("%d actions for %d joints", c.NumActions, len(c.Joints))}
	}
	if c.NumJoints != 0 && c.NumJoints != len(c.Joints) {
		return nil, &SpecError{File: file, Field: "num_joints", Msg: fmt.Sprintf("says %d but joints lists %d", c.NumJoints, len(c.Joints))}
	}
	if len(c.Defaults) != len(c.Joints) {
		return nil, &SpecError{File: file, Field: "default_joint_positions", Msg: fmt.Sprintf("%d values for %d joints", len(c.Defaults), len(c.Joints))}
	}
	if c.HistoryLength < 0 {
		return nil, &SpecError{File: file, Field: "history_length", Msg: "must not be negative"}
	}
	act := c.Joints[len(c.Joints)-c.NumActions:]
	s := &Spec{Name: strings.TrimSuffix(file, filepath.Ext(file)), Source: file, Dir: dir, Rate: 1 / c.PolicyDT,
		Joints: c.Joints, Defaults: c.Defaults}
	if len(c.JointKp) == len(c.Joints) {
		s.Kp = c.JointKp
	}
	if len(c.JointKd) == len(c.Joints) {
		s.Kd = c.JointKd
	}
	s.Commands = []CommandSpec{{Name: "lin_vel_x"}, {Name: "lin_vel_y"}, {Name: "ang_vel_yaw"}}
	s.Inputs = []InputSpec{{History: c.HistoryLength + 1, Layout: LayoutFrame, Fill: "zeros", Terms: []TermSpec{
		{Kind: TermCommand, Name: "cmd_vel", Components: []string{"lin_vel_x", "lin_vel_y", "ang_vel_yaw"}},
		{Kind: TermGyro, Name: "base_ang_vel"},
		{Kind: TermProjectedGravity},
		{Kind: TermJointPosRel, Joints: act},
		{Kind: TermJointVel, Joints: act},
		{Kind: TermLastAction, Name: "prev_actions"},
	}}}
	s.Action = ActionSpec{Joints: act, Scale: []float64{c.ActionScale}, Offset: "default",
		Clip: []float64{c.ActionLower, c.ActionUpper}, Chunk: ChunkSpec{Weight: -1, EnsembleCoeff: -1, RequestThreshold: -1}}
	if c.ActionScale == 0 {
		s.Action.Scale = nil
	}
	if c.ActionLower == 0 && c.ActionUpper == 0 {
		s.Action.Clip = nil
	}
	if err := s.check(v); err != nil {
		return nil, err
	}
	if got := s.Inputs[0].FrameDim(s); c.NumObservations != 0 && got != c.NumObservations {
		return nil, &SpecError{File: file, Field: "num_observations",
			Msg: fmt.Sprintf("says %d but the Berkeley Humanoid Lite layout gives %d for %d actions", c.NumObservations, got, c.NumActions)}
	}
	return s, nil
}
