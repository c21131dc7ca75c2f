package robot

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// sharedRobots is ../shared/testdata/robots, made outside this project.
func sharedRobots(t testing.TB) string {
	dir := filepath.Join("..", "..", "shared", "testdata", "robots")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared test data not found at %s (it lives beside the repository): %v", dir, err)
	}
	return dir
}

func TestURDFSO101(t *testing.T) {
	u, err := ReadURDF(filepath.Join(sharedRobots(t), "so101", "so101_new_calib.urdf"))
	if err != nil {
		t.Fatal(err)
	}
	act := map[string]URDFJoint{}
	for _, j := range u.Joints {
		if j.Actuated() {
			act[j.Name] = j
		}
	}
	if len(act) != 6 {
		t.Fatalf("%d actuated joints, want 6: %+v", len(act), act)
	}
	for _, n := range []string{"shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"} {
		if j, ok := act[n]; !ok || !j.HasLimit {
			t.Errorf("joint %s missing or without limits: %+v", n, j)
		}
	}
	if j := act["shoulder_pan"]; j.Lower != -1.91986 || j.Upper != 1.91986 || j.Velocity != 10 || j.Effort != 10 {
		t.Errorf("shoulder_pan limits %+v", j)
	}

	// The so101-follower profile's limits come from this file: applying it
	// changes no position limit, and tightens torque to the URDF's effort
	// only where that is lower.
	d, err := Load("so101-follower")
	if err != nil {
		t.Fatal(err)
	}
	before := append([]JointSpec(nil), d.Joints...)
	matched, missing := ApplyURDFLimits(d, u)
	if len(matched) != 6 || len(missing) != 0 {
		t.Fatalf("matched %v missing %v", matched, missing)
	}
	for i := range d.Joints {
		if math.Abs(float64(d.Joints[i].Min-before[i].Min)) > 1e-9 || math.Abs(float64(d.Joints[i].Max-before[i].Max)) > 1e-9 {
			t.Errorf("%s limits moved: %v..%v → %v..%v", d.Joints[i].Name, before[i].Min, before[i].Max, d.Joints[i].Min, d.Joints[i].Max)
		}
	}
}

func TestURDFReachyMiniToleratesMeshesAndPassiveJoints(t *testing.T) {
	u, err := ReadURDF(filepath.Join(sharedRobots(t), "reachy_mini", "robot.urdf"))
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Joints) != 44 {
		t.Errorf("%d joints, want 44 (spec §6)", len(u.Joints))
	}
}

func TestURDFMalformed(t *testing.T) {
	for name, doc := range map[string]string{
		"not xml":        "hello",
		"wrong root":     `<sdf/>`,
		"unknown type":   `<robot name="r"><joint name="a" type="hinge"/></robot>`,
		"bad number":     `<robot name="r"><joint name="a" type="revolute"><limit lower="x" upper="1"/></joint></robot>`,
		"lower>=upper":   `<robot name="r"><joint name="a" type="revolute"><limit lower="1" upper="1"/></joint></robot>`,
		"duplicate":      `<robot name="r"><joint name="a" type="fixed"/><joint name="a" type="fixed"/></robot>`,
		"unnamed":        `<robot name="r"><joint type="fixed"/></robot>`,
		"negative speed": `<robot name="r"><joint name="a" type="revolute"><limit lower="0" upper="1" velocity="-1"/></joint></robot>`,
		"empty":          ``,
	} {
		if _, err := ParseURDF([]byte(doc)); !errors.Is(err, ErrURDF) {
			t.Errorf("%s: err = %v, want ErrURDF", name, err)
		}
	}
}

func FuzzParseURDF(f *testing.F) {
	f.Add([]byte(`<robot name="r"><joint name="a" type="revolute"><limit lower="-1" upper="1" velocity="2" effort="3"/><mimic joint="b"/></joint></robot>`))
	f.Add([]byte(`<?xml version="1.0"?><robot name="x"><link name="l"/><joint name="j" type="continuous"/></robot>`))
	seeds, _ := filepath.Glob("testdata/urdf/*.urdf")
	for _, s := range seeds {
		b, _ := os.ReadFile(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := ParseURDF(data)
		if err != nil {
			if !errors.Is(err, ErrURDF) {
				t.Fatalf("error %v does not wrap ErrURDF", err)
			}
			return
		}
		for _, j := range u.Joints {
			if j.HasLimit && !(j.Lower < j.Upper) {
				t.Fatalf("accepted joint %+v", j)
			}
		}
	})
}

func TestYAMLRoundTrip(t *testing.T) {
	for _, p := range Profiles() {
		d, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(p+"-out.yaml", d.YAML())
		if err != nil {
			t.Fatalf("%s: re-parse: %v\n%s", p, err, d.YAML())
		}
		for i := range d.Joints {
			a, b := d.Joints[i], back.Joints[i]
			if a.Name != b.Name || a.ID != b.ID || math.Abs(float64(a.Min-b.Min)) > 1e-9 || math.Abs(float64(a.Max-b.Max)) > 1e-9 ||
				math.Abs(float64(a.MaxVelocity-b.MaxVelocity)) > 1e-4*float64(a.MaxVelocity) {
				t.Errorf("%s: joint %d %+v became %+v", p, i, a, b)
			}
		}
	}
}
