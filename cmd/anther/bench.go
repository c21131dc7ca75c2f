package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os/exec"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
)

func (a *app) benchCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "bench", Short: "measure the control loop and buses"}
	cmd.AddCommand(a.benchLoopCmd(), a.benchRecordCmd())
	return cmd
}

// BenchLoopResult is the output of `anther bench loop --json`.
type BenchLoopResult struct {
	Robot      string               `json:"robot"`
	RateHz     float64              `json:"rate_hz"`
	Duration   string               `json:"duration"`
	Spin       string               `json:"spin"`
	Ticks      uint64               `json:"ticks"`
	Overruns   uint64               `json:"overruns"`
	Missed     uint64               `json:"missed"`
	LatenessUS control.Summary      `json:"lateness_us"`
	Timing     control.TimingReport `json:"timing"`
	Load       []string             `json:"load,omitempty"`
	RT         *control.RTResult    `json:"rt,omitempty"`
}

func (a *app) benchLoopCmd() *cobra.Command {
	var (
		rate     float64
		duration time.Duration
		spin     time.Duration
		profile  string
		asJSON   bool
		rt       bool
		load     bool
	)
	cmd := &cobra.Command{
		Use:   "loop [--rate HZ] [--duration D] [--json]",
		Short: "run the control loop on the simulated robot with the wall clock and report timing",
		Long: `bench loop runs the real loop (wall clock, clock_nanosleep pacing on a locked
OS thread) over the in-process simulated robot and reports how late ticks woke
(p50/p99/p99.9/max in µs), overruns and per-section durations.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := robot.Load(profile)
			if err != nil {
				return err
			}
			bus := sim.NewBus(d)
			wc := control.NewWallClock(spin)
			wc.KeepP = rt // keep the P through sleeps under --rt
			cfg := control.Config{Rate: rate, Clock: wc, Bus: bus,
				Limits: control.LimitsFromDescription(d, 0.01), Logger: a.logger()}
			if rt {
				r := control.DefaultRealTime()
				cfg.RT = &r
			}
			loop, err := control.New(cfg)
			if err != nil {
				return err
			}
			loop.Request(control.RequestActivate)
			ctx, cancel := context.WithTimeout(cmd.Context(), duration)
			defer cancel()
			var loads []string
			if load {
				stopLoad, what := startLoad(ctx, a.logger())
				defer stopLoad()
				loads = what
			}
			if err := loop.Run(ctx); err != nil {
				return err
			}
			rep := loop.Timing().Report()
			res := BenchLoopResult{Robot: d.Name, RateHz: rate, Duration: duration.String(), Spin: spin.String(),
				Ticks: rep.Ticks, Overruns: rep.Overruns, Missed: rep.Missed, LatenessUS: rep.Lateness, Timing: rep,
				Load: loads, RT: loop.RTResult()}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			l := rep.Lateness
			fmt.Fprintf(a.stdout, "loop %g Hz for %s on %s (spin %s): %d ticks, %d overruns, %d missed periods\n",
				rate, duration, d.Name, spin, rep.Ticks, rep.Overruns, rep.Missed)
			if len(loads) > 0 {
				fmt.Fprintf(a.stdout, "load beside the loop: %v\n", loads)
			}
			if r := loop.RTResult(); r != nil {
				fmt.Fprintf(a.stdout, "rt applied: %v; refused: %v\n", r.Applied, r.Refused)
			}
			fmt.Fprintf(a.stdout, "lateness µs: p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n", l.P50US, l.P99US, l.P999US, l.MaxUS)
			fmt.Fprintf(a.stdout, "tick µs:     p50 %.1f  p99 %.1f  max %.1f (read p99 %.1f, write p99 %.1f)\n",
				rep.Tick.P50US, rep.Tick.P99US, rep.Tick.MaxUS, rep.Read.P99US, rep.Write.P99US)
			return nil
		},
	}
	f := cmd.Flags()
	f.Float64Var(&rate, "rate", 1000, "loop rate, Hz")
	f.DurationVar(&duration, "duration", 10*time.Second, "how long to run")
	f.DurationVar(&spin, "spin", 50*time.Microsecond, "busy-wait before each deadline")
	f.StringVar(&profile, "robot", "reachy-mini", "robot profile to simulate")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.BoolVar(&rt, "rt", false, "real-time tuning: SCHED_FIFO 80, mlockall, GOGC=off with GOMEMLIMIT=512MiB")
	f.BoolVar(&load, "load", false, "run a garbage-heavy goroutine and an ffmpeg encode beside the loop")
	return cmd
}

// startLoad starts what --load runs beside the loop and returns a stop
// function and a description of the load.
func startLoad(ctx context.Context, log *slog.Logger) (func(), []string) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	what := []string{"garbage goroutine (~200 MB/s of short-lived allocations)"}
	wg.Add(1)
	go func() {
		defer wg.Done()
		var keep [][]byte
		for ctx.Err() == nil {
			for range 1000 {
				b := make([]byte, 200+len(keep)%3000)
				keep = append(keep, b)
				if len(keep) > 4096 {
					keep = keep[:0]
				}
			}
			time.Sleep(time.Millisecond)
		}
	}()
	if path, err := exec.LookPath("ffmpeg"); err == nil {
		cmd := exec.CommandContext(ctx, path, "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi",
			"-i", "testsrc=size=640x480:rate=30", "-c:v", "libx264", "-preset", "veryfast", "-f", "null", "-")
		if err := cmd.Start(); err == nil {
			what = append(what, "ffmpeg libx264 encode of 640x480@30")
			wg.Add(1)
			go func() { defer wg.Done(); _ = cmd.Wait() }()
		} else {
			log.Warn("bench: ffmpeg would not start", "err", err)
		}
	} else {
		log.Warn("bench: ffmpeg not found; --load runs only the garbage goroutine (make deps installs ffmpeg)")
	}
	return func() { cancel(); wg.Wait() }, what
}
