package ort_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anther-robotics/anther/policy"
	"github.com/anther-robotics/anther/policy/onnx"
	"github.com/anther-robotics/anther/policy/ort"
	"github.com/anther-robotics/anther/policy/policytest"
	"github.com/anther-robotics/anther/robot"
)

// rt is the process's ONNX Runtime (one per process), opened in TestMain.
var rt *ort.Runtime

func TestMain(m *testing.M) {
	var err error
	rt, err = ort.Open("", nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "policy/ort: tests that need ONNX Runtime will skip:", err)
	}
	code := m.Run()
	if rt != nil {
		_ = rt.Close()
	}
	os.Exit(code)
}

func needRT(t testing.TB) {
	t.Helper()
	if rt == nil {
		t.Skip("ONNX Runtime library not found: run scripts/ort.sh (make deps) or set ORT_LIB")
	}
}

// shared returns ../shared/testdata/policies as seen from this package
// (the repository sits beside the project's shared folder).
func shared(t testing.TB) string {
	t.Helper()
	p := filepath.Join("..", "..", "..", "shared", "testdata", "policies")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared test data absent (%s, i.e. ../shared/testdata from the repo root): %v", p, err)
	}
	return p
}

func desc(t testing.TB, name string) *robot.Description {
	t.Helper()
	d, err := robot.Load(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// realCase is one shared policy with the robot it runs on.
type realCase struct {
	model, robot string
	holosoma     bool
	rate         float64
}

var realCases = []realCase{
	{"holosoma_ppo_g1_29dof.onnx", "g1_29dof.yaml", true, 50},
	{"bhl_policy_humanoid.onnx", "bhl_humanoid.yaml", false, 25},
	{"bhl_policy_biped_50hz.onnx", "bhl_biped.yaml", false, 50},
}

// randomState fills positions near the defaults and random velocities.
func randomState(r *rand.Rand, d *robot.Description, s *robot.State) {
	s.N = len(d.Joints)
	for i, j := range d.Joints {
		s.Position[i] = float64(j.Home) + 0.3*(2*r.Float64()-1)
		s.Velocity[i] = 2 * (2*r.Float64() - 1)
	}
}

// TestRealPoliciesMatchReference loads each shared policy through its spec
// (holosoma: metadata_props; BHL: the YAML sidecar found beside the model),
// runs several steps on varied robot states, IMU readings and commands, and
// checks the observation tensor against the project's documented layout
// (built by hand in policytest) and the output against a float64 evaluation
// of the weights read from the protobuf, to 1e-5.
func TestRealPoliciesMatchReference(t *testing.T) {
	needRT(t)
	dir := shared(t)
	for _, c := range realCases {
		t.Run(c.model, func(t *testing.T) {
			d := desc(t, c.robot)
			path := filepath.Join(dir, c.model)
			l, err := rt.Load(path, ort.LoadConfig{Policy: policy.Config{Robot: d}})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			p, spec := l.Policy, l.Spec
			if spec.Rate != c.rate {
				t.Errorf("rate %g, want %g", spec.Rate, c.rate)
			}
			_, m, err := ort.ReadModel(path)
			if err != nil {
				t.Fatal(err)
			}
			idx := make([]int, len(spec.Joints))
			defaults := make([]float64, len(spec.Joints))
			for i, n := range spec.Joints {
				j, ok := d.Joint(n)
				if !ok {
					t.Fatalf("robot lacks %s", n)
				}
				idx[i] = int(j)
				defaults[i] = float64(d.Joints[j].Home)
			}
			r := rand.New(rand.NewPCG(1, 2))
			last := make([]float64, len(spec.ActionJoints()))
			phase, standing := [2]float64{0, math.Pi}, false
			ch := p.NewChunk()
			var o policy.Observation
			maxObs, maxOut := 0.0, 0.0
			for step := int64(0); step < 8; step++ {
				randomState(r, d, &o.State)
				o.Step = step
				b := policytest.Base{Gravity: [3]float64{0.1 * r.Float64(), -0.1, -0.99}, Gyro: [3]float64{0.3, -0.2, 0.5 * r.Float64()}}
				if step >= 3 { // stand first, then walk
					b.Cmd = [3]float64{0.5, -0.2, 0.3}
				}
				o.Gravity, o.Gyro = b.Gravity, b.Gyro
				for i, n := range []string{"lin_vel_x", "lin_vel_y", "ang_vel_yaw"} {
					o.Commands[spec.Command(n)] = b.Cmd[i]
				}
				var want []float32
				if c.holosoma {
					policytest.HolosomaPhase(&phase, &standing, b.Cmd)
					want = policytest.HolosomaObs(&o.State, idx, defaults, last, b, phase)
				} else {
					want = policytest.BHLObs(&o.State, idx, defaults, last, b)
				}
				if err := p.Infer(&o, ch); err != nil {
					t.Fatal(err)
				}
				got := l.Session.Inputs()[0].Data
				if len(got) != len(want) {
					t.Fatalf("obs has %d values, the layout %d", len(got), len(want))
				}
				for i := range want {
					maxObs = max(maxObs, math.Abs(float64(got[i]-want[i])))
				}
				// Reference forward pass on the reference observation.
				in := policytest.T{Shape: []int64{1, int64(len(want))}, Data: make([]float64, len(want))}
				for i, v := range want {
					in.Data[i] = float64(v)
				}
				vals, err := policytest.Eval(m, map[string]policytest.T{m.Graph.Inputs[0].Name: in})
				if err != nil {
					t.Fatal(err)
				}
				ref := vals[m.Graph.Outputs[0].Name].Data
				out := l.Session.Outputs()[0].Data
				for i := range ref {
					// float32 against float64: relative to the output's size
					// (BHL's outputs reach ~100 on these off-distribution states).
					maxOut = max(maxOut, math.Abs(float64(out[i])-ref[i])/max(1, math.Abs(ref[i])))
				}
				lo, hi := -100.0, 100.0
				if !c.holosoma {
					lo, hi = -10000, 10000
				}
				tg := policytest.Targets(ref, lo, hi, 0.25, defaults)
				for i, j := range idx {
					if math.Abs(ch.Targets[0][j]-tg[i]) > 1e-5*max(1, math.Abs(tg[i])) {
						t.Fatalf("step %d joint %s: target %g, reference %g", step, spec.Joints[i], ch.Targets[0][j], tg[i])
					}
				}
				// The next observation carries the action the robot got.
				for i := range last {
					last[i] = max(lo, min(hi, float64(out[i])))
				}
			}
			t.Logf("%s: max |obs − layout| %.2g, max relative |ORT − float64 reference| %.2g", c.model, maxObs, maxOut)
			if maxObs > 1e-6 {
				t.Errorf("observation differs from the documented layout by %g", maxObs)
			}
			if maxOut > 1e-5 {
				t.Errorf("outputs differ from the reference by %g (> 1e-5)", maxOut)
			}
		})
	}
}

// TestInferAllocatesNothing checks the goal of 0 Go allocations per
// inference (observation building, Run, action decoding).
func TestInferAllocatesNothing(t *testing.T) {
	needRT(t)
	dir := shared(t)
	for _, c := range realCases {
		d := desc(t, c.robot)
		l, err := rt.Load(filepath.Join(dir, c.model), ort.LoadConfig{Policy: policy.Config{Robot: d}})
		if err != nil {
			t.Fatal(err)
		}
		ch := l.Policy.NewChunk()
		var o policy.Observation
		o.State.N = len(d.Joints)
		allocs := testing.AllocsPerRun(200, func() {
			o.Step++
			if err := l.Policy.Infer(&o, ch); err != nil {
				t.Fatal(err)
			}
		})
		_ = l.Close()
		if allocs != 0 {
			t.Errorf("%s: %v allocations per inference, want 0", c.model, allocs)
		}
	}
}

func writeModel(t testing.TB, dir, name string, m *onnx.Model) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, m.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBadInputErrors checks that each kind of bad input is refused with a
// clear message.
func TestBadInputErrors(t *testing.T) {
	needRT(t)
	dir := shared(t)
	tmp := t.TempDir()
	g1 := desc(t, "g1_29dof.yaml")
	notONNX := filepath.Join(tmp, "notes.onnx")
	if err := os.WriteFile(notONNX, []byte("this is not a model\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	so101, err := robot.Load("so101-follower")
	if err != nil {
		t.Fatal(err)
	}
	wrongSpec := filepath.Join(tmp, "wrong.yaml")
	// Holosoma's model with a spec that builds 99 values instead of 100.
	if err := os.WriteFile(wrongSpec, []byte(strings.Join([]string{
		"rate: 50",
		"joints: [" + strings.Join(g1.JointNames(), ", ") + "]",
		"inputs:",
		"  - name: actor_obs",
		"    terms:",
		"      - {kind: joint_pos_rel}",
		"      - {kind: joint_vel}",
		"      - {kind: last_action}",
		"      - {kind: gyro}",
		"      - {kind: projected_gravity}",
		"      - {kind: constant, value: [1, 2, 3, 4, 5, 6]}",
		"action: {scale: 0.25, offset: default}",
	}, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	wrongName := filepath.Join(tmp, "wrongname.yaml")
	if err := os.WriteFile(wrongName, []byte(strings.Join([]string{
		"rate: 50",
		"joints: [" + strings.Join(g1.JointNames(), ", ") + "]",
		"inputs:",
		"  - name: obs",
		"    terms: [{kind: joint_pos}]",
	}, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, model, spec string
		robot             *robot.Description
		want              string
	}{
		{"missing file", filepath.Join(tmp, "nope.onnx"), "", g1, "no such file"},
		{"not ONNX", notONNX, "", g1, "is not a readable ONNX file"},
		{"input size mismatch", filepath.Join(dir, "holosoma_ppo_g1_29dof.onnx"), wrongSpec, g1,
			`input "actor_obs" is [1,100] (100 values) but the spec builds 99`},
		{"input name mismatch", filepath.Join(dir, "holosoma_ppo_g1_29dof.onnx"), wrongName, g1, `the model has no input "obs"`},
		{"joints the robot lacks", filepath.Join(dir, "holosoma_ppo_g1_29dof.onnx"), "", so101, "robot so101-follower lacks the policy's joints left_hip_pitch_joint"},
		{"missing spec file", filepath.Join(dir, "holosoma_ppo_g1_29dof.onnx"), filepath.Join(tmp, "none.yaml"), g1, "none.yaml: no such file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, err := rt.Load(c.model, ort.LoadConfig{SpecPath: c.spec, Policy: policy.Config{Robot: c.robot}})
			if err == nil {
				_ = l.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "policy: ") {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
			t.Log(err)
		})
	}
}

// TestRecurrentInitAndCarry runs a kinfer-style step graph whose first carry
// comes from a zero-input init graph, and checks the carry chain against
// the float64 reference.
func TestRecurrentInitAndCarry(t *testing.T) {
	needRT(t)
	tmp := t.TempDir()
	step, init := policytest.Recurrent(4, 6, 2, 9)
	stepPath := writeModel(t, tmp, "step.onnx", step)
	writeModel(t, tmp, "init.onnx", init)
	specPath := filepath.Join(tmp, "spec.yaml")
	if err := os.WriteFile(specPath, []byte(`
rate: 20
joints: [a, b]
inputs:
  - name: obs
    terms:
      - {kind: joint_pos}
      - {kind: joint_vel}
action: {output: action}
recurrent: {init_model: init.onnx, input: carry, output: carry_out}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := robot.Parse("two.yaml", []byte(`
name: two
rate: 100
buses: [{name: b, protocol: dynamixel2, port: /dev/null}]
joints:
  - {name: a, bus: b, id: 1, model: xl330-m288, min: -2, max: 2}
  - {name: b, bus: b, id: 2, model: xl330-m288, min: -2, max: 2}
`))
	if err != nil {
		t.Fatal(err)
	}
	l, err := rt.Load(stepPath, ort.LoadConfig{SpecPath: specPath, Policy: policy.Config{Robot: d}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	initOut, err := policytest.Eval(init, nil)
	if err != nil {
		t.Fatal(err)
	}
	carry := initOut["carry"].Data
	ch := l.Policy.NewChunk()
	var o policy.Observation
	o.State.N = 2
	for k := 0; k < 5; k++ {
		o.Step = int64(k)
		o.State.Position[0], o.State.Position[1] = 0.1*float64(k), -0.2
		o.State.Velocity[0], o.State.Velocity[1] = 0.5, float64(k)
		if err := l.Policy.Infer(&o, ch); err != nil {
			t.Fatal(err)
		}
		obs := policytest.T{Shape: []int64{1, 4}, Data: []float64{o.State.Position[0], o.State.Position[1], o.State.Velocity[0], o.State.Velocity[1]}}
		vals, err := policytest.Eval(step, map[string]policytest.T{"obs": obs, "carry": {Shape: []int64{1, 6}, Data: carry}})
		if err != nil {
			t.Fatal(err)
		}
		for j := 0; j < 2; j++ {
			if got, want := ch.Targets[0][j], vals["action"].Data[j]; math.Abs(got-want) > 1e-5 {
				t.Fatalf("step %d joint %d: %g, reference %g", k, j, got, want)
			}
		}
		carry = vals["carry_out"].Data
	}
}

// TestEval runs one forward pass the way `anther policy eval` does.
func TestEval(t *testing.T) {
	needRT(t)
	tmp := t.TempDir()
	m := policytest.MLP("x", "y", 3, 5, 2, 4)
	path := writeModel(t, tmp, "mlp.onnx", m)
	in := &policy.Tensor{Name: "x", Shape: []int64{1, 3}, Data: []float32{0.5, -1, 2}}
	outs, err := rt.Eval(path, map[string]*policy.Tensor{"x": in})
	if err != nil {
		t.Fatal(err)
	}
	vals, err := policytest.Eval(m, map[string]policytest.T{"x": {Shape: []int64{1, 3}, Data: []float64{0.5, -1, 2}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 1 || outs[0].Name != "y" || len(outs[0].Data) != 2 {
		t.Fatalf("outputs %+v", outs)
	}
	for i, v := range vals["y"].Data {
		if math.Abs(float64(outs[0].Data[i])-v) > 1e-5 {
			t.Fatalf("y[%d] = %g, reference %g", i, outs[0].Data[i], v)
		}
	}
	if _, err := rt.Eval(path, map[string]*policy.Tensor{"x": {Name: "x", Shape: []int64{1, 4}, Data: make([]float32, 4)}}); err == nil ||
		!strings.Contains(err.Error(), "does not fit") {
		t.Fatalf("wrong shape: %v", err)
	}
	if _, err := rt.Eval(path, nil); err == nil || !strings.Contains(err.Error(), `needs input "x"`) {
		t.Fatalf("missing input: %v", err)
	}
}

func TestFindLibrary(t *testing.T) {
	if _, _, err := ort.FindLibrary("/nonexistent/libonnxruntime.so"); err == nil || !strings.Contains(err.Error(), "flag") {
		t.Fatalf("explicit missing: %v", err)
	}
	t.Setenv("ORT_LIB", "/nonexistent/lib.so")
	if _, src, err := ort.FindLibrary(""); err == nil || !strings.Contains(err.Error(), "$ORT_LIB") {
		t.Fatalf("env missing: %v %s", err, src)
	}
	t.Setenv("ORT_LIB", "")
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	if _, _, err := ort.FindLibrary(""); err == nil || !strings.Contains(err.Error(), "scripts/ort.sh") {
		t.Fatalf("cache missing: %v", err)
	}
}

func writeBytes(p string, b []byte) error { return os.WriteFile(p, b, 0o644) }

// TestSpecFileMatchesMetadata: holosoma's spec written out as a file
// (testdata/holosoma_g1_29dof.yaml) builds the same observation and targets
// as the spec anther derives from the model's metadata.
func TestSpecFileMatchesMetadata(t *testing.T) {
	needRT(t)
	dir := shared(t)
	d := desc(t, "g1_29dof.yaml")
	model := filepath.Join(dir, "holosoma_ppo_g1_29dof.onnx")
	a, err := rt.Load(model, ort.LoadConfig{Policy: policy.Config{Robot: d}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := rt.Load(model, ort.LoadConfig{SpecPath: filepath.Join("..", "testdata", "holosoma_g1_29dof.yaml"), Policy: policy.Config{Robot: d}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Spec.Kp == nil || b.Spec.Kp[1] != a.Spec.Kp[1] {
		t.Fatalf("kp from metadata not merged: %v", b.Spec.Kp)
	}
	r := rand.New(rand.NewPCG(3, 4))
	ca, cb := a.Policy.NewChunk(), b.Policy.NewChunk()
	var o policy.Observation
	o.Gravity = [3]float64{0, 0, -1}
	for k := 0; k < 5; k++ {
		o.Step = int64(k)
		randomState(r, d, &o.State)
		o.Commands[0] = 0.3 * float64(k)
		if err := a.Policy.Infer(&o, ca); err != nil {
			t.Fatal(err)
		}
		if err := b.Policy.Infer(&o, cb); err != nil {
			t.Fatal(err)
		}
		ia, ib := a.Session.Inputs()[0].Data, b.Session.Inputs()[0].Data
		for i := range ia {
			if ia[i] != ib[i] {
				t.Fatalf("step %d obs[%d]: metadata %g, file %g", k, i, ia[i], ib[i])
			}
		}
		if ca.Targets[0] != cb.Targets[0] {
			t.Fatalf("step %d: targets differ", k)
		}
	}
}
