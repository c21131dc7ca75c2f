package control_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/drivers/dynamixel"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
)

// firmwareRig is the Reachy Mini on the simulator as `anther run --sim`
// builds it — the real Dynamixel driver over an in-process virtual bus whose
// devices run the servo firmware — on a stepped clock, so every fault below
// happens at a known tick.
type firmwareRig struct {
	l     *control.Loop
	clk   *control.SteppedClock
	vb    *sim.VirtualBus
	port  *sim.Port
	noise *noisyPort
	d     *robot.Description
}

// noisyPort models electrical noise on the wire: while on, every chunk the
// host reads has one bit flipped, so every reply fails its CRC.
type noisyPort struct {
	*sim.Port
	on atomic.Bool
}

func (p *noisyPort) Read(b []byte) (int, error) {
	n, err := p.Port.Read(b)
	if n > 0 && p.on.Load() {
		b[n/2] ^= 0x40
	}
	return n, err
}

func newFirmwareRig(t *testing.T) *firmwareRig {
	t.Helper()
	d, err := robot.Load("reachy-mini")
	if err != nil {
		t.Fatal(err)
	}
	// Start at the wall time: the driver plans its slow checks against
	// real deadlines.
	clk := control.NewSteppedClock(time.Now())
	cfg, err := dynamixel.ConfigFromDescription(d, "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	vb, err := sim.NewVirtualBus(d, "main", sim.VirtualConfig{Baud: cfg.Baud})
	if err != nil {
		t.Fatal(err)
	}
	port := vb.Port(clk)
	noise := &noisyPort{Port: port}
	// The driver budgets each Read in real time, while the stepped clock
	// only models the wire: a generous budget keeps its periodic torque
	// check from being skipped on a slow (race-instrumented, loaded) run.
	cfg.Budget = 100 * time.Millisecond
	bus := dynamixel.NewBus(noise, cfg)
	if err := bus.Configure(context.Background()); err != nil {
		t.Fatal(err)
	}
	l, err := control.New(control.Config{Rate: d.Rate, Clock: clk, Bus: bus, Limits: control.LimitsFromDescription(d, 0.01)})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(clk.Now()); err != nil {
		t.Fatal(err)
	}
	r := &firmwareRig{l: l, clk: clk, vb: vb, port: port, noise: noise, d: d}
	l.Request(control.RequestActivate)
	r.ticks(20)
	if l.Lifecycle() != robot.Active {
		t.Fatalf("not active: %v (trip %v)", l.Lifecycle(), l.LastTrip())
	}
	return r
}

func (r *firmwareRig) ticks(n int) {
	for range n {
		next := r.l.Period()
		now := r.clk.Now()
		deadline := now.Add(next)
		r.clk.SleepUntil(deadline)
		r.l.Tick(deadline, 0)
	}
}

// until ticks until the lifecycle is want; it returns the ticks taken, or
// fails after max.
func (r *firmwareRig) until(t *testing.T, want robot.Lifecycle, max int) int {
	t.Helper()
	for k := 1; k <= max; k++ {
		r.ticks(1)
		if r.l.Lifecycle() == want {
			return k
		}
	}
	t.Fatalf("lifecycle %v after %d ticks, want %v (trip %v, last bus error %v)", r.l.Lifecycle(), max, want, r.l.LastTrip(), r.l.LastBusError())
	return 0
}

// The fault matrix on the firmware simulator: each fault reaches its
// defined end state within its bound, and the trip says why. (Policy NaN and
// stall, heartbeat loss, clock jump and overrun streaks are in
// safety_test.go.)
func TestFaultMatrixOnFirmwareSim(t *testing.T) {
	const overheat = 1 << 2 // Hardware Error Status bit 2
	for _, tc := range []struct {
		name   string
		inject func(r *firmwareRig)
		each   func(r *firmwareRig) // before every tick after the injection
		want   robot.Lifecycle
		trip   control.Trip
		bound  int // ticks
		joint  int // joint named in the trip, -1 for none
	}{
		{name: "serial device vanishes", inject: func(r *firmwareRig) { r.port.Unplug() },
			want: robot.Fault, trip: control.TripBusErrors, bound: 11, joint: -1},
		{name: "overheating error", inject: func(r *firmwareRig) { r.vb.InjectHardwareError(13, overheat, r.port.Now()) },
			want: robot.Fault, trip: control.TripMotorFault, bound: 3, joint: 3},
		{name: "motor reboots", inject: func(r *firmwareRig) { r.vb.Reboot(15, r.port.Now()) },
			want: robot.Fault, trip: control.TripMotorFault, bound: 250, joint: 5}, // found by the torque check every 100 reads
		{name: "CRC storm", inject: func(r *firmwareRig) { r.noise.on.Store(true) },
			want: robot.Fault, trip: control.TripBusErrors, bound: 11, joint: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newFirmwareRig(t)
			if tc.inject != nil {
				tc.inject(r)
			}
			k := 0
			for ; k < tc.bound && r.l.Lifecycle() != tc.want; k++ {
				if tc.each != nil {
					tc.each(r)
				}
				r.ticks(1)
			}
			if r.l.Lifecycle() != tc.want {
				t.Fatalf("after %d ticks: lifecycle %v trip %v (last bus error %v), want %v",
					k, r.l.Lifecycle(), r.l.LastTrip(), r.l.LastBusError(), tc.want)
			}
			st := r.l.SafetyStatus()
			if st.Trip != tc.trip.String() {
				t.Fatalf("trip %q, want %q", st.Trip, tc.trip)
			}
			if tc.joint >= 0 && (len(st.Joints) != 1 || st.Joints[0] != tc.joint) {
				t.Fatalf("trip names joints %v, want [%d] (%s)", st.Joints, tc.joint, r.d.Joints[tc.joint].Name)
			}
			t.Logf("%s → %v (%s) after %d ticks; last bus error: %v", tc.name, tc.want, st.Trip, k, r.l.LastBusError())
		})
	}
}

// A short burst of corrupted replies is retried and counted; the robot
// stays active.
func TestShortCRCBurstIsRetried(t *testing.T) {
	r := newFirmwareRig(t)
	for range 3 {
		r.vb.CorruptNextReply(12)
		r.ticks(1)
	}
	r.ticks(50)
	if r.l.Lifecycle() != robot.Active {
		t.Fatalf("a 3-tick CRC burst left the robot %v (trip %v)", r.l.Lifecycle(), r.l.LastTrip())
	}
}

// torqueWatch records when the host writes Torque Enable = 0 (a SYNC_WRITE
// or WRITE to address 64) to the bus.
type torqueWatch struct {
	*sim.Port
	at atomic.Int64 // unix ns of the first torque-off packet after arming
}

func (p *torqueWatch) Write(b []byte) (int, error) {
	if len(b) > 10 && b[0] == 0xFF && b[1] == 0xFF && b[2] == 0xFD && (b[7] == 0x83 || b[7] == 0x03) {
		addr := int(b[8]) | int(b[9])<<8 // both instructions start with the address
		if addr == 64 && p.at.Load() == 0 {
			p.at.Store(time.Now().UnixNano())
		}
	}
	return p.Port.Write(b)
}

// BenchmarkEStopLatency measures, on the firmware simulator (Reachy Mini at
// 4 Mbps) with the loop at 500 Hz on the wall clock, the time from an e-stop request to the
// torque-off packet on the bus, in ticks: "api" is what POST /api/estop,
// the console and MQTT do (Loop.EStop); "signal" is what SIGINT/SIGTERM do
// (the loop's context ends; Run halts the bus on its way out).
func BenchmarkEStopLatency(b *testing.B) {
	for _, path := range []string{"api", "signal"} {
		b.Run(path, func(b *testing.B) {
			d, err := robot.Load("reachy-mini")
			if err != nil {
				b.Fatal(err)
			}
			// 500 Hz needs the bus at 4 Mbps with fast sync reads (a 9-motor
			// cycle takes ~0.55 ms there, ~2.7 ms at 1 Mbps).
			d.Buses[0].Baud, d.Buses[0].Read = 4000000, "fast"
			const rate = 500.0
			period := time.Duration(float64(time.Second) / rate)
			var lat []float64
			for b.Loop() {
				cfg, _ := dynamixel.ConfigFromDescription(d, "main", nil)
				cfg.Budget = period / 2
				vb, err := sim.NewVirtualBus(d, "main", sim.VirtualConfig{Baud: cfg.Baud})
				if err != nil {
					b.Fatal(err)
				}
				watch := &torqueWatch{Port: vb.Port(control.NewWallClock(20 * time.Microsecond))}
				bus := dynamixel.NewBus(watch, cfg)
				if err := bus.Configure(context.Background()); err != nil {
					b.Fatal(err)
				}
				l, err := control.New(control.Config{Rate: rate, Bus: bus, Limits: control.LimitsFromDescription(d, 0.01),
					Clock: control.NewWallClock(20 * time.Microsecond)})
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- l.Run(ctx) }()
				l.Request(control.RequestActivate)
				for l.Lifecycle() != robot.Active {
					time.Sleep(time.Millisecond)
				}
				time.Sleep(20 * time.Millisecond)
				watch.at.Store(0)
				t0 := time.Now()
				if path == "api" {
					l.EStop()
				} else {
					cancel()
				}
				for watch.at.Load() == 0 && time.Since(t0) < 2*time.Second {
					time.Sleep(50 * time.Microsecond)
				}
				if at := watch.at.Load(); at != 0 {
					lat = append(lat, float64(time.Duration(at-t0.UnixNano()))/float64(period))
				}
				cancel()
				<-done
				bus.Close()
			}
			if len(lat) == 0 {
				b.Fatal("no torque-off packet seen")
			}
			slices.Sort(lat)
			b.ReportMetric(lat[len(lat)/2], "p50-ticks")
			b.ReportMetric(lat[min(len(lat)-1, int(0.99*float64(len(lat))))], "p99-ticks")
		})
	}
}
