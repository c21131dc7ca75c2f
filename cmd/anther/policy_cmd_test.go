package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/policy/onnx"
	"github.com/anther-robotics/anther/policy/ort"
	"github.com/anther-robotics/anther/policy/policytest"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
	"github.com/anther-robotics/anther/teleop"
)

// sharedPolicies is ../shared/testdata/policies seen from this package.
func sharedPolicies(t *testing.T) string {
	t.Helper()
	p := filepath.Join("..", "..", "..", "shared", "testdata", "policies")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared test data absent (%s, i.e. ../shared/testdata from the repo root): %v", p, err)
	}
	return p
}

func needORT(t *testing.T) {
	t.Helper()
	if _, _, err := ort.FindLibrary(""); err != nil {
		t.Skipf("ONNX Runtime library not found (run scripts/ort.sh or set ORT_LIB): %v", err)
	}
}

// TestPolicyRunSharedModels is the acceptance run: each shared policy
// through `anther policy run` on the simulated robot made for its joint
// list, at its native rate, for 60 s of stepped time — no NaN, no watchdog
// trip, every step inferred — and every traced inference's input equal to
// the project's documented layout and its output equal to a float64
// evaluation of the weights.
func TestPolicyRunSharedModels(t *testing.T) {
	needORT(t)
	dir := sharedPolicies(t)
	cases := []struct {
		model, robot string
		rate         float64
		holosoma     bool
	}{
		{"holosoma_ppo_g1_29dof.onnx", "g1_29dof.yaml", 50, true},
		{"bhl_policy_humanoid.onnx", "bhl_humanoid.yaml", 25, false},
		{"bhl_policy_biped_50hz.onnx", "bhl_biped.yaml", 50, false},
	}
	for _, c := range cases {
		t.Run(c.model, func(t *testing.T) {
			robotPath := filepath.Join("..", "..", "policy", "testdata", c.robot)
			model := filepath.Join(dir, c.model)
			trace := filepath.Join(t.TempDir(), "trace.jsonl")
			cmd := exec.Command(anther(t), "policy", "run", "--robot", robotPath, "--model", model, "--sim", "--stepped",
				"--duration", "60s", "--command", "lin_vel_x=0.4", "--command", "ang_vel_yaw=-0.2", "--json", "--trace", trace, "--log-level", "warn")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("policy run: %v\n%s", err, out)
			}
			var res PolicyRunResult
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			want := uint64(60 * c.rate)
			r := res.Runner
			if res.Trip != "none" || res.Lifecycle != "active" || res.NaNCommands != 0 || res.PolicyHz != c.rate ||
				r.Inferences < want || r.Inferences > want+1 || r.Missed != 0 || r.Errors != 0 || r.NaNOutputs != 0 {
				t.Fatalf("report: %s", out)
			}
			d, err := robot.Load(robotPath)
			if err != nil {
				t.Fatal(err)
			}
			maxObs, maxOut, n := checkTrace(t, trace, model, d, c.holosoma)
			if uint64(n) != r.Inferences {
				t.Fatalf("trace has %d lines for %d inferences", n, r.Inferences)
			}
			t.Logf("%s: %d ticks, %d inferences, latency p50 %.1f µs p99 %.1f µs; max |obs − layout| %.2g, max relative |out − ref| %.2g (|obs| ≤ 100)",
				c.model, res.Ticks, r.Inferences, r.Latency.P50US, r.Latency.P99US, maxObs, maxOut)
		})
	}
}

// checkTrace recomputes every traced observation with the documented layout
// and checks outputs against the float64 reference (1e-5 relative; 1e-4 for
// the float32 rounding of inputs above 100, which the legs-in-the-air BHL
// humanoid reaches).
func checkTrace(t *testing.T, path, model string, d *robot.Description, holosoma bool) (maxObs, maxOut float64, n int) {
	t.Helper()
	_, m, err := ort.ReadModel(model)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	joints := policyJoints(t, model, m)
	idx := make([]int, len(joints))
	defaults := make([]float64, len(joints))
	for i, name := range joints {
		j, ok := d.Joint(name)
		if !ok {
			t.Fatalf("robot lacks %s", name)
		}
		idx[i], defaults[i] = int(j), float64(d.Joints[j].Home)
	}
	last := make([]float64, len(joints))
	phase, standing := [2]float64{0, math.Pi}, false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ln PolicyTraceLine
		if err := json.Unmarshal(sc.Bytes(), &ln); err != nil {
			t.Fatal(err)
		}
		var s robot.State
		s.N = len(ln.Position)
		copy(s.Position[:], ln.Position)
		copy(s.Velocity[:], ln.Velocity)
		b := policytest.Base{Gravity: ln.Gravity, Gyro: ln.Gyro,
			Cmd: [3]float64{ln.Commands["lin_vel_x"], ln.Commands["lin_vel_y"], ln.Commands["ang_vel_yaw"]}}
		var want []float32
		if holosoma {
			policytest.HolosomaPhase(&phase, &standing, b.Cmd)
			want = policytest.HolosomaObs(&s, idx, defaults, last, b, phase)
		} else {
			want = policytest.BHLObs(&s, idx, defaults, last, b)
		}
		got := ln.Inputs[m.Graph.Inputs[0].Name]
		big := 0.0
		for i := range want {
			maxObs = max(maxObs, math.Abs(float64(got[i]-want[i])))
			big = max(big, math.Abs(float64(want[i])))
		}
		if n%10 == 0 {
			in := policytest.T{Shape: []int64{1, int64(len(want))}, Data: make([]float64, len(want))}
			for i, v := range want {
				in.Data[i] = float64(v)
			}
			vals, err := policytest.Eval(m, map[string]policytest.T{m.Graph.Inputs[0].Name: in})
			if err != nil {
				t.Fatal(err)
			}
			tol := 1e-5
			if big > 100 {
				tol = 1e-4
			}
			for i, ref := range vals[m.Graph.Outputs[0].Name].Data {
				e := math.Abs(float64(ln.Raw[i])-ref) / max(1, math.Abs(ref))
				if e > tol {
					t.Fatalf("inference %d output %d: %g, reference %g", n, i, ln.Raw[i], ref)
				}
				if big <= 100 {
					maxOut = max(maxOut, e)
				}
			}
		}
		for i := range last {
			last[i] = float64(ln.Raw[i])
		}
		n++
	}
	if maxObs > 1e-6 {
		t.Fatalf("observations differ from the layout by %g", maxObs)
	}
	return maxObs, maxOut, n
}

// policyJoints reads the policy's joint order the way its project documents
// it: holosoma's dof_names metadata, or the BHL sidecar's joints list.
func policyJoints(t *testing.T, model string, m *onnx.Model) []string {
	t.Helper()
	if v, ok := m.Meta("dof_names"); ok {
		var names []string
		if err := json.Unmarshal([]byte(v), &names); err != nil {
			t.Fatal(err)
		}
		return names
	}
	data, err := os.ReadFile(strings.TrimSuffix(model, ".onnx") + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(line, "joints:"):
			in = true
		case in && strings.HasPrefix(line, "- "):
			names = append(names, strings.TrimSpace(line[2:]))
		case in:
			return names
		}
	}
	return names
}

func TestPolicyInspectAndEval(t *testing.T) {
	needORT(t)
	dir := sharedPolicies(t)
	out, err := exec.Command(anther(t), "policy", "inspect", "--json", filepath.Join(dir, "holosoma_ppo_g1_29dof.onnx")).Output()
	if err != nil {
		t.Fatalf("inspect: %v\n%s", err, out)
	}
	var ins PolicyInspect
	if err := json.Unmarshal(out, &ins); err != nil {
		t.Fatal(err)
	}
	if ins.Inputs[0].Shape != "[1,100]" || ins.Outputs[0].Name != "action" || ins.Metadata["kp"] == "" ||
		ins.Spec == nil || len(ins.Spec.Joints) != 29 || !strings.HasSuffix(ins.ORT, "loads") || ins.Operators["Gemm"] != 4 {
		t.Fatalf("inspect: %s", out)
	}

	tmp := t.TempDir()
	m := policytest.MLP("obs", "act", 3, 4, 2, 11)
	model := filepath.Join(tmp, "m.onnx")
	if err := os.WriteFile(model, m.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(tmp, "in.json")
	if err := os.WriteFile(in, []byte(`{"inputs": {"obs": [[0.25, -1, 3]]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(anther(t), "policy", "eval", model, "--input", in).Output()
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, out)
	}
	var res struct {
		Outputs map[string][][]float64 `json:"outputs"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	vals, err := policytest.Eval(m, map[string]policytest.T{"obs": {Shape: []int64{1, 3}, Data: []float64{0.25, -1, 3}}})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vals["act"].Data {
		if math.Abs(res.Outputs["act"][0][i]-v) > 1e-5 {
			t.Fatalf("eval: %s, reference %v", out, vals["act"].Data)
		}
	}
	// Bad input gets a clear error and a non-zero exit.
	for _, c := range []struct{ args, want string }{
		{"eval " + filepath.Join(tmp, "none.onnx") + " --input " + in, "no such file"},
		{"eval " + in + " --input " + in, "is not a readable ONNX file"},
		{"inspect " + filepath.Join(tmp, "none.onnx"), "no such file"},
	} {
		cmd := exec.Command(anther(t), append([]string{"policy"}, strings.Fields(c.args)...)...)
		b, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(b), c.want) {
			t.Fatalf("%s: %v %s", c.args, err, b)
		}
	}
}

// TestPolicyManager drives the daemon's policy control (what the HTTP API
// calls) on a wall-clock loop over the simulator.
func TestPolicyManager(t *testing.T) {
	needORT(t)
	dir := sharedPolicies(t)
	d, err := robot.Load(filepath.Join("..", "..", "policy", "testdata", "bhl_biped.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	loop, err := control.New(control.Config{Rate: d.Rate, Bus: sim.NewBus(d), Limits: control.LimitsFromDescription(d, 0.01), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- loop.Run(ctx) }()
	defer func() { cancel(); <-done }()
	pm := newPolicyManager(d, loop, log, "", sim.NewIMU())
	defer pm.Close()
	if _, err := pm.StartPolicy(ctx); err == nil {
		t.Fatal("started with nothing loaded")
	}
	if _, err := pm.LoadPolicy(ctx, teleop.PolicyLoadRequest{Model: filepath.Join(dir, "nope.onnx")}); err == nil {
		t.Fatal("loaded a missing model")
	}
	st, err := pm.LoadPolicy(ctx, teleop.PolicyLoadRequest{Model: filepath.Join(dir, "bhl_policy_biped_50hz.onnx")})
	if err != nil || !st.Loaded || st.RateHz != 50 {
		t.Fatalf("load: %+v %v", st, err)
	}
	loop.Request(control.RequestActivate)
	for deadline := time.Now().Add(2 * time.Second); loop.Lifecycle() != robot.Active; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("loop did not activate")
		}
	}
	if st, err = pm.StartPolicy(ctx); err != nil || !st.Running {
		t.Fatalf("start: %+v %v", st, err)
	}
	if _, err := pm.SetPolicyCommands(map[string]float64{"lin_vel_x": 0.3}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	st = pm.PolicyStatus()
	if loop.Mode() != control.ModeSource || loop.LastTrip() != control.TripNone || st.Commands["lin_vel_x"] != 0.3 {
		t.Fatalf("running: mode %s trip %s %+v", loop.Mode(), loop.LastTrip(), st)
	}
	if st, err = pm.StopPolicy(ctx); err != nil || st.Running {
		t.Fatalf("stop: %+v %v", st, err)
	}
	time.Sleep(20 * time.Millisecond)
	if loop.Mode() != control.ModeHold || loop.Lifecycle() != robot.Active {
		t.Fatalf("after stop: mode %s lifecycle %s", loop.Mode(), loop.Lifecycle())
	}
}
