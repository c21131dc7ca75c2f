//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anther-robotics/anther/robot"
)

// calibrateResult is `anther calibrate --json`'s output.
type calibrateResult struct {
	Robot       string             `json:"robot"`
	File        string             `json:"file"`
	Calibration robot.Calibration  `json:"calibration"`
	Readings    map[string]float64 `json:"readings"`
}

// tableRow is one row of calibrate's live table.
var tableRow = regexp.MustCompile(`(\w+)\s+\|\s+(\d+) \|\s+(\d+) \|\s+(\d+)`)

// calibrateCLI runs `anther calibrate ARGS… --json` and returns its
// result. With spans set it plays the operator: Enter at the first prompt,
// then, while the live table is drawn, Enter once every joint named in
// spans has a recorded range (max − min) of at least its span in ticks.
func calibrateCLI(t *testing.T, spans map[string]int, args ...string) calibrateResult {
	t.Helper()
	cmd := exec.Command(anther(t), append([]string{"calibrate", "--json", "--log-level", "warn"}, args...)...)
	cmd.Env = append(testEnv(t), "HF_LEROBOT_CALIBRATION="+t.TempDir())
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	sawTable := false
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		ranges := map[string]int{}
		entered := 0
		var pending []byte
		buf := make([]byte, 4096)
		for {
			n, err := errPipe.Read(buf)
			stderr.Write(buf[:n])
			pending = append(pending, buf[:n]...)
			// The first prompt waits on its own line, without a newline.
			if spans != nil && entered == 0 && bytes.Contains(pending, []byte("middle of its range")) {
				io.WriteString(in, "\n")
				entered++
			}
			for {
				i := bytes.IndexByte(pending, '\n')
				if i < 0 {
					break
				}
				line := string(pending[:i])
				pending = pending[i+1:]
				m := tableRow.FindStringSubmatch(line)
				if m == nil {
					continue
				}
				sawTable = true
				lo, hi := atoi(m[2]), atoi(m[4])
				ranges[m[1]] = hi - lo
				done := entered == 1
				for name, span := range spans {
					if ranges[name] < span {
						done = false
					}
				}
				if done {
					io.WriteString(in, "\n")
					entered++
				}
			}
			if err != nil {
				return
			}
		}
	}()
	done := make(chan error, 1)
	go func() { <-scanned; done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("calibrate did not finish; stderr:\n%s", stderr.String())
	}
	in.Close()
	if err != nil {
		t.Fatalf("anther calibrate %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var res calibrateResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("calibrate output: %v\n%s", err, stdout.String())
	}
	if spans != nil && !sawTable {
		t.Errorf("no live table on the terminal:\n%s", stderr.String())
	}
	return res
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = 10*n + int(c-'0')
	}
	return n
}

// checkLeRobotSchema checks that file is a calibration as LeRobot writes
// it: one object per motor, in joint order, with exactly LeRobot's five
// integer fields, indented by 4 as draccus dumps it.
func checkLeRobotSchema(t *testing.T, d *robot.Description, file string) robot.Calibration {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(raw) != len(d.Joints) {
		t.Errorf("%d motors, want %d", len(raw), len(d.Joints))
	}
	for _, j := range d.Joints {
		m, ok := raw[j.Name]
		if !ok {
			t.Errorf("no motor %s", j.Name)
			continue
		}
		if len(m) != 5 {
			t.Errorf("%s: fields %v", j.Name, m)
		}
		for _, k := range []string{"id", "drive_mode", "homing_offset", "range_min", "range_max"} {
			v, ok := m[k].(float64)
			if !ok || v != math.Trunc(v) {
				t.Errorf("%s.%s = %v, want an integer", j.Name, k, m[k])
			}
		}
	}
	cal, err := robot.ParseCalibration(file, data)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := cal.Marshal(d.JointNames())
	if !bytes.Equal(again, data) || !bytes.HasPrefix(data, []byte("{\n    \"shoulder_pan\": {\n        \"id\": 1,")) {
		t.Errorf("not LeRobot's layout:\n%s", data)
	}
	return cal
}

func TestCalibrateSimLeRobotSchema(t *testing.T) {
	d, _ := robot.Load("so101-follower")
	out := filepath.Join(t.TempDir(), "follower.json")
	// Enter at the middle, then once the hand has swept every joint
	// through 70 % of its limits (it sweeps 90 %, lagging at the ends).
	spans := map[string]int{}
	for _, j := range d.Joints {
		if j.Name != "wrist_roll" {
			spans[j.Name] = int(0.7 * float64(j.Max-j.Min) * 4096 / (2 * math.Pi))
		}
	}
	res := calibrateCLI(t, spans, "--robot", "so101-follower", "--sim", "--out", out)
	cal := checkLeRobotSchema(t, d, out)
	for _, j := range d.Joints {
		c := cal[j.Name]
		if c.ID != j.ID || c.DriveMode != 0 {
			t.Errorf("%s: %+v", j.Name, c)
		}
		// Centred at home (tick 2048), so the offset is about 2048 − 2047.
		if math.Abs(float64(c.HomingOffset-1)) > 8 {
			t.Errorf("%s: homing offset %d, want about 1", j.Name, c.HomingOffset)
		}
		if j.Name == "wrist_roll" {
			if c.RangeMin != 0 || c.RangeMax != 4095 {
				t.Errorf("wrist_roll range %d..%d, want the full turn", c.RangeMin, c.RangeMax)
			}
			continue
		}
		// The sweep covers most of the joint's limits: in ticks from 2047.
		span := 0.7 * float64(j.Max-j.Min) * 4096 / (2 * math.Pi)
		if float64(c.RangeMax-c.RangeMin) < span || c.RangeMin > 2047 || c.RangeMax < 2047 {
			t.Errorf("%s: range %d..%d, want more than %.0f ticks around 2047", j.Name, c.RangeMin, c.RangeMax, span)
		}
		if res.Calibration[j.Name] != c {
			t.Errorf("%s: printed %+v, saved %+v", j.Name, res.Calibration[j.Name], c)
		}
	}
	// Importing that file into a fresh simulated arm in the same pose
	// gives the same joint readings.
	imp := calibrateCLI(t, nil, "--robot", "so101-follower", "--sim", "--import", out, "--out", filepath.Join(t.TempDir(), "again.json"))
	for name, v := range res.Readings {
		tol := 1.0 // degrees: the hand holds each arm against friction
		if name == "gripper.pos" {
			tol = 2 // percent of its range
		}
		if math.Abs(imp.Readings[name]-v) > tol {
			t.Errorf("%s: %.3f after calibrating, %.3f after importing", name, v, imp.Readings[name])
		}
	}
}

func TestCalibrateImportLeRobotFile(t *testing.T) {
	d, _ := robot.Load("so101-follower")
	src := filepath.Join("testdata", "lerobot_so101_follower.json")
	cal, err := robot.ReadCalibration(src)
	if err != nil {
		t.Fatal(err)
	}
	res := calibrateCLI(t, nil, "--robot", "so101-follower", "--sim", "--import", src)
	// Copied to LeRobot's calibration path, byte for byte.
	if !strings.HasSuffix(res.File, filepath.Join("robots", "so_follower", "anther.json")) {
		t.Errorf("saved to %s", res.File)
	}
	a, _ := os.ReadFile(src)
	b, _ := os.ReadFile(res.File)
	if !bytes.Equal(a, b) {
		t.Errorf("copy differs from the LeRobot file:\n%s", b)
	}
	// The simulated arm rests with every servo's encoder at 2048: LeRobot
	// would read Present = 2048 − Homing_Offset and normalise it.
	for _, j := range d.Joints {
		c := cal[j.Name]
		present := float64(((2048-c.HomingOffset)%4096 + 4096) % 4096)
		mode := robot.NormDegrees
		if j.Name == "gripper" {
			mode = robot.NormRange0_100
		}
		want := c.Normalize(mode, present, 4096)
		if got := res.Readings[j.Name+".pos"]; math.Abs(got-want) > 0.1 {
			t.Errorf("%s.pos = %.3f, LeRobot reads %.3f", j.Name, got, want)
		}
	}
	// A file that does not match the arm is refused.
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"shoulder_pan": {"id": 7, "drive_mode": 0, "homing_offset": 0, "range_min": 1, "range_max": 2}}`), 0o644)
	cmd := exec.Command(anther(t), "calibrate", "--robot", "so101-follower", "--sim", "--import", bad)
	cmd.Env = testEnv(t)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "shoulder_pan: id 7") {
		t.Errorf("mismatched file: %v %s", err, out)
	}
}

// serveFeetechSim starts `anther sim serve --robot so101-follower` and
// returns its bus's pty.
func serveFeetechSim(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(anther(t), "sim", "serve", "--robot", "so101-follower")
	cmd.Env = testEnv(t)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	re := regexp.MustCompile(`^bus arm: (\S+)$`)
	path := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				path <- m[1]
			}
		}
	}()
	select {
	case p := <-path:
		return p
	case <-time.After(30 * time.Second):
		t.Fatal("sim serve printed no bus")
	}
	return ""
}

func TestBusCLIFeetech(t *testing.T) {
	pts := serveFeetechSim(t)
	base := []string{"--protocol", "feetech", "--port", pts, "--log-level", "warn"}
	var devs []struct {
		ID       int    `json:"id"`
		Model    string `json:"model"`
		Number   int    `json:"model_number"`
		Firmware string `json:"firmware"`
		Baud     int    `json:"baud"`
	}
	out := busCLI(t, append([]string{"scan", "--baud", "1000000", "--json"}, base...)...)
	if err := json.Unmarshal([]byte(out), &devs); err != nil || len(devs) != 6 || devs[0].Number != 777 || devs[5].ID != 6 || devs[0].Baud != 1000000 {
		t.Fatalf("scan: %v %s", err, out)
	}
	if got := strings.TrimSpace(busCLI(t, append([]string{"read", "--id", "3", "--addr", "3", "--size", "2"}, base...)...)); got != "777" {
		t.Errorf("model number %q", got)
	}
	busCLI(t, append(append([]string{"write", "--id", "2", "--addr", "31", "--size", "2"}, base...), "--", "-300")...)
	if got := strings.TrimSpace(busCLI(t, append([]string{"read", "--id", "2", "--addr", "31", "--size", "2", "--signed"}, base...)...)); got != "-300" {
		t.Errorf("homing offset read back %q (sign-magnitude)", got)
	}
	busCLI(t, append([]string{"torque", "on", "--id", "4"}, base...)...)
	if got := strings.TrimSpace(busCLI(t, append([]string{"read", "--id", "4", "--addr", "40", "--size", "1"}, base...)...)); got != "1" {
		t.Errorf("torque enable %q", got)
	}
	busCLI(t, append([]string{"set-id", "--id", "6", "--new-id", "9"}, base...)...)
	out = busCLI(t, append([]string{"scan", "--ids", "1-10", "--baud", "1000000", "--json"}, base...)...)
	devs = nil
	if err := json.Unmarshal([]byte(out), &devs); err != nil || len(devs) != 6 || devs[5].ID != 9 {
		t.Errorf("after set-id: %v %s", err, out)
	}
}

func TestTeleopSim(t *testing.T) {
	cmd := exec.Command(anther(t), "teleop", "--sim", "--listen", "127.0.0.1:0")
	cmd.Env = testEnv(t)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			d.log.WriteString(line + "\n")
			d.mu.Unlock()
			if m := listenRE.FindStringSubmatch(line); m != nil {
				addr <- m[1]
			}
		}
		d.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	select {
	case d.addr = <-addr:
	case <-time.After(30 * time.Second):
		t.Fatalf("teleop did not print its address:\n%s", d.logText())
	}
	// The follower follows the scripted leader: source mode, joints moving.
	var st struct {
		Mode   string `json:"mode"`
		Joints []struct {
			Position float64 `json:"position"`
		} `json:"joints"`
	}
	var first []float64
	moved := false
	for deadline := time.Now().Add(15 * time.Second); !moved && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		d.get(t, "/api/state", &st)
		if st.Mode != "source" || len(st.Joints) != 6 {
			continue
		}
		if first == nil {
			for _, j := range st.Joints {
				first = append(first, j.Position)
			}
			continue
		}
		for i, j := range st.Joints {
			if math.Abs(j.Position-first[i]) > 0.05 {
				moved = true
			}
		}
	}
	if !moved {
		t.Fatalf("the follower did not follow; state %+v\nlog:\n%s", st, d.logText())
	}
	var ls struct {
		Reads  uint64 `json:"reads"`
		Errors uint64 `json:"errors"`
	}
	if code := d.get(t, "/api/teleop/leader", &ls); code != 200 || ls.Reads == 0 {
		t.Errorf("leader status %d %+v", code, ls)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := <-d.done; err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, d.logText())
	}
	if !strings.Contains(d.logText(), "teleop stopped") {
		t.Errorf("no summary:\n%s", d.logText())
	}
}
