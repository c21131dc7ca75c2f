package policy_test

import (
	"context"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/policy"
	"github.com/anther-robotics/anther/policy/onnx"
	"github.com/anther-robotics/anther/policy/policytest"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func so101(t testing.TB) *robot.Description {
	t.Helper()
	d, err := robot.Load("so101-follower")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

const so101Joints = "[shoulder_pan, shoulder_lift, elbow_flex, wrist_flex, wrist_roll, gripper]"

func bind(t testing.TB, specYAML string, m *onnx.Model, d *robot.Description, cfg policy.Config) (*policy.Policy, *policytest.Session) {
	t.Helper()
	spec, err := policy.ParseSpec("test.yaml", t.TempDir(), []byte(specYAML))
	if err != nil {
		t.Fatal(err)
	}
	sess, err := policytest.NewSession(m)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Robot = d
	p, err := policy.New(spec, sess, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p, sess
}

// TestHistoryLayouts checks Isaac Lab's per-term history (oldest first,
// filled with the first frame after a reset) and whole-frame stacking
// (zeros before the first frame).
func TestHistoryLayouts(t *testing.T) {
	d := so101(t)
	spec := func(layout, fill string) string {
		return "rate: 10\njoints: [shoulder_pan, shoulder_lift]\ninputs:\n  - name: obs\n    history: 3\n    layout: " + layout +
			"\n    fill: " + fill + "\n    terms:\n      - {kind: joint_pos}\n      - {kind: constant, value: [7]}\naction: {output: act}\n"
	}
	m := policytest.MLP("obs", "act", 9, 4, 2, 1)
	run := func(layout, fill string, want [][]float32) {
		p, sess := bind(t, spec(layout, fill), m, d, policy.Config{})
		ch := p.NewChunk()
		var o policy.Observation
		for k, w := range want {
			o.Step = int64(k)
			o.State.Position[0], o.State.Position[1] = float64(k+1), -float64(k+1)
			if err := p.Infer(&o, ch); err != nil {
				t.Fatal(err)
			}
			got := sess.Inputs()[0].Data
			for i := range w {
				if got[i] != w[i] {
					t.Fatalf("%s/%s step %d: %v, want %v", layout, fill, k, got, w)
				}
			}
		}
	}
	run(policy.LayoutTerm, "first", [][]float32{
		{1, -1, 1, -1, 1, -1, 7, 7, 7},
		{1, -1, 1, -1, 2, -2, 7, 7, 7},
		{1, -1, 2, -2, 3, -3, 7, 7, 7},
		{2, -2, 3, -3, 4, -4, 7, 7, 7},
	})
	run(policy.LayoutFrame, "zeros", [][]float32{
		{0, 0, 0, 0, 0, 0, 1, -1, 7},
		{0, 0, 0, 1, -1, 7, 2, -2, 7},
		{1, -1, 7, 2, -2, 7, 3, -3, 7},
		{2, -2, 7, 3, -3, 7, 4, -4, 7},
	})
}

// TestNormalization checks LeRobot's normalization of state and images and
// unnormalization of actions against the formulas written out here.
func TestNormalization(t *testing.T) {
	st, err := policy.ParseStats([]byte(`{
	  "observation.state": {"mean": [1, 2], "std": [2, 4], "min": [-1, 0], "max": [1, 0], "q01": [0, 0], "q99": [4, 2], "count": [10]},
	  "observation.images.cam": {"mean": [[[0.5]], [[0.5]], [[0.5]]], "std": [[[0.25]], [[0.5]], [[1]]]},
	  "action": {"mean": [10, 20], "std": [1, 2], "min": [0, -4], "max": [10, 4]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if st["observation.state"].Count != 10 || len(st["observation.images.cam"].Std) != 3 {
		t.Fatalf("%+v", st)
	}
	x := []float64{3, -2}
	for _, c := range []struct {
		mode string
		want []float64
	}{
		{"mean_std", []float64{(3 - 1) / (2 + 1e-8), (-2 - 2) / (4 + 1e-8)}},
		{"min_max", []float64{2*(3+1)/2.0 - 1, 2*(-2-0)/1e-8 - 1}}, // zero width → eps
		{"quantiles", []float64{2*(3-0)/4.0 - 1, 2*(-2-0)/2.0 - 1}},
		{"identity", []float64{3, -2}},
	} {
		n, err := policy.NewNormalizer(c.mode, st["observation.state"], 2, 1)
		if err != nil {
			t.Fatal(err)
		}
		for i := range x {
			got := n.Apply(i, x[i])
			if math.Abs(got-c.want[i]) > 1e-9*max(1, math.Abs(c.want[i])) {
				t.Fatalf("%s[%d]: %g, want %g", c.mode, i, got, c.want[i])
			}
			if c.mode != "min_max" || i == 0 {
				if back := n.Invert(i, got); math.Abs(back-x[i]) > 1e-6 {
					t.Fatalf("%s[%d]: inverse %g, want %g", c.mode, i, back, x[i])
				}
			}
		}
	}
	if _, err := policy.NewNormalizer("mean_std", st["action"], 3, 1); err == nil || !strings.Contains(err.Error(), "want 3") {
		t.Fatalf("size mismatch: %v", err)
	}
	if _, err := policy.NewNormalizer("quantile10", st["action"], 2, 1); err == nil {
		t.Fatal("missing q10 accepted")
	}
	if _, err := policy.ParseStats([]byte(`{"a": {"mean": ["x"]}}`)); err == nil {
		t.Fatal("string stats accepted")
	}
}

// actSpec is the spec of an ACT-style model driven by the state alone,
// asking for a chunk at every policy step.
func actSpec(agg string, extra string) string {
	return "rate: 25\njoints: " + so101Joints + "\ninputs:\n  - name: observation.state\n    terms: [{kind: state}]\n" +
		"action:\n  chunk: {aggregation: " + agg + ", request_threshold: 1" + extra + "}\n"
}

type stepped struct {
	loop   *control.Loop
	clk    *control.SteppedClock
	runner *policy.Runner
	ring   *control.Ring
	step   control.Step
	wait   bool
}

func newStepped(t *testing.T, d *robot.Description, p *policy.Policy, rate float64, cfg policy.RunnerConfig, run bool) *stepped {
	t.Helper()
	s := &stepped{clk: control.NewSteppedClock(epoch), ring: control.NewRing(16), wait: run}
	var err error
	s.loop, err = control.New(control.Config{Rate: rate, Clock: s.clk, Bus: sim.NewBus(d),
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
	if run {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.runner.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	s.loop.SetSource("policy", s.runner, s.runner.Stale())
	return s
}

func (s *stepped) tick(t *testing.T) {
	now := s.clk.Now().Add(s.loop.Period())
	s.clk.SleepUntil(now)
	s.loop.Tick(now, 0)
	if s.runner != nil && s.wait {
		if err := s.runner.WaitIdle(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for s.ring.Pop(&s.step) {
	}
}

// TestChunkAggregation checks the blended targets of each aggregation mode
// exactly: a chunk is asked for at every policy step (4 loop ticks each) and
// arrives before the step's second tick; expected values are computed here
// from the chunks the runner traced.
func TestChunkAggregation(t *testing.T) {
	const C, A = 5, 6
	m := policytest.ACT(policytest.ACTConfig{State: 6, Action: A, Chunk: C, Hidden: 8, Seed: 3})
	for _, c := range []struct {
		agg, extra string
	}{
		{policy.AggLatest, ""},
		{policy.AggWeighted, ", weight: 0.6"},
		{policy.AggEnsemble, ", ensemble_coeff: 0.3"},
	} {
		t.Run(c.agg, func(t *testing.T) {
			d := so101(t)
			p, _ := bind(t, actSpec(c.agg, c.extra), m, d, policy.Config{})
			type rec struct {
				step int64
				tg   [][robot.MaxJoints]float64
			}
			var mu sync.Mutex
			var recs []rec
			s := newStepped(t, d, p, 100, policy.RunnerConfig{Trace: func(o *policy.Observation, ch *policy.Chunk) {
				mu.Lock()
				recs = append(recs, rec{o.Step, append([][robot.MaxJoints]float64(nil), ch.Targets[:ch.N]...)})
				mu.Unlock()
			}}, true)
			checked := 0
			for k := 0; k < 40*4; k++ {
				s.tick(t)
				step, sub := int64(k/4), k%4
				mu.Lock()
				var val [A]float64
				n, wsum := 0, 0.0
				for _, r := range recs {
					if r.step > step || (r.step == step && sub == 0) || step >= r.step+C {
						continue // not arrived yet, or does not cover this step
					}
					for j := 0; j < A; j++ {
						nv := r.tg[step-r.step][j]
						switch {
						case n == 0 || c.agg == policy.AggLatest:
							val[j] = nv
						case c.agg == policy.AggWeighted:
							val[j] = 0.4*val[j] + 0.6*nv
						default:
							w := math.Exp(-0.3 * float64(n))
							val[j] = (val[j]*wsum + nv*w) / (wsum + w)
						}
					}
					if c.agg == policy.AggEnsemble {
						wsum += math.Exp(-0.3 * float64(n))
					}
					n++
				}
				mu.Unlock()
				if n == 0 {
					continue
				}
				for j := 0; j < A; j++ {
					if got := s.step.Target[j]; math.Abs(got-val[j]) > 1e-12 {
						t.Fatalf("tick %d (step %d.%d) joint %d: %.15g, want %.15g (%d chunks)", k, step, sub, j, got, val[j], n)
					}
				}
				checked++
			}
			if checked < 150 || s.loop.LastTrip() != control.TripNone {
				t.Fatalf("checked %d ticks, trip %s", checked, s.loop.LastTrip())
			}
		})
	}
}

// TestMLPNewestActionAndCommands runs an MLP policy: each new action reaches
// the loop the tick after it was asked for, commands are clipped to their
// range, and Target allocates nothing.
func TestMLPNewestActionAndCommands(t *testing.T) {
	d := so101(t)
	spec := "rate: 20\njoints: " + so101Joints + "\ncommands: [{name: lin_vel_x, range: [-1, 1]}]\n" +
		"inputs: [{name: obs, terms: [{kind: joint_pos}, {kind: command, components: [lin_vel_x]}]}]\naction: {output: act, scale: 0.1}\n"
	m := policytest.MLP("obs", "act", 7, 8, 6, 2)
	p, sess := bind(t, spec, m, d, policy.Config{})
	var last atomic.Pointer[[robot.MaxJoints]float64]
	s := newStepped(t, d, p, 100, policy.RunnerConfig{Trace: func(_ *policy.Observation, ch *policy.Chunk) {
		v := ch.Targets[0]
		last.Store(&v)
	}}, true)
	if err := s.runner.SetCommand("lin_vel_x", 3); err != nil {
		t.Fatal(err)
	}
	if got := s.runner.Commands()["lin_vel_x"]; got != 1 {
		t.Fatalf("command not clipped: %g", got)
	}
	if err := s.runner.SetCommand("jump", 1); err == nil || !strings.Contains(err.Error(), `no command "jump"`) {
		t.Fatalf("unknown command: %v", err)
	}
	for k := 0; k < 100; k++ {
		s.tick(t)
		if k%5 == 1 { // the tick after a request (policy step = 5 ticks)
			want := last.Load()
			for j := 0; j < 6; j++ {
				if s.step.Target[j] != want[j] {
					t.Fatalf("tick %d joint %d: target %g, newest action %g", k, j, s.step.Target[j], want[j])
				}
			}
		}
	}
	if in := sess.Inputs()[0].Data; in[6] != 1 {
		t.Fatalf("command term %g, want the clipped 1", in[6])
	}
	st := s.runner.Stats()
	if st.Inferences != 20 || st.Missed != 0 || s.loop.LastTrip() != control.TripNone {
		t.Fatalf("stats %+v trip %s", st, s.loop.LastTrip())
	}
	// Target on the loop's thread: no allocation.
	var state robot.State
	state.N = 6
	var target [robot.MaxJoints]float64
	now := s.clk.Now()
	if a := testing.AllocsPerRun(1000, func() {
		now = now.Add(time.Millisecond)
		s.runner.Target(now, &state, &target)
	}); a != 0 {
		t.Fatalf("Target allocates %v times", a)
	}
}

// blockingSession stands for a model that takes too long: Run waits until
// released.
type blockingSession struct {
	*policytest.Session
	release chan struct{}
}

func (b *blockingSession) Run() error {
	<-b.release
	return b.Session.Run()
}

// TestStaleRunnerHolds: when inference falls behind (or never runs), the
// runner reports no fresh target, and the loop's staleness watchdog holds.
func TestStaleRunnerHolds(t *testing.T) {
	d := so101(t)
	spec := "rate: 50\njoints: " + so101Joints + "\ninputs: [{name: obs, terms: [{kind: joint_pos}]}]\naction: {output: act}\n"
	m := policytest.MLP("obs", "act", 6, 4, 6, 5)
	ps, err := policy.ParseSpec("s.yaml", ".", []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	inner, err := policytest.NewSession(m)
	if err != nil {
		t.Fatal(err)
	}
	bs := &blockingSession{Session: inner, release: make(chan struct{})}
	p, err := policy.New(ps, bs, policy.Config{Robot: d})
	if err != nil {
		t.Fatal(err)
	}
	s := newStepped(t, d, p, 500, policy.RunnerConfig{}, false)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.runner.Run(ctx) }()
	defer func() { close(bs.release); cancel(); <-done }()
	stale := s.runner.Stale()
	for k := 0; k < 500 && s.loop.Lifecycle() == robot.Active; k++ {
		s.tick(t)
	}
	if lc, trip := s.loop.Lifecycle(), s.loop.LastTrip(); lc != robot.Holding || trip != control.TripSourceStale {
		t.Fatalf("lifecycle %s trip %s, want holding after source-stale (stale %s)", lc, trip, stale)
	}
	if st := s.runner.Stats(); st.Missed == 0 {
		t.Fatalf("missed steps not counted: %+v", st)
	}
}

// TestInterpolation: with interpolate, the loop moves linearly between a
// chunk's steps.
func TestInterpolation(t *testing.T) {
	d := so101(t)
	const C = 4
	m := policytest.ACT(policytest.ACTConfig{State: 6, Action: 6, Chunk: C, Hidden: 8, Seed: 8})
	p, _ := bind(t, "rate: 25\njoints: "+so101Joints+"\ninputs:\n  - name: observation.state\n    terms: [{kind: state}]\n"+
		"action:\n  chunk: {request_threshold: 0.25, interpolate: true}\n", m, d, policy.Config{})
	var mu sync.Mutex
	var chunks [][][robot.MaxJoints]float64
	var steps []int64
	s := newStepped(t, d, p, 100, policy.RunnerConfig{Trace: func(o *policy.Observation, ch *policy.Chunk) {
		mu.Lock()
		chunks = append(chunks, append([][robot.MaxJoints]float64(nil), ch.Targets[:ch.N]...))
		steps = append(steps, o.Step)
		mu.Unlock()
	}}, true)
	s.tick(t) // step 0, tick 0: asks for the first chunk
	for sub := 1; sub < 4; sub++ {
		s.tick(t)
		mu.Lock()
		a, b := chunks[0][0][0], chunks[0][1][0]
		mu.Unlock()
		want := a + (b-a)*float64(sub)/4
		if got := s.step.Target[0]; math.Abs(got-want) > 1e-12 {
			t.Fatalf("sub-tick %d: %g, want %g", sub, got, want)
		}
	}
}

// TestTripleBuffer hammers the loop↔inference hand-over under the race
// detector: every plan the loop reads is whole.
func TestTripleBuffer(t *testing.T) {
	d := so101(t)
	m := policytest.ACT(policytest.ACTConfig{State: 6, Action: 6, Chunk: 3, Hidden: 4, Seed: 1})
	p, _ := bind(t, actSpec(policy.AggLatest, ""), m, d, policy.Config{})
	r := policy.NewRunner(p, policy.RunnerConfig{Nice: 3}) // a lower-priority inference thread
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var s robot.State
	s.N = 6
	var target [robot.MaxJoints]float64
	now := epoch
	fresh := 0
	for i := 0; i < 20000; i++ {
		// 1 ms of policy time per ~20 µs of real time: inference (tens of
		// µs) lags a few steps behind, as on a loaded machine.
		for t0 := time.Now(); time.Since(t0) < 20*time.Microsecond; {
		}
		now = now.Add(time.Millisecond)
		s.Position[0] = float64(i % 7)
		if _, f := r.Target(now, &s, &target); f {
			fresh++
		}
		for j := 0; j < 6; j++ {
			if math.IsNaN(target[j]) {
				t.Fatal("torn read")
			}
		}
	}
	cancel()
	<-done
	if st := r.Stats(); st.Inferences == 0 || fresh == 0 {
		t.Fatalf("nothing flowed: %+v, %d fresh", st, fresh)
	}
}
