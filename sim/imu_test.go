package sim

import (
	"math"
	"testing"
	"time"
)

func TestIMU(t *testing.T) {
	m := NewIMU()
	var g, w [3]float64
	if err := m.ReadIMU(time.Time{}, &g, &w); err != nil || g != [3]float64{0, 0, -1} || w != [3]float64{} {
		t.Fatalf("default: %v %v %v", g, w, err)
	}
	m.Set([3]float64{0, 3, -4}, [3]float64{0.1, 0, 0})
	_ = m.ReadIMU(time.Time{}, &g, &w)
	if math.Abs(g[1]-0.6) > 1e-12 || math.Abs(g[2]+0.8) > 1e-12 || w[0] != 0.1 {
		t.Fatalf("set: %v %v", g, w)
	}
	if a := testing.AllocsPerRun(100, func() { _ = m.ReadIMU(time.Time{}, &g, &w) }); a != 0 {
		t.Fatalf("ReadIMU allocates %v", a)
	}
}
