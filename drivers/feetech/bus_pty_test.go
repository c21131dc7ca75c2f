//go:build linux

package feetech_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/drivers/feetech"
	"github.com/anther-robotics/anther/drivers/serialport"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
)

// These tests run the Bus against the simulator's STS3215 firmware over a
// real pseudo-terminal, opened with drivers/serialport as a USB adapter
// would be.

type ptyRig struct {
	d   *robot.Description
	fb  *sim.FeetechBus
	pt  *sim.Pty
	bus *feetech.Bus
}

func servePty(t testing.TB, baud int, mut func(*feetech.BusConfig)) *ptyRig {
	t.Helper()
	d := so101(t)
	fb, err := sim.NewFeetechBus(d, "arm", sim.FeetechConfig{Baud: baud})
	if err != nil {
		t.Fatal(err)
	}
	pt, err := sim.NewPty(fb, sim.PtyConfig{})
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pt.Run(ctx) }()
	port, err := serialport.Open(pt.Path(), baud)
	if err != nil {
		cancel()
		<-done
		t.Fatal(err)
	}
	cfg, err := feetech.ConfigFromDescription(d, "arm", nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Baud = baud
	cfg.Logger = quiet()
	cfg.Latency = 20 * time.Millisecond
	if mut != nil {
		mut(&cfg)
	}
	bus := feetech.NewBus(port, cfg)
	t.Cleanup(func() {
		bus.Close()
		cancel()
		if err := <-done; err != nil && !errors.Is(err, sim.ErrUnplugged) {
			t.Errorf("pty Run: %v", err)
		}
	})
	return &ptyRig{d: d, fb: fb, pt: pt, bus: bus}
}

func TestPtyConfigureCycleFaults(t *testing.T) {
	r := servePty(t, 1000000, func(c *feetech.BusConfig) { c.CheckEvery = 5 })
	ctx := context.Background()
	if err := r.bus.Configure(ctx); err != nil {
		t.Fatal(err)
	}
	devs, err := r.bus.Scan(ctx, feetech.ScanOptions{Window: 50 * time.Millisecond})
	if err != nil || len(devs) != 6 {
		t.Fatalf("scan over the pty: %+v %v", devs, err)
	}
	var target [robot.MaxJoints]float64
	for j := range 6 {
		target[j] = -0.2
	}
	var s robot.State
	took := cycle(t, r.bus, 200, &target, &s)
	for j := 0; j < 6; j++ {
		if math.Abs(s.Position[j]+0.2) > 0.02 {
			t.Errorf("joint %d at %.3f after 200 ticks towards -0.2", j, s.Position[j])
		}
	}
	slices.Sort(took)
	// The ticks are spaced, so the SYNC_WRITE's wire time has passed before
	// the next read: a tick waits for the read's request and replies only.
	wire := feetech.WireTime(14+6*14, 1000000)
	t.Logf("cycle p50 %v p99 %v; read wire time %v, read+write %v", took[len(took)/2], took[len(took)*99/100], wire, r.bus.CycleWireTime())
	if took[len(took)/2] < wire {
		t.Errorf("cycle p50 %v below the read's wire time %v: the timing model is not in the loop", took[len(took)/2], wire)
	}
	before := r.bus.Stats()
	for _, inject := range []func(){
		func() { r.fb.CorruptNextReply(2) },
		func() { r.fb.DropNextReply(4) },
		func() { r.fb.InjectGarbage([]byte{0xFF, 0xFF, 0x01, 0x30, 0x00, 0xFF}) },
	} {
		inject()
		cycle(t, r.bus, 3, &target, &s)
	}
	if st := r.bus.Stats(); st.Retries == before.Retries || st.Corrupt == before.Corrupt || st.Garbage == before.Garbage {
		t.Errorf("faults over the pty not counted: %+v → %+v", before, st)
	}
	if err := r.bus.Halt(); err != nil {
		t.Errorf("halt: %v", err)
	}
	if err := r.pt.Unplug(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err = r.bus.Read(time.Now(), &s); err != nil {
			break
		}
	}
	if err == nil || feetech.IsTransient(err) && !errors.Is(err, feetech.ErrNoReply) {
		t.Errorf("read from an unplugged adapter: %v", err)
	}
}

// BenchmarkBusCyclePty is one Read+Write of the six SO-101 servos over the
// pty virtual bus, with the measured cycle (p50, p99) beside the wire-time
// limit.
func BenchmarkBusCyclePty(b *testing.B) {
	r := servePty(b, 1000000, func(c *feetech.BusConfig) { c.Latency = 0 })
	if err := r.bus.Configure(context.Background()); err != nil {
		b.Fatal(err)
	}
	var s robot.State
	var c robot.Command
	c.Torque = true
	took := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		_ = r.bus.Read(t0, &s)
		c.Position[0] = float64(i%100) * 0.001
		if err := r.bus.Write(t0, &c); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(r.bus.CycleWireTime().Microseconds()), "wire-µs")
}

// BenchmarkBusLoopRate runs the real control loop (wall clock, absolute
// deadlines) on the six-servo bus at 1 Mbps at rising rates for 1 s each
// and reports the highest rate with under 1% overruns and under 1% failed
// ticks: over the pty (the simulator's wire-time model plus a real
// transport) and over the in-process port (the wire-time model alone).
// Run it with -benchtime 1x on an otherwise idle machine: the simulator
// shares the CPU.
func BenchmarkBusLoopRate(b *testing.B) {
	for _, transport := range []string{"pty", "inprocess"} {
		b.Run(transport, func(b *testing.B) {
			best := 0.0
			for _, rate := range []float64{100, 200, 300, 400, 500, 600, 700, 800} {
				budget := time.Duration(float64(time.Second) / rate / 2)
				mut := func(c *feetech.BusConfig) { c.Latency = 0; c.Budget = budget }
				var bus *feetech.Bus
				var d *robot.Description
				if transport == "pty" {
					r := servePty(b, 1000000, mut)
					bus, d = r.bus, r.d
				} else {
					r := newRig(b, nil, mut)
					bus, d = r.bus, r.d
				}
				if err := bus.Configure(context.Background()); err != nil {
					b.Fatal(err)
				}
				loop, err := control.New(control.Config{Rate: rate, Clock: control.NewWallClock(50 * time.Microsecond),
					Bus: bus, Limits: control.LimitsFromDescription(d, 0.01), Logger: quiet()})
				if err != nil {
					b.Fatal(err)
				}
				loop.Request(control.RequestActivate)
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				err = loop.Run(ctx)
				cancel()
				if err != nil {
					b.Fatal(err)
				}
				rep := loop.Timing().Report()
				ok := rep.Ticks > 0 && float64(rep.Overruns) < 0.01*float64(rep.Ticks) &&
					float64(loop.BusErrors()) < 0.01*float64(rep.Ticks)
				b.Logf("%s: %4.0f Hz: %d ticks, %d overruns, %d bus errors, tick p99 %.0f µs, read p50 %.0f µs",
					transport, rate, rep.Ticks, rep.Overruns, loop.BusErrors(), rep.Tick.P99US, rep.Read.P50US)
				bus.Close()
				if !ok {
					break
				}
				best = rate
			}
			b.ReportMetric(best, "max-Hz")
			b.ReportMetric(float64(feetech.WireTime(14+6*14+26, 1000000).Microseconds()), "wire-µs")
			b.ReportMetric(1e6/float64(feetech.WireTime(14+6*14+26, 1000000).Microseconds()), "wire-limit-Hz")
		})
	}
}
