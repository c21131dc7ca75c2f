package ort_test

import (
	"context"
	"math"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/policy"
	"github.com/anther-robotics/anther/policy/onnx"
	"github.com/anther-robotics/anther/policy/ort"
	"github.com/anther-robotics/anther/policy/policytest"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// steppedRun drives a loop with a policy runner on the stepped clock: each
// tick, then wait for the inference it asked for, so inference takes no
// simulated time and the run is deterministic.
type steppedRun struct {
	loop   *control.Loop
	clk    *control.SteppedClock
	ring   *control.Ring
	runner *policy.Runner
	cancel context.CancelFunc
	done   chan error
	step   control.Step
}

func startStepped(t testing.TB, d *robot.Description, p *policy.Policy, cfg policy.RunnerConfig) *steppedRun {
	t.Helper()
	s := &steppedRun{clk: control.NewSteppedClock(epoch), ring: control.NewRing(64)}
	var err error
	s.loop, err = control.New(control.Config{Rate: d.Rate, Clock: s.clk, Bus: sim.NewBus(d),
		Limits: control.LimitsFromDescription(d, 0.01), Sinks: []control.Sink{s.ring}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.loop.Start(s.clk.Now()); err != nil {
		t.Fatal(err)
	}
	s.loop.Request(control.RequestActivate)
	s.tick(t)
	s.runner = policy.NewRunner(p, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan error, 1)
	go func() { s.done <- s.runner.Run(ctx) }()
	s.loop.SetSource("policy:"+p.Spec().Name, s.runner, s.runner.Stale())
	t.Cleanup(s.stop)
	return s
}

func (s *steppedRun) stop() {
	if s.cancel != nil {
		s.cancel()
		<-s.done
		s.cancel = nil
	}
}

// tick runs one loop tick, waits for the inference it triggered and drains
// the ring into s.step.
func (s *steppedRun) tick(t testing.TB) {
	now := s.clk.Now().Add(s.loop.Period())
	s.clk.SleepUntil(now)
	s.loop.Tick(now, 0)
	if s.runner != nil {
		if err := s.runner.WaitIdle(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for s.ring.Pop(&s.step) {
	}
}

// trace records what each inference saw and produced.
type trace struct {
	mu    sync.Mutex
	obs   []policy.Observation
	input [][]float32
	raw   [][]float32
	in    *policy.Tensor
}

func (tr *trace) record(o *policy.Observation, c *policy.Chunk) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.obs = append(tr.obs, *o)
	tr.input = append(tr.input, append([]float32(nil), tr.in.Data...))
	tr.raw = append(tr.raw, append([]float32(nil), c.Raw...))
}

// TestSixtySecondsOnSim runs each shared policy on the simulated robot made
// for its joint list, at its native rate, for 60 s of stepped time (a
// velocity command from 20 s on, a tilted and turning base from 40 s on):
// no NaN, no watchdog trip, every step inferred, and every inference's input
// and output equal to the independent reference.
func TestSixtySecondsOnSim(t *testing.T) {
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
			tr := &trace{in: l.Session.Inputs()[0]}
			imu := sim.NewIMU()
			s := startStepped(t, d, l.Policy, policy.RunnerConfig{IMU: imu, Trace: tr.record})
			ticks := int(60 * d.Rate)
			for k := 0; k < ticks; k++ {
				switch k {
				case int(20 * d.Rate):
					for n, v := range map[string]float64{"lin_vel_x": 0.5, "lin_vel_y": 0.1, "ang_vel_yaw": -0.3} {
						if err := s.runner.SetCommand(n, v); err != nil {
							t.Fatal(err)
						}
					}
				case int(40 * d.Rate):
					imu.Set([3]float64{0.05, -0.1, -0.99}, [3]float64{0.2, 0.1, -0.3})
				}
				s.tick(t)
				if lc := s.loop.Lifecycle(); lc != robot.Active {
					t.Fatalf("tick %d: lifecycle %s, trip %s", k, lc, s.loop.LastTrip())
				}
				for j := 0; j < len(d.Joints); j++ {
					if v := s.step.Command.Position[j]; math.IsNaN(v) || math.IsInf(v, 0) {
						t.Fatalf("tick %d: joint %d command %g", k, j, v)
					}
				}
			}
			s.stop()
			st := s.runner.Stats()
			if trip := s.loop.LastTrip(); trip != control.TripNone {
				t.Fatalf("watchdog tripped: %s", trip)
			}
			if s.loop.Mode() != control.ModeSource {
				t.Fatalf("mode %s, want source", s.loop.Mode())
			}
			want := int(60 * c.rate)
			if n := len(tr.obs); n < want-1 || n > want+1 || st.Missed != 0 || st.Errors != 0 || st.NaNOutputs != 0 {
				t.Fatalf("%d inferences (want %d), stats %+v", n, want, st)
			}
			maxObs, maxOut := verifyTrace(t, c, d, l.Spec, path, tr)
			t.Logf("%s on %s: %d ticks, %d inferences, max |obs − layout| %.2g, max relative |out − reference| %.2g, latency p50 %.1f µs p99 %.1f µs",
				c.model, d.Name, ticks, len(tr.obs), maxObs, maxOut, st.Latency.P50US, st.Latency.P99US)
		})
	}
}

// verifyTrace rebuilds every observation with the documented layout and
// every output with the float64 reference.
func verifyTrace(t *testing.T, c realCase, d *robot.Description, spec *policy.Spec, path string, tr *trace) (maxObs, maxOut float64) {
	maxWild, nWild := 0.0, 0
	t.Helper()
	_, m, err := ort.ReadModel(path)
	if err != nil {
		t.Fatal(err)
	}
	idx := make([]int, len(spec.Joints))
	defaults := make([]float64, len(spec.Joints))
	for i, n := range spec.Joints {
		j, _ := d.Joint(n)
		idx[i], defaults[i] = int(j), float64(d.Joints[j].Home)
	}
	last := make([]float64, len(spec.ActionJoints()))
	phase, standing := [2]float64{0, math.Pi}, false
	for k := range tr.obs {
		o := &tr.obs[k]
		b := policytest.Base{Gravity: o.Gravity, Gyro: o.Gyro}
		for i, n := range []string{"lin_vel_x", "lin_vel_y", "ang_vel_yaw"} {
			b.Cmd[i] = o.Commands[spec.Command(n)]
		}
		var want []float32
		if c.holosoma {
			policytest.HolosomaPhase(&phase, &standing, b.Cmd)
			want = policytest.HolosomaObs(&o.State, idx, defaults, last, b, phase)
		} else {
			want = policytest.BHLObs(&o.State, idx, defaults, last, b)
		}
		got := tr.input[k]
		for i := range want {
			maxObs = max(maxObs, math.Abs(float64(got[i]-want[i])))
		}
		if k%5 == 0 || k == len(tr.obs)-1 { // the float64 forward pass is the slow part
			in := policytest.T{Shape: []int64{1, int64(len(want))}, Data: make([]float64, len(want))}
			for i, v := range want {
				in.Data[i] = float64(v)
			}
			vals, err := policytest.Eval(m, map[string]policytest.T{m.Graph.Inputs[0].Name: in})
			if err != nil {
				t.Fatal(err)
			}
			ref := vals[m.Graph.Outputs[0].Name].Data
			// float32 against float64: the rounding error grows with the
			// size of the inputs. Off the ground the BHL humanoid drives
			// its actions (an input) to hundreds, far outside training;
			// there the bound is 1e-4, elsewhere 1e-5.
			wild := maxAbs(want) > 100
			for i := range ref {
				e := math.Abs(float64(tr.raw[k][i])-ref[i]) / max(1, math.Abs(ref[i]))
				if wild {
					maxWild = max(maxWild, e)
					nWild++
				} else {
					maxOut = max(maxOut, e)
				}
			}
		}
		for i := range last {
			last[i] = float64(tr.raw[k][i])
		}
	}
	if maxObs > 1e-6 {
		t.Errorf("observations differ from the documented layout by up to %g", maxObs)
	}
	if maxOut > 1e-5 {
		t.Errorf("outputs differ from the reference by up to %g (relative)", maxOut)
	}
	if nWild > 0 {
		t.Logf("%d outputs of inferences with |obs| > 100: max relative difference %.2g", nWild, maxWild)
		if maxWild > 1e-4 {
			t.Errorf("outputs of off-distribution inferences differ by up to %g (relative)", maxWild)
		}
	}
	return maxObs, maxOut
}

// TestNaNModelHolds: a model that outputs NaN makes the loop's safety layer
// hold the robot (TripSourceInvalid), never write NaN.
func TestNaNModelHolds(t *testing.T) {
	needRT(t)
	tmp := t.TempDir()
	d, err := robot.Load("so101-follower")
	if err != nil {
		t.Fatal(err)
	}
	m := policytest.NaNModel("obs", "act", 12, 6)
	path := writeModel(t, tmp, "nan.onnx", m)
	spec := filepath.Join(tmp, "nan.yaml")
	writeFile(t, spec, `
rate: 30
joints: [shoulder_pan, shoulder_lift, elbow_flex, wrist_flex, wrist_roll, gripper]
inputs: [{name: obs, terms: [{kind: joint_pos}, {kind: joint_vel}]}]
action: {offset: none}
`)
	// 25 Hz instead of the file's 30 so that four 100 Hz ticks make exactly
	// one policy step in whole nanoseconds.
	l, err := rt.Load(path, ort.LoadConfig{SpecPath: spec, Rate: 25, Policy: policy.Config{Robot: d}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := startStepped(t, d, l.Policy, policy.RunnerConfig{})
	for k := 0; k < 20; k++ {
		s.tick(t)
		for j := 0; j < len(d.Joints); j++ {
			if v := s.step.Command.Position[j]; math.IsNaN(v) {
				t.Fatalf("tick %d: NaN written to joint %d", k, j)
			}
		}
	}
	if lc, trip := s.loop.Lifecycle(), s.loop.LastTrip(); lc != robot.Holding || trip != control.TripSourceInvalid {
		t.Fatalf("lifecycle %s trip %s, want holding after source-invalid", lc, trip)
	}
	if st := s.runner.Stats(); st.NaNOutputs == 0 {
		t.Fatalf("NaN outputs not counted: %+v", st)
	}
}

// TestACTChunkEnsemblingExact runs a generated ACT-style model (chunk of 6,
// image + state inputs, LeRobot mean/std normalization) through ONNX Runtime
// with temporal ensembling, four loop ticks per policy step, and checks every
// target against ensembling computed here from reference outputs.
func TestACTChunkEnsemblingExact(t *testing.T) {
	needRT(t)
	tmp := t.TempDir()
	d, err := robot.Load("so101-follower")
	if err != nil {
		t.Fatal(err)
	}
	const C, A = 6, 6
	m := policytest.ACT(policytest.ACTConfig{State: 6, Action: A, Chunk: C, Hidden: 16, Camera: "front", W: 4, H: 3, Seed: 5, BatchDim: true})
	path := writeModel(t, tmp, "act.onnx", m)
	spec := filepath.Join("..", "testdata", "act_so101.yaml") // ensemble_coeff 0.01, stats.json beside it
	cam := &fixedCamera{}
	// 25 Hz instead of the file's 30 so that four 100 Hz ticks make exactly
	// one policy step in whole nanoseconds.
	l, err := rt.Load(path, ort.LoadConfig{SpecPath: spec, Rate: 25, Policy: policy.Config{Robot: d, Images: map[string]policy.ImageSource{"front": cam}}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	d.Rate = 100 // four ticks per 25 Hz step
	checkEnsembling(t, d, l.Policy, m, cam, C, A, 0.01)
}

func writeFile(t testing.TB, p, s string) {
	t.Helper()
	if err := writeBytes(p, []byte(s)); err != nil {
		t.Fatal(err)
	}
}

// fixedCamera returns a frame that changes with every read.
type fixedCamera struct {
	mu sync.Mutex
	n  int
}

func (c *fixedCamera) frame(n int, dst []byte) {
	for i := range dst {
		dst[i] = byte((i*37 + n*11) % 256)
	}
}

func (c *fixedCamera) LatestImage(dst []byte, w, h int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frame(c.n, dst)
	c.n++
	return nil
}

// checkEnsembling drives the loop and compares each target with ACT's
// temporal ensembling of reference chunks: for step s, the predictions of
// every chunk that covers s and had arrived, weighted exp(−coeff·i) with
// i = 0 for the oldest.
func checkEnsembling(t *testing.T, d *robot.Description, p *policy.Policy, m *onnx.Model, cam *fixedCamera, C, A int, coeff float64) {
	t.Helper()
	st, err := policy.ReadStats(filepath.Join("..", "testdata", "stats.json"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	type rec struct {
		step  int64
		state robot.State
		frame int
	}
	var recs []rec
	frames := 0
	s := startStepped(t, d, p, policy.RunnerConfig{Trace: func(o *policy.Observation, _ *policy.Chunk) {
		mu.Lock()
		recs = append(recs, rec{o.Step, o.State, frames})
		frames++
		mu.Unlock()
	}})
	// Reference chunk for an observation, in robot joint targets.
	ref := func(r rec) [][]float64 {
		state := policytest.T{Shape: []int64{1, 6}, Data: make([]float64, 6)}
		for j := 0; j < 6; j++ {
			x := float64(float32(r.state.Position[j] * 57.29577951308232))
			fs := st["observation.state"]
			state.Data[j] = float64(float32((x - fs.Mean[j]) / (fs.Std[j] + 1e-8)))
		}
		buf := make([]byte, 36)
		cam.frame(r.frame, buf)
		img := policytest.T{Shape: []int64{1, 3, 3, 4}, Data: make([]float64, 36)}
		fi := st["observation.images.front"]
		for c := 0; c < 3; c++ {
			for px := 0; px < 12; px++ {
				v := float64(buf[px*3+c]) / 255
				img.Data[c*12+px] = float64(float32((v - fi.Mean[c]) / (fi.Std[c] + 1e-8)))
			}
		}
		vals, err := policytest.Eval(m, map[string]policytest.T{"observation.state": state, "observation.images.front": img})
		if err != nil {
			t.Fatal(err)
		}
		out := vals["action"].Data
		fa := st["action"]
		ch := make([][]float64, C)
		for k := 0; k < C; k++ {
			ch[k] = make([]float64, A)
			for j := 0; j < A; j++ {
				ch[k][j] = (out[k*A+j]*fa.Std[j] + fa.Mean[j]) * 0.017453292519943295
			}
		}
		return ch
	}
	ticksPerStep := 4
	maxErr := 0.0
	checked := 0
	for k := 0; k < 30*ticksPerStep; k++ {
		s.tick(t)
		// The tick just run was policy step `step`, sub-tick `sub`.
		step, sub := int64(k/ticksPerStep), k%ticksPerStep
		mu.Lock()
		var arrived []rec
		for _, r := range recs {
			// A chunk asked for at step r.step is used from the tick after.
			if r.step < step || (r.step == step && sub > 0) {
				arrived = append(arrived, r)
			}
		}
		mu.Unlock()
		var num [6]float64
		wsum := 0.0
		i := 0
		for _, r := range arrived {
			if step < r.step || step >= r.step+int64(C) {
				continue
			}
			w := math.Exp(-coeff * float64(i))
			ch := ref(r)
			for j := 0; j < A; j++ {
				num[j] += w * ch[step-r.step][j]
			}
			wsum += w
			i++
		}
		if wsum == 0 {
			continue
		}
		for j := 0; j < A; j++ {
			want := num[j] / wsum
			got := s.step.Target[j]
			maxErr = max(maxErr, math.Abs(got-want))
		}
		checked++
	}
	if s.loop.LastTrip() != control.TripNone {
		t.Fatalf("tripped: %s", s.loop.LastTrip())
	}
	if checked < 100 || maxErr > 1e-5 {
		t.Fatalf("%d ticks checked, max |target − ensembled reference| %g", checked, maxErr)
	}
	t.Logf("%d ticks checked, max |target − ensembled reference| %.2g rad", checked, maxErr)
}

func maxAbs(v []float32) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, math.Abs(float64(x)))
	}
	return m
}
