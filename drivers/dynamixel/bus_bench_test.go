package dynamixel

import (
	"testing"
	"time"

	"github.com/anther-robotics/anther/robot"
)

// BenchmarkBusCycle measures one Read plus Write of the Reachy Mini bus (9
// motors) on the in-memory fake port: the host-side cost of a tick, with
// the wire time it would take at 1 Mbps reported beside it (the fake has no
// wire). The pty benchmarks (bus_pty_test.go) add a real transport.
func BenchmarkBusCycle(b *testing.B) {
	for _, mode := range []ReadMode{ReadSync, ReadFast} {
		b.Run("fake/"+mode.String(), func(b *testing.B) {
			_, bus := reachyFake(b, func(c *BusConfig) { c.Read = mode })
			var s robot.State
			var c robot.Command
			c.Torque = true
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := bus.Read(time.Now(), &s); err != nil {
					b.Fatal(err)
				}
				c.Position[0] = float64(i%100) * 0.001
				if err := bus.Write(time.Now(), &c); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(bus.CycleWireTime().Microseconds()), "wire-µs@1M")
		})
	}
}
