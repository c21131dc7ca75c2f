package policy_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anther-robotics/anther/policy"
	"github.com/anther-robotics/anther/policy/onnx"
)

const goodSpec = `format: anther.policy/v1
name: walker
rate: 50
joints: [a, b, c]
default_joint_pos: [0.1, -0.2, pi/2]
commands:
  - {name: lin_vel_x, range: [-1, 1]}
  - {name: ang_vel_yaw, range: [-2, 2], default: 0.5}
phase: {period: 0.8, offsets: [0, pi], stand_threshold: 0.05}
inputs:
  - name: obs
    history: 3
    layout: term
    fill: first
    terms:
      - {kind: gyro, scale: 0.25}
      - {kind: projected_gravity}
      - {kind: command, components: [lin_vel_x, ang_vel_yaw]}
      - {kind: joint_pos_rel}
      - {kind: joint_vel, scale: [0.05, 0.05, 0.1], clip: [-5, 5]}
      - {kind: last_action}
      - {kind: phase_sin}
      - {kind: phase_cos}
action:
  output: act
  scale: 0.5
  offset: default
  clip: [-10, 10]
`

func TestParseSpec(t *testing.T) {
	s, err := policy.ParseSpec("walker.yaml", "/x", []byte(goodSpec))
	if err != nil {
		t.Fatal(err)
	}
	if s.Rate != 50 || len(s.Joints) != 3 || math.Abs(s.Defaults[2]-math.Pi/2) > 1e-15 || s.Phase.Offsets[1] != math.Pi {
		t.Fatalf("%+v", s)
	}
	in := s.Inputs[0]
	if got := in.FrameDim(s); got != 3+3+2+3+3+3+2+2 {
		t.Fatalf("frame dim %d", got)
	}
	if s.Action.Chunk.Aggregation != policy.AggLatest || s.Action.Chunk.Weight != 0.7 || s.Action.Chunk.RequestThreshold != 0.5 {
		t.Fatalf("chunk defaults %+v", s.Action.Chunk)
	}
	desc := s.Describe()
	if len(desc) != 1 || !strings.Contains(desc[0], "gyro 0:9") || !strings.Contains(desc[0], "(63 values, history 3 (term layout") {
		t.Fatalf("describe: %q", desc)
	}
}

func TestParseSpecErrors(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown field", "rate: 50\njoints: [a]\nbogus: 1\n", "x.yaml:3: bogus: unknown field"},
		{"unknown term", "rate: 50\njoints: [a]\ninputs:\n  - terms:\n      - {kind: joint_pos}\n      - {kind: joint_torque}\n",
			`x.yaml:6: inputs[0].terms[1].kind: unknown term "joint_torque"`},
		{"rate", "rate: 0\njoints: [a]\ninputs: [{terms: [{kind: joint_pos}]}]\n", "rate: policy rate 0 Hz"},
		{"no joints", "rate: 50\ninputs: [{terms: [{kind: joint_pos}]}]\n", "joints: the policy names no joints"},
		{"dup joint", "rate: 50\njoints: [a, a]\ninputs: [{terms: [{kind: joint_pos}]}]\n", `duplicate joint name "a"`},
		{"unknown command", "rate: 50\njoints: [a]\ninputs: [{terms: [{kind: command, components: [jump]}]}]\n", `command "jump" is not in commands`},
		{"phase missing", "rate: 50\njoints: [a]\ninputs: [{terms: [{kind: phase_sin}]}]\n", "phase_sin needs a phase: section"},
		{"scale count", "rate: 50\njoints: [a, b]\ninputs: [{terms: [{kind: joint_pos, scale: [1, 2, 3]}]}]\n", "3 scales for 2 values"},
		{"defaults count", "rate: 50\njoints: [a, b]\ndefault_joint_pos: [1]\ninputs: [{terms: [{kind: joint_pos}]}]\n", "1 values for 2 joints"},
		{"term joints", "rate: 50\njoints: [a]\ninputs: [{terms: [{kind: joint_pos, joints: [z]}]}]\n", `joint "z" is not in the policy's joints`},
		{"aggregation", "rate: 50\njoints: [a]\ninputs: [{terms: [{kind: joint_pos}]}]\naction: {chunk: {aggregation: mean}}\n", `unknown aggregation "mean"`},
		{"layout", "rate: 50\njoints: [a]\ninputs: [{layout: zigzag, terms: [{kind: joint_pos}]}]\n", `unknown layout "zigzag"`},
		{"offset", "rate: 50\njoints: [a]\ninputs: [{terms: [{kind: joint_pos}]}]\naction: {offset: middle}\n", "action.offset"},
		{"yaml", "rate: [50\n", "x.yaml:"},
		{"format", "format: other/v2\nrate: 50\njoints: [a]\ninputs: [{terms: [{kind: joint_pos}]}]\n", `unknown format "other/v2"`},
		{"image size", "rate: 50\njoints: [a]\ninputs: [{terms: [{kind: image, camera: front}]}]\n", "image size 0x0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := policy.ParseSpec("x.yaml", ".", []byte(c.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, policy.ErrSpec) || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "policy: ") {
				t.Fatalf("error %q, want %q", err, c.want)
			}
		})
	}
}

// TestBHLConfig converts the shared Berkeley Humanoid Lite configs with the
// project's documented layout.
func TestBHLConfig(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "testdata", "policies")
	for _, c := range []struct {
		file     string
		n, obs   int
		rate     float64
		default2 float64
	}{{"bhl_policy_humanoid.yaml", 22, 75, 25, 0}, {"bhl_policy_biped_50hz.yaml", 12, 45, 50, -0.2}} {
		path := filepath.Join(dir, c.file)
		if _, err := os.Stat(path); err != nil {
			t.Skipf("shared test data absent (%s, i.e. ../shared/testdata from the repo root): %v", path, err)
		}
		s, err := policy.ReadSpec(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Joints) != c.n || s.Inputs[0].FrameDim(s) != c.obs || s.Rate != c.rate || s.Defaults[2] != c.default2 ||
			s.Inputs[0].Layout != policy.LayoutFrame || s.Action.Clip[1] != 10000 || s.Action.Scale[0] != 0.25 {
			t.Fatalf("%s: %+v", c.file, s)
		}
	}
	bad := "policy_dt: 0.02\nnum_observations: 44\nnum_actions: 1\nnum_joints: 1\njoints: [a]\ndefault_joint_positions: [0]\nhistory_length: 0\naction_scale: 0.25\n"
	if _, err := policy.ParseSpec("bhl.yaml", ".", []byte(bad)); err == nil || !strings.Contains(err.Error(), "says 44 but the Berkeley Humanoid Lite layout gives 12") {
		t.Fatalf("bad num_observations: %v", err)
	}
}

func TestHolosomaMetadataSpec(t *testing.T) {
	m := &onnx.Model{IRVersion: 8, Metadata: []onnx.Property{
		{Key: "dof_names", Value: `["a", "b"]`},
		{Key: "kp", Value: `[10, 20]`},
		{Key: "kd", Value: `[1, 2]`},
		{Key: "command_ranges", Value: `{"lin_vel_x": [-0.5, 0.8], "heading": [-3.14, 3.14]}`},
	}, Graph: onnx.Graph{Outputs: []onnx.ValueInfo{onnx.FloatInput("action", 1, 2)}}}
	s, err := policy.LoadSpec(filepath.Join(t.TempDir(), "h.onnx"), "", m)
	if err != nil {
		t.Fatal(err)
	}
	if s.Inputs[0].FrameDim(s) != 2+3+1+2+2+2+2+3+2 || s.Kp[1] != 20 || s.Kd[0] != 1 || s.Defaults != nil {
		t.Fatalf("%+v", s)
	}
	if c := s.Commands[s.Command("lin_vel_x")]; c.Min != -0.5 || c.Max != 0.8 || s.Command("heading") < 0 {
		t.Fatalf("commands %+v", s.Commands)
	}
	m.Metadata[1].Value = `[10]`
	if _, err := policy.LoadSpec("h.onnx", "", m); err == nil || !strings.Contains(err.Error(), `metadata "kp" has 1 values for 2 joints`) {
		t.Fatalf("bad kp: %v", err)
	}
	none := &onnx.Model{IRVersion: 8, Graph: m.Graph}
	if _, err := policy.LoadSpec(filepath.Join(t.TempDir(), "none.onnx"), "", none); err == nil || !strings.Contains(err.Error(), "carries no policy spec") {
		t.Fatalf("no spec: %v", err)
	}
}

// A spec in the model's own metadata wins over a sidecar; a spec file wins
// over both; dof_names in the metadata must agree with the spec.
func TestLoadSpecPrecedence(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "p.onnx")
	side := strings.Replace(goodSpec, "name: walker", "name: sidecar", 1)
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(side), 0o644); err != nil {
		t.Fatal(err)
	}
	m := &onnx.Model{IRVersion: 8, Graph: onnx.Graph{Outputs: []onnx.ValueInfo{onnx.FloatInput("act", 1, 3)}}}
	s, err := policy.LoadSpec(model, "", m)
	if err != nil || s.Name != "sidecar" {
		t.Fatalf("sidecar: %v %v", s, err)
	}
	m.Metadata = []onnx.Property{{Key: policy.MetaSpecKey, Value: goodSpec}, {Key: "dof_names", Value: `["a","b","c"]`}}
	if s, err = policy.LoadSpec(model, "", m); err != nil || s.Name != "walker" {
		t.Fatalf("metadata: %v %v", s, err)
	}
	if s, err = policy.LoadSpec(model, filepath.Join(dir, "p.yaml"), m); err != nil || s.Name != "sidecar" {
		t.Fatalf("explicit: %v %v", s, err)
	}
	m.Metadata[1].Value = `["c","b","a"]`
	if _, err = policy.LoadSpec(model, "", m); err == nil || !strings.Contains(err.Error(), "differ from the spec's joints") {
		t.Fatalf("dof_names mismatch: %v", err)
	}
}
