package robot

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEveryProfileLoads(t *testing.T) {
	want := map[string]int{"reachy-mini": 9, "so101-follower": 6, "so101-leader": 6, "koch-follower": 6}
	for name, n := range want {
		d, err := Load(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(d.Joints) != n {
			t.Errorf("%s: %d joints, want %d", name, len(d.Joints), n)
		}
		for _, j := range d.Joints {
			if j.Home < j.Min || j.Home > j.Max {
				t.Errorf("%s.%s: home %v outside [%v, %v]", name, j.Name, j.Home, j.Min, j.Max)
			}
		}
	}
	if got := Profiles(); len(got) != len(want) {
		t.Errorf("Profiles() = %v", got)
	}
}

func TestReachyMiniFacts(t *testing.T) {
	d, err := Load("reachy-mini")
	if err != nil {
		t.Fatal(err)
	}
	// IDs 10-18 in order, 1 Mbps, stewart_1 limits from raw ticks 1502..2958.
	for i, j := range d.Joints {
		if j.ID != 10+i {
			t.Errorf("%s id %d, want %d", j.Name, j.ID, 10+i)
		}
	}
	if d.Buses[0].Baud != 1000000 {
		t.Errorf("baud %d", d.Buses[0].Baud)
	}
	s1 := d.Joints[1]
	tick := func(r int) float64 { return 2*math.Pi*float64(r)/4096 - math.Pi }
	if math.Abs(float64(s1.Min)-tick(1502)) > 0.01 || math.Abs(float64(s1.Max)-tick(2958)) > 0.01 {
		t.Errorf("stewart_1 limits %v..%v, want %v..%v", s1.Min, s1.Max, tick(1502), tick(2958))
	}
}

// Each file in testdata/bad starts with "# want: ERROR"; loading it must give
// exactly that error (or, if the want ends in ": ", an error starting so).
func TestMalformedDescriptions(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	if len(files) < 10 {
		t.Fatalf("only %d malformed fixtures", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := bytes.Cut(data, []byte("\n"))
			want, ok := strings.CutPrefix(string(first), "# want: ")
			if !ok {
				t.Fatal("fixture lacks a '# want:' first line")
			}
			_, err = LoadFile(f)
			if err == nil {
				t.Fatalf("loaded without error, want %q", want)
			}
			if !errors.Is(err, ErrDescription) {
				t.Errorf("error %v does not wrap ErrDescription", err)
			}
			got := err.Error()
			if strings.HasSuffix(want, ": ") {
				if !strings.HasPrefix(got, want) {
					t.Fatalf("got  %q\nwant prefix %q", got, want)
				}
				return
			}
			if got != want {
				t.Fatalf("got  %q\nwant %q", got, want)
			}
		})
	}
}

func TestUnits(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
	}{
		{"90deg", math.Pi / 2}, {"-45°", -math.Pi / 4}, {"0.5", 0.5}, {"0.5rad", 0.5}, {" 180 deg ", math.Pi}, {"1e-1", 0.1},
	} {
		got, err := ParseAngle(tc.in)
		if err != nil || math.Abs(float64(got)-tc.want) > 1e-12 {
			t.Errorf("ParseAngle(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	if v, err := ParseVelocity("60rpm"); err != nil || math.Abs(float64(v)-2*math.Pi) > 1e-12 {
		t.Errorf("60rpm = %v %v", v, err)
	}
	if v, err := ParseAcceleration("180deg/s^2"); err != nil || math.Abs(float64(v)-math.Pi) > 1e-12 {
		t.Errorf("180deg/s^2 = %v %v", v, err)
	}
	for _, bad := range []string{"", "deg", "1 parsec", "NaN", "Inf"} {
		if _, err := ParseAngle(bad); err == nil {
			t.Errorf("ParseAngle(%q) accepted", bad)
		}
	}
	if got := Deg(180).Degrees(); got != 180 {
		t.Errorf("Deg round trip %v", got)
	}
}

func TestCalibrationRoundTrip(t *testing.T) {
	c, err := ReadCalibration("testdata/so101_follower_calibration.json")
	if err != nil {
		t.Fatal(err)
	}
	if got := c["shoulder_pan"]; got != (MotorCalibration{ID: 1, DriveMode: 0, HomingOffset: -1024, RangeMin: 750, RangeMax: 3300}) {
		t.Fatalf("shoulder_pan = %+v", got)
	}
	order := []string{"shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"}
	out := filepath.Join(t.TempDir(), "cal.json")
	if err := WriteCalibration(out, c, order); err != nil {
		t.Fatal(err)
	}
	orig, _ := os.ReadFile("testdata/so101_follower_calibration.json")
	got, _ := os.ReadFile(out)
	if !bytes.Equal(orig, got) {
		t.Fatalf("rewritten calibration differs from LeRobot's layout:\n%s\nwant:\n%s", got, orig)
	}
	for _, bad := range []string{`{"a": {"id": 1, "drive_mode": 3, "range_min": 0, "range_max": 10}}`,
		`{"a": {"id": 1, "range_min": 10, "range_max": 10}}`, `[1, 2]`} {
		if _, err := ParseCalibration("bad.json", []byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

// FuzzParse feeds arbitrary YAML to the description loader: it must never
// panic, and whatever it accepts must be a usable description.
func FuzzParse(f *testing.F) {
	for _, p := range Profiles() {
		b, _ := ProfileYAML(p)
		f.Add(b)
	}
	bad, _ := filepath.Glob("testdata/bad/*.yaml")
	for _, file := range bad {
		b, _ := os.ReadFile(file)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !errors.Is(err, ErrDescription) {
				t.Fatalf("error %v does not wrap ErrDescription", err)
			}
			return
		}
		if len(d.Joints) == 0 || len(d.Joints) > MaxJoints || d.Rate <= 0 {
			t.Fatalf("accepted an unusable description: %d joints, rate %v", len(d.Joints), d.Rate)
		}
		for _, j := range d.Joints {
			if !(j.Min < j.Max) || d.Bus(j.Bus) == nil {
				t.Fatalf("accepted joint %+v", j)
			}
		}
	})
}
