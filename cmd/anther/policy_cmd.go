package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/policy"
	"github.com/anther-robotics/anther/policy/onnx"
	"github.com/anther-robotics/anther/policy/ort"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
	"github.com/anther-robotics/anther/teleop"
)

// inferenceNice is the daemon's niceness for policy inference threads: 0,
// the process's. A higher value lets the loop win the CPU when both want it
// but starves inference (and trips the staleness watchdog) under other load;
// `anther policy bench --nice N` measures the trade-off, and the loop's own
// real-time mode (--rt) is the stronger isolation.
const inferenceNice = 0

// policyCmd is `anther policy`: inspect, eval, run and bench ONNX policies.
func (a *app) policyCmd() *cobra.Command {
	var ortLib string
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "inspect, evaluate, run and benchmark ONNX policies",
		Long: `policy works with ONNX policies run by ONNX Runtime. The library is found with
--ort-lib, else $ORT_LIB, else the cache scripts/ort.sh fills (make deps).

A policy's spec (joint order, observation terms, action scaling, rate) comes from
--spec, else the model's metadata_props, else a sidecar MODEL.yaml, else
holosoma-style metadata (dof_names, kp, kd, command_ranges).`,
	}
	cmd.PersistentFlags().StringVar(&ortLib, "ort-lib", "", "ONNX Runtime shared library (default $ORT_LIB, then the cache)")
	cmd.AddCommand(a.policyInspectCmd(&ortLib), a.policyEvalCmd(&ortLib), a.policyRunCmd(&ortLib), a.policyBenchCmd(&ortLib))
	return cmd
}

// PolicyInspect is the output of `anther policy inspect --json`.
type PolicyInspect struct {
	Model       string            `json:"model"`
	Bytes       int               `json:"bytes"`
	IRVersion   int64             `json:"ir_version"`
	Opset       int64             `json:"opset"`
	Producer    string            `json:"producer"`
	Inputs      []PolicyIO        `json:"inputs"`
	Outputs     []PolicyIO        `json:"outputs"`
	Metadata    map[string]string `json:"metadata_props"`
	Operators   map[string]int    `json:"operators"`
	Parameters  int64             `json:"parameters"`
	ORT         string            `json:"onnx_runtime"` // "1.30.0: loads" or why not
	Spec        *PolicySpecInfo   `json:"spec,omitempty"`
	SpecProblem string            `json:"spec_problem,omitempty"`
}

// PolicyIO is one model input or output.
type PolicyIO struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Shape string `json:"shape"`
}

// PolicySpecInfo summarizes a spec.
type PolicySpecInfo struct {
	Source   string   `json:"source"`
	Name     string   `json:"name"`
	RateHz   float64  `json:"rate_hz"`
	Joints   []string `json:"joints"`
	Commands []string `json:"commands,omitempty"`
	Inputs   []string `json:"inputs"`
	Action   string   `json:"action"`
}

func (a *app) policyInspectCmd(ortLib *string) *cobra.Command {
	var specPath string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect MODEL [--spec S] [--json]",
		Short: "show a model's inputs, outputs, metadata_props and spec",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			data, m, err := ort.ReadModel(path)
			if err != nil {
				return err
			}
			res := PolicyInspect{Model: path, Bytes: len(data), IRVersion: m.IRVersion, Opset: m.Opset(),
				Producer: strings.TrimSpace(m.ProducerName + " " + m.ProducerVersion), Metadata: m.MetaMap(),
				Operators: map[string]int{}}
			for _, vi := range m.Graph.RealInputs() {
				res.Inputs = append(res.Inputs, PolicyIO{vi.Name, onnx.TypeName(vi.ElemType), onnx.ShapeString(vi.Shape)})
			}
			for _, vi := range m.Graph.Outputs {
				res.Outputs = append(res.Outputs, PolicyIO{vi.Name, onnx.TypeName(vi.ElemType), onnx.ShapeString(vi.Shape)})
			}
			for _, n := range m.Graph.Nodes {
				res.Operators[n.OpType]++
			}
			for _, t := range m.Graph.Initializers {
				res.Parameters += t.NumElements()
			}
			if rt, err := ort.Open(*ortLib, a.logger()); err != nil {
				res.ORT = err.Error()
			} else {
				if _, _, err := rt.Inspect(path); err != nil {
					res.ORT = rt.Version() + ": " + err.Error()
				} else {
					res.ORT = rt.Version() + ": loads"
				}
				_ = rt.Close()
			}
			if spec, err := policy.LoadSpec(path, specPath, m); err != nil {
				res.SpecProblem = err.Error()
			} else {
				res.Spec = specInfo(spec)
			}
			if asJSON {
				return writeJSONOut(a.stdout, res)
			}
			w := a.stdout
			fmt.Fprintf(w, "model     %s (%d bytes, ONNX IR %d, opset %d, %s)\n", path, res.Bytes, res.IRVersion, res.Opset, res.Producer)
			for _, io := range res.Inputs {
				fmt.Fprintf(w, "input     %s %s %s\n", io.Name, io.Type, io.Shape)
			}
			for _, io := range res.Outputs {
				fmt.Fprintf(w, "output    %s %s %s\n", io.Name, io.Type, io.Shape)
			}
			ops := make([]string, 0, len(res.Operators))
			for op, n := range res.Operators {
				ops = append(ops, fmt.Sprintf("%s×%d", op, n))
			}
			sort.Strings(ops)
			fmt.Fprintf(w, "graph     %s; %d parameters\n", strings.Join(ops, " "), res.Parameters)
			for _, k := range m.MetaKeys() {
				v := res.Metadata[k]
				if len(v) > 120 {
					v = v[:117] + "..."
				}
				fmt.Fprintf(w, "metadata  %s = %s\n", k, v)
			}
			fmt.Fprintf(w, "runtime   ONNX Runtime %s\n", res.ORT)
			if s := res.Spec; s != nil {
				fmt.Fprintf(w, "spec      %s: %q, %g Hz, %d joints\n", s.Source, s.Name, s.RateHz, len(s.Joints))
				for _, in := range s.Inputs {
					fmt.Fprintf(w, "  obs     %s\n", in)
				}
				fmt.Fprintf(w, "  action  %s\n", s.Action)
				if len(s.Commands) > 0 {
					fmt.Fprintf(w, "  commands %s\n", strings.Join(s.Commands, ", "))
				}
			} else {
				fmt.Fprintf(w, "spec      none: %s\n", res.SpecProblem)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&specPath, "spec", "", "policy spec file (default: metadata, then MODEL.yaml)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func specInfo(s *policy.Spec) *PolicySpecInfo {
	si := &PolicySpecInfo{Source: s.Source, Name: s.Name, RateHz: s.Rate, Joints: s.Joints, Inputs: s.Describe()}
	for _, c := range s.Commands {
		if c.Min == 0 && c.Max == 0 {
			si.Commands = append(si.Commands, c.Name+" (unbounded)")
		} else {
			si.Commands = append(si.Commands, fmt.Sprintf("%s [%g, %g]", c.Name, c.Min, c.Max))
		}
	}
	a := s.Action
	si.Action = fmt.Sprintf("output %q → %d joints: target = %v·a + %s", a.Output, len(s.ActionJoints()), a.Scale, a.Offset)
	if a.Clip != nil {
		si.Action += fmt.Sprintf(", raw clipped to %v", a.Clip)
	}
	si.Action += ", chunks: " + a.Chunk.Aggregation
	return si
}

func writeJSONOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (a *app) policyEvalCmd(ortLib *string) *cobra.Command {
	var input string
	cmd := &cobra.Command{
		Use:   "eval MODEL --input FILE.json",
		Short: "run one forward pass: {\"inputs\":{name:[[…]]}} in, {\"outputs\":{name:[[…]]}} out",
		Long: `eval runs the model once on the inputs in FILE.json ("-" reads stdin) and prints
every output, nested by its shape (NaN and Inf print as null). Handy for checking
an export against the framework that trained it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var data []byte
			var err error
			if input == "-" {
				data, err = io.ReadAll(os.Stdin)
			} else {
				data, err = os.ReadFile(input)
			}
			if err != nil {
				return fmt.Errorf("policy: input: %w", err)
			}
			ins, err := policy.DecodeTensorsJSON(data)
			if err != nil {
				return err
			}
			rt, err := ort.Open(*ortLib, a.logger())
			if err != nil {
				return err
			}
			defer rt.Close()
			outs, err := rt.Eval(args[0], ins)
			if err != nil {
				return err
			}
			b, err := policy.EncodeTensorsJSON(outs)
			if err != nil {
				return err
			}
			_, err = a.stdout.Write(b)
			return err
		},
	}
	cmd.Flags().StringVar(&input, "input", "", `JSON file {"inputs": {"name": [[...]]}} ("-": stdin)`)
	_ = cmd.MarkFlagRequired("input")
	return cmd
}

// policyRunOpts are the flags of `anther policy run`.
type policyRunOpts struct {
	robot, model, spec string
	rate               float64
	sim, stepped       bool
	duration           time.Duration
	commands           []string
	asJSON             bool
	port               string
	trace              string
	nice               int
}

// PolicyRunResult is the report of `anther policy run`.
type PolicyRunResult struct {
	Robot       string             `json:"robot"`
	Model       string             `json:"model"`
	Spec        string             `json:"spec_source"`
	PolicyHz    float64            `json:"policy_rate_hz"`
	LoopHz      float64            `json:"loop_rate_hz"`
	Clock       string             `json:"clock"` // "stepped" or "wall"
	Duration    string             `json:"duration"`
	Ticks       uint64             `json:"ticks"`
	Lifecycle   string             `json:"lifecycle"`
	Trip        string             `json:"trip"`
	NaNCommands uint64             `json:"nan_commands"`
	Commands    map[string]float64 `json:"commands"`
	Runner      policy.RunnerStats `json:"runner"`
	LatenessUS  control.Summary    `json:"loop_lateness_us"`
}

func (a *app) policyRunCmd(ortLib *string) *cobra.Command {
	var o policyRunOpts
	cmd := &cobra.Command{
		Use:   "run --robot NAME|FILE --model M [--spec S] [--rate HZ] [--sim [--stepped]] [--duration D]",
		Short: "run a policy on a robot (or the simulator) through the control loop",
		Long: `run loads the policy, binds it to the robot's joints by name, activates the
robot and lets the policy drive it through the control loop's safety layer, at the
policy's rate over the loop's rate, until --duration passes or Ctrl-C. Inference
runs on its own thread; if it falls behind, the loop holds the robot.

--sim runs on the in-process simulator (a fixed base: gravity 0,0,−1, no rotation).
--stepped (with --sim) runs on simulated time as fast as the machine allows, with
each inference finished before the next tick, so runs are repeatable.
It exits non-zero if a watchdog tripped or a command was not finite.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runPolicy(cmd.Context(), *ortLib, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.robot, "robot", "", "built-in profile name or description file")
	f.StringVar(&o.model, "model", "", "ONNX policy")
	f.StringVar(&o.spec, "spec", "", "policy spec (default: metadata, then MODEL.yaml)")
	f.Float64Var(&o.rate, "rate", 0, "policy rate, Hz (default: the spec's)")
	f.BoolVar(&o.sim, "sim", false, "run on the simulator")
	f.BoolVar(&o.stepped, "stepped", false, "with --sim: simulated time, as fast as possible")
	f.DurationVar(&o.duration, "duration", 0, "how long to run (0: until Ctrl-C; required with --stepped)")
	f.StringSliceVar(&o.commands, "command", nil, "operator command NAME=VALUE (repeatable), e.g. lin_vel_x=0.5")
	f.BoolVar(&o.asJSON, "json", false, "print the report as JSON")
	f.StringVar(&o.port, "port", "", "serial port for the first bus (hardware only)")
	f.IntVar(&o.nice, "nice", inferenceNice, "niceness of the inference thread (0: the process's)")
	f.StringVar(&o.trace, "trace", "", "write one JSON line per inference (state, model input, raw output) to FILE")
	_ = cmd.MarkFlagRequired("robot")
	_ = cmd.MarkFlagRequired("model")
	return cmd
}

func (a *app) runPolicy(ctx context.Context, ortLib string, o policyRunOpts) error {
	log := a.logger()
	if o.stepped && !o.sim {
		return errors.New("policy: --stepped needs --sim (hardware runs on the wall clock)")
	}
	if o.stepped && o.duration <= 0 {
		return errors.New("policy: --stepped needs --duration")
	}
	d, err := robot.Load(o.robot)
	if err != nil {
		return err
	}
	rt, err := ort.Open(ortLib, log)
	if err != nil {
		return err
	}
	defer rt.Close()
	var imu policy.IMU
	if o.sim {
		imu = sim.NewIMU()
	}
	l, err := rt.Load(o.model, ort.LoadConfig{SpecPath: o.spec, Rate: o.rate, Policy: policy.Config{Robot: d, Logger: log}})
	if err != nil {
		return err
	}
	defer l.Close()
	rcfg := policy.RunnerConfig{IMU: imu, Logger: log, Nice: o.nice}
	if o.trace != "" {
		f, err := os.Create(o.trace)
		if err != nil {
			return fmt.Errorf("policy: trace: %w", err)
		}
		tw := newTraceWriter(f, l)
		defer tw.close()
		rcfg.Trace = tw.record
	}
	runner := policy.NewRunner(l.Policy, rcfg)
	for _, c := range o.commands {
		name, val, ok := strings.Cut(c, "=")
		v, err := strconv.ParseFloat(val, 64)
		if !ok || err != nil {
			return fmt.Errorf("policy: --command %q: want NAME=NUMBER", c)
		}
		if err := runner.SetCommand(name, v); err != nil {
			return err
		}
	}

	var hw robot.Hardware
	var clk control.Clock
	switch {
	case o.sim:
		// The in-process simulator: its physics steps with the loop's
		// clock, so it also runs on simulated time.
		hw = sim.NewBus(d)
	default:
		if o.port != "" && len(d.Buses) > 0 {
			d.Buses[0].Port = o.port
		}
		if hw, err = openHardware(d, runOpts{robot: o.robot, port: o.port, spin: 50 * time.Microsecond}); err != nil {
			return err
		}
	}
	defer hw.Close()
	if err := hw.Configure(ctx); err != nil {
		return fmt.Errorf("configure %s: %w", d.Name, err)
	}
	stepped := control.NewSteppedClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if o.stepped {
		clk = stepped
	} else {
		clk = control.NewWallClock(50 * time.Microsecond)
	}
	ring := control.NewRing(256)
	loop, err := control.New(control.Config{Rate: d.Rate, Clock: clk, Bus: hw,
		Limits: control.LimitsFromDescription(d, 0.01), Sinks: []control.Sink{ring}, Logger: log})
	if err != nil {
		return err
	}
	log.Info("policy run", "robot", d.Name, "model", o.model, "spec", l.Spec.Source, "policy_hz", l.Spec.Rate,
		"loop_hz", d.Rate, "joints", len(l.Spec.Joints), "stepped", o.stepped)

	runCtx, stopRunner := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- runner.Run(runCtx) }()
	defer func() {
		stopRunner()
		<-runDone
	}()

	var nanCmds uint64
	var st control.Step
	drain := func() {
		for ring.Pop(&st) {
			for i := 0; i < len(d.Joints); i++ {
				if v := st.Command.Position[i]; math.IsNaN(v) || math.IsInf(v, 0) {
					nanCmds++
				}
			}
		}
	}
	name := "policy:" + l.Spec.Name
	start := clk.Now()
	if o.stepped {
		if err := loop.Start(clk.Now()); err != nil {
			return err
		}
		tick := func() error {
			now := stepped.Now().Add(loop.Period())
			stepped.SleepUntil(now)
			loop.Tick(now, 0)
			drain()
			return runner.WaitIdle(ctx)
		}
		loop.Request(control.RequestActivate)
		if err := tick(); err != nil {
			return err
		}
		runner.Reset()
		loop.SetSource(name, runner, runner.Stale())
		for n := int64(o.duration / loop.Period()); n > 0; n-- {
			if err := tick(); err != nil {
				return err
			}
			if ctx.Err() != nil {
				break
			}
		}
	} else {
		loopCtx, stopLoop := context.WithCancel(context.Background())
		loopDone := make(chan error, 1)
		go func() { loopDone <- loop.Run(loopCtx) }()
		loop.Request(control.RequestActivate)
		for deadline := time.Now().Add(2 * time.Second); loop.Lifecycle() != robot.Active; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				stopLoop()
				<-loopDone
				return fmt.Errorf("policy: robot did not activate (lifecycle %s, trip %s)", loop.Lifecycle(), loop.LastTrip())
			}
		}
		runner.Reset()
		loop.SetSource(name, runner, runner.Stale())
		var timeout <-chan time.Time
		if o.duration > 0 {
			timeout = time.After(o.duration)
		}
		poll := time.NewTicker(10 * time.Millisecond)
	wait:
		for {
			select {
			case <-ctx.Done():
				break wait
			case <-timeout:
				break wait
			case err := <-loopDone:
				loopDone <- err
				break wait
			case <-poll.C:
				drain()
			}
		}
		poll.Stop()
		stopLoop()
		if err := <-loopDone; err != nil {
			return err
		}
		drain()
	}
	rep := loop.Timing().Report()
	res := PolicyRunResult{Robot: d.Name, Model: o.model, Spec: l.Spec.Source, PolicyHz: l.Spec.Rate, LoopHz: d.Rate,
		Clock: map[bool]string{true: "stepped", false: "wall"}[o.stepped], Duration: clk.Now().Sub(start).Round(time.Millisecond).String(),
		Ticks: rep.Ticks, Lifecycle: loop.Lifecycle().String(), Trip: loop.LastTrip().String(), NaNCommands: nanCmds,
		Commands: runner.Commands(), Runner: runner.Stats(), LatenessUS: rep.Lateness}
	if o.asJSON {
		if err := writeJSONOut(a.stdout, res); err != nil {
			return err
		}
	} else {
		r := res.Runner
		fmt.Fprintf(a.stdout, "%s on %s: %s of %s time, %d ticks at %g Hz, policy %g Hz\n", filepath.Base(o.model), d.Name,
			res.Duration, res.Clock, res.Ticks, d.Rate, res.PolicyHz)
		fmt.Fprintf(a.stdout, "inferences %d, missed steps %d, errors %d, NaN outputs %d; latency µs p50 %.1f p99 %.1f max %.1f\n",
			r.Inferences, r.Missed, r.Errors, r.NaNOutputs, r.Latency.P50US, r.Latency.P99US, r.Latency.MaxUS)
		fmt.Fprintf(a.stdout, "lifecycle %s, trip %s, non-finite commands %d\n", res.Lifecycle, res.Trip, res.NaNCommands)
	}
	if res.Trip != control.TripNone.String() || res.NaNCommands != 0 {
		return fmt.Errorf("policy: the run failed: trip %s, %d non-finite commands", res.Trip, res.NaNCommands)
	}
	return nil
}

// PolicyTraceLine is one line of `anther policy run --trace`: what one
// inference saw and produced.
type PolicyTraceLine struct {
	Step     int64                `json:"step"`
	Position []float64            `json:"position"` // robot joint order
	Velocity []float64            `json:"velocity"`
	Gravity  [3]float64           `json:"gravity"`
	Gyro     [3]float64           `json:"gyro"`
	Commands map[string]float64   `json:"commands,omitempty"`
	Inputs   map[string][]float32 `json:"inputs"` // model inputs as fed, flattened
	Raw      []float32            `json:"raw"`    // actions after clipping, before scaling
}

// traceWriter writes trace lines from the inference goroutine (it allocates
// and does I/O there: a debugging aid that slows inference down).
type traceWriter struct {
	mu  sync.Mutex
	f   *os.File
	enc *json.Encoder
	l   *ort.Loaded
	n   int
	err error
}

func newTraceWriter(f *os.File, l *ort.Loaded) *traceWriter {
	return &traceWriter{f: f, enc: json.NewEncoder(f), l: l}
}

func (tw *traceWriter) record(o *policy.Observation, c *policy.Chunk) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	line := PolicyTraceLine{Step: o.Step, Position: append([]float64(nil), o.State.Position[:o.State.N]...),
		Velocity: append([]float64(nil), o.State.Velocity[:o.State.N]...), Gravity: o.Gravity, Gyro: o.Gyro,
		Inputs: map[string][]float32{}, Raw: append([]float32(nil), c.Raw...), Commands: map[string]float64{}}
	for i, cs := range tw.l.Spec.Commands {
		line.Commands[cs.Name] = o.Commands[i]
	}
	for _, t := range tw.l.Session.Inputs() {
		line.Inputs[t.Name] = append([]float32(nil), t.Data...)
	}
	if err := tw.enc.Encode(line); err != nil && tw.err == nil {
		tw.err = err
	}
}

func (tw *traceWriter) close() {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	_ = tw.f.Close()
}

// PolicyBenchResult is the report of `anther policy bench`.
type PolicyBenchResult struct {
	Model          string                `json:"model"`
	Robot          string                `json:"robot"`
	Runs           int                   `json:"runs"`
	Bare           policy.LatencySummary `json:"bare_run_us"`    // onnxruntime_go Run on prebuilt tensors
	Infer          policy.LatencySummary `json:"infer_us"`       // observation + Run + action decoding
	Session        policy.LatencySummary `json:"session_run_us"` // the wrapper's Session.Run
	OverheadPct    float64               `json:"wrapper_overhead_pct"`
	InferOverPct   float64               `json:"infer_overhead_pct"`
	AllocsPerInfer float64               `json:"allocs_per_inference"`
	Loop           *LoopBench            `json:"loop,omitempty"`
}

// LoopBench compares the loop's wake-up lateness with and without a policy.
type LoopBench struct {
	LoopHz       float64         `json:"loop_rate_hz"`
	PolicyHz     float64         `json:"policy_rate_hz"`
	Duration     string          `json:"duration_each"`
	Segments     int             `json:"segments"`
	P99Without   float64         `json:"p99_without_us"` // median over segments
	P99With      float64         `json:"p99_with_us"`
	RatioP99     float64         `json:"p99_ratio"`
	Without      control.Summary `json:"last_without_us"`
	With         control.Summary `json:"last_with_us"`
	Inferences   uint64          `json:"inferences"`
	Trip         string          `json:"trip"`
	TripsWithout int             `json:"trips_without"`
	TripsWith    int             `json:"trips_with"`
	OverrunsOff  uint64          `json:"overruns_without"`
	OverrunsOn   uint64          `json:"overruns_with"`
}

func (a *app) policyBenchCmd(ortLib *string) *cobra.Command {
	var (
		robotName, specPath string
		runs                int
		loopRate, rate      float64
		loopDur             time.Duration
		asJSON              bool
		segments, nice      int
	)
	cmd := &cobra.Command{
		Use:   "bench MODEL --robot NAME|FILE [--spec S] [--runs N] [--loop-duration D] [--json]",
		Short: "measure inference latency, wrapper overhead, allocations and the loop's lateness",
		Long: `bench measures, for one model: inference latency p50/p99 of a bare onnxruntime_go
Run over prebuilt tensors, of the wrapper's Session.Run, and of a whole policy step
(observation building + Run + action decoding), interleaved in blocks; Go
allocations per inference; and, with --loop-duration > 0, the control loop's
wake-up lateness on the wall clock (in-process simulator) without and then with the
policy running at --rate (default the spec's) over --loop-rate.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := robot.Load(robotName)
			if err != nil {
				return err
			}
			rt, err := ort.Open(*ortLib, a.logger())
			if err != nil {
				return err
			}
			defer rt.Close()
			l, err := rt.Load(args[0], ort.LoadConfig{SpecPath: specPath, Rate: rate, Policy: policy.Config{Robot: d, Logger: a.logger()}})
			if err != nil {
				return err
			}
			defer l.Close()
			res := benchInference(l, runs)
			res.Model, res.Robot = args[0], d.Name
			if loopDur > 0 {
				lb, err := benchLoop(cmd.Context(), d, l, loopRate, loopDur, segments, nice)
				if err != nil {
					return err
				}
				res.Loop = lb
			}
			if asJSON {
				return writeJSONOut(a.stdout, res)
			}
			w := a.stdout
			fmt.Fprintf(w, "%s on %s, %d runs each (µs):\n", filepath.Base(args[0]), d.Name, runs)
			for _, r := range []struct {
				n string
				s policy.LatencySummary
			}{{"bare Run", res.Bare}, {"Session.Run", res.Session}, {"policy step", res.Infer}} {
				fmt.Fprintf(w, "  %-12s p50 %7.2f  p99 %7.2f  mean %7.2f  max %8.1f\n", r.n, r.s.P50US, r.s.P99US, r.s.MeanUS, r.s.MaxUS)
			}
			fmt.Fprintf(w, "wrapper overhead (Session.Run vs bare, p50): %+.1f%%; whole step vs bare: %+.1f%%\n", res.OverheadPct, res.InferOverPct)
			fmt.Fprintf(w, "Go allocations per inference: %g\n", res.AllocsPerInfer)
			if lb := res.Loop; lb != nil {
				fmt.Fprintf(w, "loop %g Hz, %s each in %d alternating segments: lateness p99 (median of segments) %.1f µs without policy, %.1f µs with a %g Hz policy (×%.2f); overruns %d / %d; %d inferences; trips %d / %d (%s)\n",
					lb.LoopHz, lb.Duration, lb.Segments, lb.P99Without, lb.P99With, lb.PolicyHz, lb.RatioP99,
					lb.OverrunsOff, lb.OverrunsOn, lb.Inferences, lb.TripsWithout, lb.TripsWith, lb.Trip)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&robotName, "robot", "", "robot the policy binds to (profile or file)")
	f.StringVar(&specPath, "spec", "", "policy spec (default: metadata, then MODEL.yaml)")
	f.IntVar(&runs, "runs", 5000, "inferences per measurement")
	f.Float64Var(&loopRate, "loop-rate", 500, "loop rate for the lateness comparison, Hz")
	f.Float64Var(&rate, "rate", 0, "policy rate, Hz (default: the spec's)")
	f.DurationVar(&loopDur, "loop-duration", 10*time.Second, "loop run per case (0 skips the loop comparison)")
	f.IntVar(&segments, "segments", 5, "alternate the two loop cases in this many segments")
	f.IntVar(&nice, "nice", inferenceNice, "niceness of the inference thread (0: the process's)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("robot")
	return cmd
}

// benchInference times bare runs, wrapper runs and whole policy steps in
// interleaved blocks, so drift in the machine's load affects all three.
func benchInference(l *ort.Loaded, runs int) PolicyBenchResult {
	runs = max(runs, 100)
	var bare, sess, infer policy.Latency
	b := l.Session.Bare()
	ch := l.Policy.NewChunk()
	var o policy.Observation
	o.Gravity = [3]float64{0, 0, -1}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for i := 0; i < 200; i++ { // warm up
		_ = b.Run()
		_ = l.Policy.Infer(&o, ch)
	}
	const block = 100
	for done := 0; done < runs; done += block {
		for i := 0; i < block; i++ {
			t0 := time.Now()
			_ = b.Run()
			bare.Add(time.Since(t0))
		}
		for i := 0; i < block; i++ {
			t0 := time.Now()
			_ = l.Session.Run()
			sess.Add(time.Since(t0))
		}
		for i := 0; i < block; i++ {
			o.Step++
			t0 := time.Now()
			_ = l.Policy.Infer(&o, ch)
			infer.Add(time.Since(t0))
		}
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for i := 0; i < runs; i++ {
		o.Step++
		_ = l.Policy.Infer(&o, ch)
	}
	runtime.ReadMemStats(&m1)
	res := PolicyBenchResult{Runs: runs, Bare: bare.Summary(), Session: sess.Summary(), Infer: infer.Summary(),
		AllocsPerInfer: float64(m1.Mallocs-m0.Mallocs) / float64(runs)}
	if res.Bare.P50US > 0 {
		res.OverheadPct = 100 * (res.Session.P50US - res.Bare.P50US) / res.Bare.P50US
		res.InferOverPct = 100 * (res.Infer.P50US - res.Bare.P50US) / res.Bare.P50US
	}
	return res
}

// benchLoop runs the wall-clock loop on the in-process simulator without,
// then with, the policy, alternating in segments (so that other load on the
// machine hits both alike), and compares wake-up lateness: the median over
// segments of each segment's p99.
func benchLoop(ctx context.Context, d *robot.Description, l *ort.Loaded, rate float64, dur time.Duration, segments, nice int) (*LoopBench, error) {
	run := func(withPolicy bool, dur time.Duration) (control.TimingReport, uint64, control.Trip, error) {
		loop, err := control.New(control.Config{Rate: rate, Clock: control.NewWallClock(50 * time.Microsecond), Bus: sim.NewBus(d),
			Limits: control.LimitsFromDescription(d, 0.01), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return control.TimingReport{}, 0, 0, err
		}
		var runner *policy.Runner
		var wg sync.WaitGroup
		rctx, cancelRunner := context.WithCancel(context.Background())
		defer func() { cancelRunner(); wg.Wait() }()
		if withPolicy {
			runner = policy.NewRunner(l.Policy, policy.RunnerConfig{Logger: slog.New(slog.DiscardHandler), Nice: nice})
			wg.Add(1)
			go func() { defer wg.Done(); _ = runner.Run(rctx) }()
		}
		lctx, cancel := context.WithTimeout(ctx, dur)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- loop.Run(lctx) }()
		loop.Request(control.RequestActivate)
		if runner != nil {
			for loop.Lifecycle() != robot.Active && lctx.Err() == nil {
				time.Sleep(time.Millisecond)
			}
			runner.Reset()
			loop.SetSource("policy", runner, runner.Stale())
		}
		err = <-done
		var n uint64
		if runner != nil {
			n = runner.Stats().Inferences
		}
		return loop.Timing().Report(), n, loop.LastTrip(), err
	}
	segments = max(segments, 1)
	seg := dur / time.Duration(segments)
	lb := &LoopBench{LoopHz: rate, PolicyHz: l.Spec.Rate, Duration: dur.String(), Segments: segments, Trip: "none"}
	var p99off, p99on []float64
	for i := 0; i < segments; i++ {
		for _, with := range []bool{false, true} {
			rep, n, trip, err := run(with, seg)
			if err != nil {
				return nil, err
			}
			if trip != control.TripNone {
				lb.Trip = trip.String()
				if with {
					lb.TripsWith++
				} else {
					lb.TripsWithout++
				}
			}
			if with {
				p99on = append(p99on, rep.Lateness.P99US)
				lb.With, lb.OverrunsOn, lb.Inferences = rep.Lateness, lb.OverrunsOn+rep.Overruns, lb.Inferences+n
			} else {
				p99off = append(p99off, rep.Lateness.P99US)
				lb.Without, lb.OverrunsOff = rep.Lateness, lb.OverrunsOff+rep.Overruns
			}
		}
	}
	lb.P99Without, lb.P99With = median(p99off), median(p99on)
	if lb.P99Without > 0 {
		lb.RatioP99 = lb.P99With / lb.P99Without
	}
	return lb, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// policyManager runs policies for the daemon: it implements
// teleop.PolicyController (load, start, stop, commands, status) over one
// ONNX Runtime, opened on the first load.
type policyManager struct {
	desc   *robot.Description
	loop   *control.Loop
	log    *slog.Logger
	ortLib string
	imu    policy.IMU
	// images are the daemon's cameras for policies with image inputs (set
	// before the first load); a stale camera fails inference, so the loop
	// holds.
	images map[string]policy.ImageSource

	mu      sync.Mutex
	rt      *ort.Runtime
	loaded  *ort.Loaded
	runner  *policy.Runner
	model   string
	cancel  context.CancelFunc
	done    chan error
	running bool
}

// newPolicyManager prepares the daemon's policy control (nothing is loaded
// until LoadPolicy). imu may be nil (a fixed, upright base).
func newPolicyManager(d *robot.Description, loop *control.Loop, log *slog.Logger, ortLib string, imu policy.IMU) *policyManager {
	return &policyManager{desc: d, loop: loop, log: log, ortLib: ortLib, imu: imu}
}

var _ teleop.PolicyController = (*policyManager)(nil)

// LoadPolicy loads a model (stopping and replacing any loaded one).
func (m *policyManager) LoadPolicy(ctx context.Context, req teleop.PolicyLoadRequest) (teleop.PolicyStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rt == nil {
		rt, err := ort.Open(m.ortLib, m.log)
		if err != nil {
			return m.statusLocked(), err
		}
		m.rt = rt
	}
	l, err := m.rt.Load(req.Model, ort.LoadConfig{SpecPath: req.Spec, Rate: req.Rate, Policy: policy.Config{Robot: m.desc, Logger: m.log, Images: m.images}})
	if err != nil {
		return m.statusLocked(), err
	}
	m.stopLocked()
	m.unloadLocked()
	m.loaded, m.model = l, req.Model
	m.runner = policy.NewRunner(l.Policy, policy.RunnerConfig{IMU: m.imu, Logger: m.log, Nice: inferenceNice})
	m.log.Info("policy loaded", "model", req.Model, "spec", l.Spec.Source, "rate_hz", l.Spec.Rate, "joints", len(l.Spec.Joints))
	return m.statusLocked(), nil
}

// StartPolicy makes the loaded policy the loop's source of intent.
func (m *policyManager) StartPolicy(context.Context) (teleop.PolicyStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.loaded == nil:
		return m.statusLocked(), fmt.Errorf("policy: nothing loaded (POST /api/policy/load first): %w", teleop.ErrPolicyState)
	case m.running:
		return m.statusLocked(), nil
	case m.loop.Lifecycle() != robot.Active:
		return m.statusLocked(), fmt.Errorf("policy: robot is %s: activate it first: %w", m.loop.Lifecycle(), teleop.ErrPolicyState)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel, m.done = cancel, make(chan error, 1)
	r := m.runner
	go func() { m.done <- r.Run(ctx) }()
	r.Reset()
	m.loop.SetSource("policy:"+m.loaded.Spec.Name, r, r.Stale())
	m.running = true
	m.log.Info("policy started", "policy", m.loaded.Spec.Name)
	return m.statusLocked(), nil
}

// StopPolicy returns the loop to holding and stops inference.
func (m *policyManager) StopPolicy(context.Context) (teleop.PolicyStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stopLocked()
	return m.statusLocked(), nil
}

func (m *policyManager) stopLocked() {
	if !m.running {
		return
	}
	m.loop.SetSource("", nil, 0)
	m.cancel()
	<-m.done
	m.running = false
	m.log.Info("policy stopped", "policy", m.loaded.Spec.Name)
}

func (m *policyManager) unloadLocked() {
	if m.loaded != nil {
		_ = m.loaded.Close()
		m.loaded, m.runner = nil, nil
	}
}

// SetPolicyCommands sets operator commands (velocities, ...).
func (m *policyManager) SetPolicyCommands(cmds map[string]float64) (teleop.PolicyStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.runner == nil {
		return m.statusLocked(), fmt.Errorf("policy: nothing loaded: %w", teleop.ErrPolicyState)
	}
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := m.runner.SetCommand(n, cmds[n]); err != nil {
			return m.statusLocked(), err
		}
	}
	return m.statusLocked(), nil
}

// PolicyStatus reports what is loaded and running.
func (m *policyManager) PolicyStatus() teleop.PolicyStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.statusLocked()
}

func (m *policyManager) statusLocked() teleop.PolicyStatus {
	st := teleop.PolicyStatus{Loaded: m.loaded != nil, Running: m.running}
	if m.loaded != nil {
		sp := m.loaded.Spec
		st.Name, st.Model, st.Spec, st.RateHz, st.Joints = sp.Name, m.model, sp.Source, sp.Rate, sp.Joints
		st.Commands = m.runner.Commands()
		st.Stats = m.runner.Stats()
	}
	return st
}

// Close stops any policy and releases ONNX Runtime.
func (m *policyManager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stopLocked()
	m.unloadLocked()
	if m.rt != nil {
		err := m.rt.Close()
		m.rt = nil
		return err
	}
	return nil
}
