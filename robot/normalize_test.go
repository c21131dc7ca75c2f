package robot

import (
	"math"
	"testing"
)

func TestNormalizeLeRobot(t *testing.T) {
	// Values worked by hand from LeRobot's _normalize / _unnormalize.
	c := MotorCalibration{ID: 1, HomingOffset: -1024, RangeMin: 750, RangeMax: 3300}
	rev := c
	rev.DriveMode = 1
	tests := []struct {
		cal   MotorCalibration
		mode  NormMode
		ticks float64
		want  float64
	}{
		{c, NormDegrees, 2025, 0},
		{c, NormDegrees, 3048, 1023 * 360.0 / 4095},
		{c, NormDegrees, 100, (100 - 2025) * 360.0 / 4095}, // not clipped
		{c, NormRangeM100_100, 750, -100},
		{c, NormRangeM100_100, 3300, 100},
		{c, NormRangeM100_100, 2025, 0},
		{c, NormRangeM100_100, 10, -100}, // clipped
		{rev, NormRangeM100_100, 750, 100},
		{c, NormRange0_100, 750, 0},
		{c, NormRange0_100, 3300, 100},
		{c, NormRange0_100, 1387.5, 25},
		{rev, NormRange0_100, 1387.5, 75},
		{rev, NormDegrees, 3048, 1023 * 360.0 / 4095}, // drive mode ignored
	}
	for _, tt := range tests {
		if got := tt.cal.Normalize(tt.mode, tt.ticks, 4096); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%v drive %d: %v ticks → %v, want %v", tt.mode, tt.cal.DriveMode, tt.ticks, got, tt.want)
		}
	}
	un := []struct {
		cal  MotorCalibration
		mode NormMode
		v    float64
		want int
	}{
		{c, NormDegrees, 0, 2025},
		{c, NormDegrees, 90, 3048},  // int(1023.75 + 2025) = 3048
		{c, NormDegrees, -90, 1001}, // int(-1023.75 + 2025) = int(1001.25)
		{c, NormRangeM100_100, 0, 2025},
		{c, NormRangeM100_100, 150, 3300}, // clipped
		{rev, NormRangeM100_100, 100, 750},
		{c, NormRange0_100, 25, 1387},
		{rev, NormRange0_100, 25, 2662}, // int(0.75·2550 + 750) = int(2662.5)
	}
	for _, tt := range un {
		if got := tt.cal.Unnormalize(tt.mode, tt.v, 4096); got != tt.want {
			t.Errorf("%v drive %d: %v → %d ticks, want %d", tt.mode, tt.cal.DriveMode, tt.v, got, tt.want)
		}
	}
	for _, s := range []string{"DEGREES", "RANGE_M100_100", "RANGE_0_100"} {
		m, err := ParseNormMode(s)
		if err != nil || m.String() != s {
			t.Errorf("ParseNormMode(%q) = %v, %v", s, m, err)
		}
	}
	if _, err := ParseNormMode("MINMAX"); err == nil {
		t.Error("ParseNormMode accepted MINMAX")
	}
}

func TestNormalizerSO101(t *testing.T) {
	d, err := Load("so101-follower")
	if err != nil {
		t.Fatal(err)
	}
	cal, err := ReadCalibration("testdata/so101_follower_calibration.json")
	if err != nil {
		t.Fatal(err)
	}
	z, err := NewNormalizer(d, cal, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"shoulder_pan.pos", "shoulder_lift.pos", "elbow_flex.pos", "wrist_flex.pos", "wrist_roll.pos", "gripper.pos"}
	for i, n := range z.Names() {
		if n != want[i] {
			t.Errorf("name %d: %s, want %s", i, n, want[i])
		}
	}
	if z.Mode(5) != NormRange0_100 || z.Mode(0) != NormDegrees {
		t.Errorf("modes %v %v", z.Mode(0), z.Mode(5))
	}
	// A bus reading of tick T (TickMap) gives LeRobot's number for T.
	var pos [MaxJoints]float64
	ticks := []int{2025, 3000, 1000, 2020, 4000, 2030}
	for i, j := range d.Joints {
		c := cal[j.Name]
		pos[i] = NewTickMap(j, Motors[j.Model], &c).Radians(float64(ticks[i]))
	}
	out := make([]float32, 6)
	z.FromRadians(out, &pos)
	for i, j := range d.Joints {
		c := cal[j.Name]
		mode := NormDegrees
		if j.Name == "gripper" {
			mode = NormRange0_100
		}
		if w := c.Normalize(mode, float64(ticks[i]), 4096); math.Abs(float64(out[i])-w) > 1e-4 {
			t.Errorf("%s: %v, want %v", j.Name, out[i], w)
		}
	}
	if math.Abs(float64(out[0])) > 1e-6 || math.Abs(float64(out[5])) > 1e-6 {
		t.Errorf("range middle / minimum: %v %v", out[0], out[5])
	}
	// Degrees are the angle in degrees (Direction +1, Offset 0).
	if got := z.Value(1, math.Pi/2); math.Abs(got-90) > 1e-9 {
		t.Errorf("π/2 rad → %v", got)
	}
	// Back: the angle of the tick LeRobot would write.
	var back [MaxJoints]float64
	z.ToRadians(&back, out)
	for i := range d.Joints {
		if math.Abs(back[i]-pos[i]) > 2*2*math.Pi/4095 { // float32 then int(): up to one tick low
			t.Errorf("joint %d: %v rad → %v → %v rad", i, pos[i], out[i], back[i])
		}
	}
	if a := testing.AllocsPerRun(100, func() { z.FromRadians(out, &pos) }); a != 0 {
		t.Errorf("FromRadians: %v allocs", a)
	}
}

func TestTickMap(t *testing.T) {
	j := JointSpec{Direction: -1, Offset: 0.5}
	m := Motors["sts3215"]
	tm := NewTickMap(j, m, nil)
	if tm.Center != 2047.5 || math.Abs(tm.Radians(2047.5)-0.5) > 1e-12 {
		t.Errorf("uncalibrated: %+v", tm)
	}
	if got := tm.Radians(2047.5 + 4095.0/4); math.Abs(got-(0.5-math.Pi/2)) > 1e-12 {
		t.Errorf("quarter turn: %v", got)
	}
	for _, tick := range []float64{0, 1000, 4095} {
		if got := tm.Ticks(tm.Radians(tick)); math.Abs(got-tick) > 1e-9 {
			t.Errorf("%v → %v", tick, got)
		}
	}
}
