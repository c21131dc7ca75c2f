//go:build linux

package dynamixel_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/drivers/dynamixel"
	"github.com/anther-robotics/anther/drivers/serialport"
	"github.com/anther-robotics/anther/firmware/actuator"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
)

// These tests run the Bus against the simulator's firmware devices over a
// real pseudo-terminal, opened with drivers/serialport as a USB adapter
// would be: the Reachy Mini bus, nine motors, IDs 10–18.

// ptyRig is a served virtual bus and the host's Bus on its pty.
type ptyRig struct {
	d   *robot.Description
	vb  *sim.VirtualBus
	pt  *sim.Pty
	bus *dynamixel.Bus
}

func ptyQuiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// servePtyBus serves reachy-mini's bus at baud on a pty and opens a Bus on
// it; joints false gives a Bus without joints, for management calls.
func servePtyBus(t testing.TB, baud int, joints bool, mut func(*dynamixel.BusConfig)) *ptyRig {
	t.Helper()
	d, err := robot.Load("reachy-mini")
	if err != nil {
		t.Fatal(err)
	}
	vb, err := sim.NewVirtualBus(d, "main", sim.VirtualConfig{Baud: baud})
	if err != nil {
		t.Fatal(err)
	}
	pt, err := sim.NewPty(vb, sim.PtyConfig{})
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
	cfg := dynamixel.BusConfig{Name: "main", Baud: baud}
	if joints {
		if cfg, err = dynamixel.ConfigFromDescription(d, "main", nil); err != nil {
			t.Fatal(err)
		}
		cfg.Baud = baud
	}
	cfg.Logger = ptyQuiet()
	// The simulator shares the CPU with the host and, here, with whatever
	// else the machine runs: allow for scheduling delays in the functional
	// tests (the benchmarks set their own).
	cfg.Latency = 20 * time.Millisecond
	cfg.Retries = 4
	cfg.Budget = time.Second
	if mut != nil {
		mut(&cfg)
	}
	bus := dynamixel.NewBus(port, cfg)
	t.Cleanup(func() {
		bus.Close()
		cancel()
		if err := <-done; err != nil && !errors.Is(err, sim.ErrUnplugged) {
			t.Errorf("pty Run: %v", err)
		}
	})
	return &ptyRig{d: d, vb: vb, pt: pt, bus: bus}
}

func TestPtyScanReachyMini(t *testing.T) {
	r := servePtyBus(t, 1000000, false, nil)
	ctx := context.Background()
	// The default window, as `anther bus scan` uses it.
	devs, err := r.bus.Scan(ctx, dynamixel.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[byte]string{10: "XC330-M288-T", 11: "XL330-M288-T", 12: "XL330-M288-T", 13: "XL330-M288-T",
		14: "XL330-M288-T", 15: "XL330-M288-T", 16: "XL330-M288-T", 17: "XL330-M077-T", 18: "XL330-M077-T"}
	if len(devs) != 9 {
		t.Fatalf("scan found %d motors: %+v", len(devs), devs)
	}
	for _, d := range devs {
		if want[d.ID] != d.ModelName || d.Baud != 1000000 {
			t.Errorf("found %+v, want %s at 1 Mbps", d, want[d.ID])
		}
	}
	// (A pty carries no baud rate: scans of other rates are tested on the
	// in-process port below.)
	if d, err := r.bus.Ping(ctx, 17); err != nil || d.Model != 1190 || d.Firmware == 0 {
		t.Errorf("ping 17: %+v %v", d, err)
	}
	if v, err := r.bus.ReadRegister(ctx, 12, dynamixel.AddrPresentPosition, 4); err != nil || v != 2048 {
		t.Errorf("present position of 12: %d %v", v, err)
	}
}

// cycle runs Read+Write n times commanding target on every joint and
// returns the cycle durations. Transient read errors are tolerated in up
// to a quarter of the ticks: the simulator shares the CPU with the host
// (and with whatever else the machine runs), and a starved simulator is
// a silent bus. Anything else fails the test.
func cycle(t testing.TB, bus *dynamixel.Bus, n int, target float64, s *robot.State) []time.Duration {
	t.Helper()
	var c robot.Command
	c.Torque = true
	for j := 0; j < 9; j++ {
		c.Position[j] = target
	}
	took := make([]time.Duration, 0, n)
	transient := 0
	for i := 0; i < n; i++ {
		t0 := time.Now()
		if err := bus.Read(t0, s); err != nil {
			if !dynamixel.IsTransient(err) {
				t.Fatalf("tick %d read: %v", i, err)
			}
			transient++
			t.Logf("tick %d read: %v (faults %v)", i, err, s.Fault[:9])
		}
		if err := bus.Write(t0, &c); err != nil {
			t.Fatalf("tick %d write: %v", i, err)
		}
		took = append(took, time.Since(t0))
	}
	if transient > n/4 {
		t.Fatalf("%d of %d ticks failed", transient, n)
	}
	return took
}

// TestInProcessPort runs the Bus on the simulator's in-process port, which
// models baud rates: scans over several rates, and setting up a motor at
// factory settings.
func TestInProcessPort(t *testing.T) {
	ctx := context.Background()
	d, err := robot.Load("reachy-mini")
	if err != nil {
		t.Fatal(err)
	}
	vb, err := sim.NewVirtualBus(d, "main", sim.VirtualConfig{})
	if err != nil {
		t.Fatal(err)
	}
	bus := dynamixel.NewBus(vb.Port(control.NewWallClock(0)), dynamixel.BusConfig{Logger: ptyQuiet()})
	devs, err := bus.Scan(ctx, dynamixel.ScanOptions{Bauds: []int{57600, 4000000, 1000000}, Window: 20 * time.Millisecond})
	if err != nil || len(devs) != 9 || devs[0].ID != 10 || devs[8].ID != 18 {
		t.Fatalf("scan of three rates: %+v %v", devs, err)
	}
	if _, err := bus.Ping(ctx, 10); err != nil {
		t.Errorf("port not back at 1 Mbps: %v", err)
	}

	// A new motor: ID 1 at 57 600 baud, return delay 500 µs.
	fd, err := robot.Parse("factory.yaml", []byte(`name: factory
rate: 100
buses: [{name: main, protocol: dynamixel2, port: /dev/null, baud: 57600}]
joints: [{name: m, bus: main, id: 1, model: xl330-m288, min: -3, max: 3}]
`))
	if err != nil {
		t.Fatal(err)
	}
	vb, err = sim.NewVirtualBus(fd, "main", sim.VirtualConfig{ReturnDelay: 500 * time.Microsecond})
	if err != nil {
		t.Fatal(err)
	}
	bus = dynamixel.NewBus(vb.Port(control.NewWallClock(0)), dynamixel.BusConfig{Baud: 1000000, Logger: ptyQuiet()})
	if err := vb.SetBaud(1000000); err != nil { // the host's port starts at 1 Mbps
		t.Fatal(err)
	}
	res, err := bus.SetupMotor(ctx, dynamixel.SetupOptions{ID: 11, Model: 1200, Window: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || res.Found.ID != 1 || res.Found.Baud != 57600 || res.Device.ID != 11 || res.Device.Baud != 1000000 {
		t.Errorf("setup: %+v", res)
	}
	if !vb.WithDevice(11, 0, func(d *actuator.Device) {
		if d.Baud() != 1000000 || d.ReturnDelay() != 0 {
			t.Errorf("device: baud %d, return delay %v", d.Baud(), d.ReturnDelay())
		}
	}) {
		t.Error("no device 11 after setup")
	}
}

func TestPtyConfigureAndCycle(t *testing.T) {
	for _, tc := range []struct {
		baud int
		mode dynamixel.ReadMode
	}{{1000000, dynamixel.ReadSync}, {1000000, dynamixel.ReadFast}, {4000000, dynamixel.ReadSync}} {
		t.Run(tc.mode.String()+"@"+baudName(tc.baud), func(t *testing.T) {
			r := servePtyBus(t, tc.baud, true, func(c *dynamixel.BusConfig) { c.Read = tc.mode })
			if err := r.bus.Configure(context.Background()); err != nil {
				t.Fatal(err)
			}
			var s robot.State
			took := cycle(t, r.bus, 300, 0.3, &s)
			for j := 0; j < 9; j++ {
				if math.Abs(s.Position[j]-0.3) > 0.05 || s.Fault[j] != 0 {
					t.Errorf("joint %d at %.3f rad (fault %v) after 300 ticks towards 0.3", j, s.Position[j], s.Fault[j])
				}
			}
			// Retries may happen on a loaded machine (the simulator shares
			// the CPU); damaged packets may not.
			st := r.bus.Stats()
			if st.Corrupt != 0 || st.Reads != 301 {
				t.Errorf("clean bus: %+v", st)
			}
			t.Logf("stats: %+v", st)
			slices.Sort(took)
			p50, p99 := took[len(took)/2], took[len(took)*99/100]
			wire := r.bus.CycleWireTime()
			t.Logf("%s @ %d: cycle p50 %v p99 %v max %v; wire-time limit %v (read timeout %v)",
				tc.mode, tc.baud, p50, p99, took[len(took)-1], wire, r.bus.ReadTimeout())
			if p50 < wire {
				t.Errorf("cycle p50 %v is below the wire time %v: the simulator's timing model is not in the loop", p50, wire)
			}
		})
	}
}

func TestPtyFaults(t *testing.T) {
	for _, mode := range []dynamixel.ReadMode{dynamixel.ReadSync, dynamixel.ReadFast} {
		t.Run(mode.String(), func(t *testing.T) {
			r := servePtyBus(t, 1000000, true, func(c *dynamixel.BusConfig) { c.Read = mode; c.CheckEvery = 5 })
			ctx := context.Background()
			bus, vb := r.bus, r.vb
			if err := bus.Configure(ctx); err != nil {
				t.Fatal(err)
			}
			var s robot.State
			cycle(t, bus, 5, 0, &s)
			// Every Read stays within its retries, and (give or take a
			// machine busy enough to stall the test) its time budget.
			read := func() error {
				t.Helper()
				r0 := bus.Stats().Retries
				t0 := time.Now()
				err := bus.Read(t0, &s)
				if d := time.Since(t0); d > bus.Budget()+time.Second {
					t.Errorf("a Read took %v, budget %v", d, bus.Budget())
				}
				if n := bus.Stats().Retries - r0; n > 4 {
					t.Errorf("a Read retried %d times, Retries is 4", n)
				}
				return err
			}

			// Transient faults are retried within the tick. (Three tries
			// each: a starved simulator makes a tick fail now and then.)
			recovers := func(what string, inject func()) {
				t.Helper()
				var err error
				for range 3 {
					inject()
					if err = read(); err == nil {
						return
					}
					if !dynamixel.IsTransient(err) {
						t.Fatalf("%s: %v", what, err)
					}
				}
				t.Errorf("%s: not recovered within the tick: %v", what, err)
			}
			c0 := bus.Stats().Corrupt
			recovers("corrupted CRC", func() { vb.CorruptNextReply(12) })
			recovers("dropped reply", func() { vb.DropNextReply(13) })
			recovers("garbage between packets", func() {
				vb.InjectGarbage([]byte{0xFF, 0xFF, 0xFD, 0x00, 0xFE, 0xFF, 0x00, 0x42, 0x13})
			})
			if st := bus.Stats(); st.Corrupt == c0 || st.Retries < 2 || st.Garbage == 0 {
				t.Errorf("stats after faults: %+v", st)
			}

			// Device reboot mid-run: silent while it boots, then back with
			// torque off, which the bus reports instead of hiding.
			if !vb.Reboot(14, r.pt.Now()) {
				t.Fatal("no device 14")
			}
			var err error
			deadline := time.Now().Add(2 * time.Second)
			for !errors.Is(err, dynamixel.ErrTorqueLost) && time.Now().Before(deadline) {
				err = read()
				if err != nil && !errors.Is(err, dynamixel.ErrNoReply) && !errors.Is(err, dynamixel.ErrTorqueLost) {
					t.Fatalf("during the reboot: %v", err)
				}
				var c robot.Command
				c.Torque = true
				if werr := bus.Write(time.Now(), &c); werr != nil {
					t.Fatal(werr)
				}
			}
			if !errors.Is(err, dynamixel.ErrTorqueLost) || s.Fault[4]&robot.FaultTorqueOff == 0 {
				t.Fatalf("rebooted motor: %v, fault %v", err, s.Fault[4])
			}
			var c robot.Command
			_ = bus.Write(time.Now(), &c) // the loop cycles torque
			cycle(t, bus, 3, 0, &s)
			torque := false
			vb.WithDevice(14, r.pt.Now(), func(d *actuator.Device) { torque = d.TorqueEnabled() })
			if !torque {
				t.Error("torque not back on the rebooted motor after a torque cycle")
			}

			// Overheating: fatal, classified, the joint faulted, others fine.
			vb.InjectHardwareError(15, actuator.ErrorOverheating, r.pt.Now())
			err = read()
			if !errors.Is(err, dynamixel.ErrHardware) || dynamixel.IsTransient(err) {
				t.Fatalf("overheating: %v", err)
			}
			if s.Fault[5]&robot.FaultOverheat == 0 || s.Fault[4] != 0 {
				t.Errorf("faults: joint 5 %v, joint 4 %v", s.Fault[5], s.Fault[4])
			}
			h := bus.Health(nil)
			if h[5].ID != 15 || h[5].HardwareError&dynamixel.HWErrOverheat == 0 {
				t.Errorf("health %+v", h[5])
			}
			if err := bus.Reboot(ctx, 15); err != nil {
				t.Fatal(err)
			}

			// A motor that stays silent: bounded retries, then no-reply.
			for range 3 {
				vb.DropNextReply(16)
				err = read()
				if err == nil {
					break // the retry got through
				}
			}
			if err := bus.Halt(); err != nil {
				t.Errorf("halt: %v", err)
			}
			for _, id := range vb.IDs() {
				vb.WithDevice(id, r.pt.Now(), func(d *actuator.Device) {
					if d.TorqueEnabled() {
						t.Errorf("id %d torque on after Halt", id)
					}
				})
			}
		})
	}
}

func TestPtyNoReplyBounded(t *testing.T) {
	r := servePtyBus(t, 1000000, true, func(c *dynamixel.BusConfig) { c.Retries = -1 })
	if err := r.bus.Configure(context.Background()); err != nil {
		t.Fatal(err)
	}
	var s robot.State
	r.vb.DropNextReply(11)
	err := r.bus.Read(time.Now(), &s)
	if !errors.Is(err, dynamixel.ErrNoReply) || !dynamixel.IsTransient(err) || s.Fault[1] != robot.FaultNoReply {
		t.Fatalf("dropped reply without retries: %v %v", err, s.Fault[1])
	}
	for j := 0; j < 9; j++ {
		if j != 1 && s.Fault[j] != 0 {
			t.Errorf("joint %d fault %v", j, s.Fault[j])
		}
	}
}

func TestPtyUnplugged(t *testing.T) {
	r := servePtyBus(t, 1000000, true, nil)
	if err := r.bus.Configure(context.Background()); err != nil {
		t.Fatal(err)
	}
	var s robot.State
	if err := r.pt.Unplug(); err != nil {
		t.Fatal(err)
	}
	var err error
	for range 3 {
		if err = r.bus.Read(time.Now(), &s); err != nil {
			break
		}
	}
	if err == nil || dynamixel.IsTransient(err) && !errors.Is(err, dynamixel.ErrNoReply) {
		t.Errorf("read from an unplugged adapter: %v", err)
	}
}

// BenchmarkBusCyclePty is one Read+Write of the nine Reachy Mini motors
// over the pty virtual bus. It reports the measured cycle (p50, p99)
// beside the wire-time limit of hardware.md §3.9.
func BenchmarkBusCyclePty(b *testing.B) {
	for _, tc := range []struct {
		baud int
		mode dynamixel.ReadMode
	}{{1000000, dynamixel.ReadSync}, {1000000, dynamixel.ReadFast}, {4000000, dynamixel.ReadSync}, {4000000, dynamixel.ReadFast}} {
		b.Run(tc.mode.String()+"@"+baudName(tc.baud), func(b *testing.B) {
			r := servePtyBus(b, tc.baud, true, func(c *dynamixel.BusConfig) {
				c.Read, c.Latency, c.Retries, c.Budget = tc.mode, 0, 0, 0 // the defaults
			})
			if err := r.bus.Configure(context.Background()); err != nil {
				b.Fatal(err)
			}
			var s robot.State
			b.ReportAllocs()
			b.ResetTimer()
			took := cycle(b, r.bus, b.N, 0.1, &s)
			b.StopTimer()
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(float64(r.bus.CycleWireTime().Microseconds()), "wire-µs")
		})
	}
}

// BenchmarkBusLoopRate runs the real control loop (wall clock, absolute
// deadlines) on the pty virtual bus at rising rates for 1 s each and
// reports the highest rate with under 1% overruns and under 2% failed
// ticks (a single failing rate is taken for a stall of the machine; two in
// a row end the sweep). Run it with -benchtime 1x, on an otherwise idle
// machine: the simulator shares the CPU.
func BenchmarkBusLoopRate(b *testing.B) {
	for _, tc := range []struct {
		baud int
		mode dynamixel.ReadMode
	}{{1000000, dynamixel.ReadSync}, {1000000, dynamixel.ReadFast}, {4000000, dynamixel.ReadSync}, {4000000, dynamixel.ReadFast}} {
		b.Run(tc.mode.String()+"@"+baudName(tc.baud), func(b *testing.B) {
			best, fails := 0.0, 0
			for _, rate := range []float64{100, 150, 200, 250, 300, 350, 400, 500, 600, 700, 800, 900, 1000, 1200, 1500} {
				r := servePtyBus(b, tc.baud, true, func(c *dynamixel.BusConfig) {
					c.Read = tc.mode
					c.Latency = 0                                               // the default, 2 ms
					c.Budget = time.Duration(0.7 * float64(time.Second) / rate) // as anther run sets it
				})
				if err := r.bus.Configure(context.Background()); err != nil {
					b.Fatal(err)
				}
				loop, err := control.New(control.Config{Rate: rate, Clock: control.NewWallClock(50 * time.Microsecond),
					Bus: r.bus, Limits: control.LimitsFromDescription(r.d, 0.01), Logger: ptyQuiet()})
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
					float64(loop.BusErrors()) < 0.02*float64(rep.Ticks)
				b.Logf("%s @ %d: %4.0f Hz: %d ticks, %d overruns, %d bus errors, tick p99 %.0f µs",
					tc.mode, tc.baud, rate, rep.Ticks, rep.Overruns, loop.BusErrors(), rep.Tick.P99US)
				if ok {
					best, fails = rate, 0
				} else if fails++; fails == 2 {
					break // two rates in a row failed: past the limit, not a stall
				}
			}
			b.ReportMetric(best, "max-Hz")
		})
	}
}

func baudName(n int) string {
	if n%1000000 == 0 {
		return string(rune('0'+n/1000000)) + "M"
	}
	var buf [12]byte
	i := len(buf)
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return string(buf[i:])
}
