package control

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/anther-robotics/anther/robot"
)

// For random target streams — NaN, ±Inf, huge jumps, targets far outside the
// limits — every command stays inside the position limits and moves within
// the velocity (step) and acceleration limits.
func TestLimiterPropertyRandomStreams(t *testing.T) {
	const dt = 0.002
	lims := []JointLimits{
		{Min: -1, Max: 1, Margin: 0.01, MaxVel: 3, MaxAcc: 30, MaxTorque: 1},
		{Min: -0.2, Max: 2.5, Margin: 0.05, MaxVel: 0.5, MaxAcc: 2, MaxTorque: 0.5},
		{Min: -3, Max: 3, Margin: 0, MaxVel: 10, MaxAcc: 500, MaxTorque: 2},
	}
	weird := []float64{math.NaN(), math.Inf(1), math.Inf(-1), 1e300, -1e300, 0}
	rng := rand.New(rand.NewPCG(1, 2))
	hardContacts := 0
	for run := range 200 {
		l := NewLimiter(lims, dt)
		var s robot.State
		for i := range lims {
			s.Position[i] = lims[i].Min + rng.Float64()*(lims[i].Max-lims[i].Min)
		}
		l.Reset(&s)
		var target [robot.MaxJoints]float64
		var c robot.Command
		prevPos := [3]float64{s.Position[0], s.Position[1], s.Position[2]}
		prevVel := [3]float64{}
		for k := range 2000 {
			for i, lim := range lims {
				switch r := rng.IntN(100); {
				case r < 5:
					target[i] = weird[rng.IntN(len(weird))]
				case r < 15:
					target[i] = (rng.Float64()*4 - 2) * (lim.Max - lim.Min) // far jumps
				case r < 30:
					target[i] = lim.Min + rng.Float64()*(lim.Max-lim.Min)
				}
			}
			l.Apply(&target, &c)
			for i, lim := range lims {
				p := c.Position[i]
				if math.IsNaN(p) || p < lim.Min-1e-12 || p > lim.Max+1e-12 {
					t.Fatalf("run %d tick %d joint %d: command %v outside [%v, %v]", run, k, i, p, lim.Min, lim.Max)
				}
				v := (p - prevPos[i]) / dt
				if math.Abs(v) > lim.MaxVel*(1+1e-9) {
					t.Fatalf("run %d tick %d joint %d: velocity %v over %v (step %v)", run, k, i, v, lim.MaxVel, p-prevPos[i])
				}
				a := (v - prevVel[i]) / dt
				atHard := p <= lim.Min+1e-12 || p >= lim.Max-1e-12
				if math.Abs(a) > lim.MaxAcc*(1+1e-6) {
					if !atHard {
						t.Fatalf("run %d tick %d joint %d: acceleration %v over %v away from the hard limits", run, k, i, a, lim.MaxAcc)
					}
					hardContacts++
				}
				prevPos[i], prevVel[i] = p, v
			}
		}
	}
	t.Logf("acceleration bound yielded to a hard position limit %d times in 1.2M joint-ticks", hardContacts)
}

// A fixed target is reached, and held exactly, without oscillation.
func TestLimiterConverges(t *testing.T) {
	const dt = 0.01
	l := NewLimiter([]JointLimits{{Min: -2, Max: 2, MaxVel: 1, MaxAcc: 4, MaxTorque: 1}}, dt)
	var s robot.State
	l.Reset(&s)
	var target [robot.MaxJoints]float64
	target[0] = 1.5
	var c robot.Command
	reached := -1
	for k := range 500 {
		l.Apply(&target, &c)
		if c.Position[0] > 1.5+0.05 {
			t.Fatalf("tick %d: overshot a fixed target to %v", k, c.Position[0])
		}
		if reached < 0 && c.Position[0] == 1.5 {
			reached = k
		}
		if reached >= 0 && c.Position[0] != 1.5 {
			t.Fatalf("tick %d: left the target after reaching it (%v)", k, c.Position[0])
		}
	}
	// 1.5 rad at 1 rad/s with 0.25 s ramps ≈ 1.75 s.
	if reached < 0 || reached > 200 {
		t.Fatalf("reached the target at tick %d, want within 2 s", reached)
	}
}

func TestLimiterNaNHoldsAndFlags(t *testing.T) {
	l := NewLimiter([]JointLimits{{Min: -1, Max: 1, MaxVel: 1, MaxAcc: 10, MaxTorque: 1}}, 0.01)
	var s robot.State
	s.Position[0] = 0.3
	l.Reset(&s)
	var target [robot.MaxJoints]float64
	target[0] = math.NaN()
	var c robot.Command
	l.Apply(&target, &c)
	if c.Position[0] != 0.3 || c.Clamped != 1 {
		t.Fatalf("NaN target gave %v clamped=%b, want hold 0.3 and flag", c.Position[0], c.Clamped)
	}
	target[0] = 5
	l.Apply(&target, &c)
	if c.Clamped != 1 || c.Limited != 1 {
		t.Fatalf("out-of-range target: clamped=%b limited=%b", c.Clamped, c.Limited)
	}
}

// A joint found outside its limits is brought back gradually, not snapped.
func TestLimiterOutsideLimitsComesBackSmoothly(t *testing.T) {
	l := NewLimiter([]JointLimits{{Min: -1, Max: 1, MaxVel: 1, MaxAcc: 10, MaxTorque: 1}}, 0.01)
	var s robot.State
	s.Position[0] = 1.4
	l.Reset(&s)
	target := [robot.MaxJoints]float64{1.4}
	var c robot.Command
	prev := 1.4
	for range 100 {
		l.Apply(&target, &c)
		if step := math.Abs(c.Position[0] - prev); step > 0.01+1e-12 {
			t.Fatalf("stepped %v in one tick", step)
		}
		prev = c.Position[0]
	}
	if prev > 1 {
		t.Fatalf("still outside the limits at %v", prev)
	}
}
