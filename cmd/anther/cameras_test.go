package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/drivers/camera"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
	"github.com/anther-robotics/anther/teleop"
)

func needFFmpeg(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (make deps installs it): simulated cameras cannot be encoded")
	}
}

// TestDaemonSimCameras: `anther run --sim` serves the profile's simulated
// camera over RTSP, reads it back, and /api/state shows its rate and drops;
// an outside client can take a snapshot from the served stream.
func TestDaemonSimCameras(t *testing.T) {
	needFFmpeg(t)
	d := startDaemon(t, "--robot", "so101-follower", "--sim")
	var st struct {
		Cameras []teleop.CameraState `json:"cameras"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		code := d.get(t, "/api/state", &st)
		if code == http.StatusOK && len(st.Cameras) == 1 && st.Cameras[0].Frames >= 60 && st.Cameras[0].FPS > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("camera never streamed (code %d, %+v); log:\n%s", code, st.Cameras, d.logText())
		}
		time.Sleep(100 * time.Millisecond)
	}
	c := st.Cameras[0]
	t.Logf("camera in /api/state: %+v", c)
	if c.Name != "front" || c.Kind != "sim" || c.Codec != "h264" || c.Width != 640 || c.Height != 480 || !c.Connected ||
		!strings.HasPrefix(c.URL, "rtsp://127.0.0.1:") || c.AgeMS < 0 || c.AgeMS > 1000 {
		t.Errorf("camera state %+v", c)
	}
	if c.FPS < 20 || c.FPS > 40 {
		t.Errorf("camera at %.1f fps, want about 30", c.FPS)
	}
	var raw map[string]any
	d.get(t, "/api/state", &raw)
	cams, _ := raw["cameras"].([]any)
	if len(cams) != 1 {
		t.Fatalf("cameras in the JSON: %v", raw["cameras"])
	}
	if _, ok := cams[0].(map[string]any)["dropped"]; !ok {
		t.Errorf("no \"dropped\" in %v", cams[0])
	}

	out := filepath.Join(t.TempDir(), "front.png")
	cmd := exec.Command(anther(t), "camera", "snapshot", c.URL, out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("snapshot of %s: %v: %s", c.URL, err, b)
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() < 1000 {
		t.Fatalf("snapshot file: %v %v", fi, err)
	}
}

// TestCameraCLI runs camera list, probe and snapshot.
func TestCameraCLI(t *testing.T) {
	needFFmpeg(t)
	run := func(args ...string) []byte {
		t.Helper()
		out, err := exec.Command(anther(t), args...).Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("anther %s: %v: %s", strings.Join(args, " "), err, stderr)
		}
		return out
	}
	var devs []camera.Device
	if err := json.Unmarshal(run("camera", "list", "--json"), &devs); err != nil {
		t.Fatalf("camera list --json: %v", err)
	}
	var res camera.ProbeResult
	if err := json.Unmarshal(run("camera", "probe", "sim", "--json", "--duration", "1s"), &res); err != nil {
		t.Fatal(err)
	}
	if res.Kind != "sim" || res.Codec != "h264" || res.Width != 640 || res.Height != 480 || res.FPS < 20 || res.FPS > 40 || res.Frames < 15 {
		t.Errorf("probe sim: %+v", res)
	}
	fixture := filepath.Join("..", "..", "drivers", "camera", "testdata", "pattern_160x120_h264.mp4")
	text := string(run("camera", "probe", fixture, "--duration", "500ms"))
	if !strings.Contains(text, "160x120") || !strings.Contains(text, "measured") {
		t.Errorf("probe file:\n%s", text)
	}
	out := filepath.Join(t.TempDir(), "snap.jpg")
	run("camera", "snapshot", fixture, out)
	if fi, err := os.Stat(out); err != nil || fi.Size() == 0 {
		t.Fatalf("snapshot: %v", err)
	}
	if _, err := exec.Command(anther(t), "camera", "probe", "nonsense-source").Output(); err == nil {
		t.Error("probe of a bad source succeeded")
	}
}

// BenchmarkLoopWithSimCameras measures the 1 kHz loop's wake-up lateness
// idle, then with three simulated 640×480@30 cameras running beside it
// (scene rendering, ffmpeg H.264 encoding, the RTSP server, three RTSP
// clients decoding, and a reader taking every camera's latest frame at
// 30 Hz as a policy would). "plain" runs the loop as `anther run` does by
// default; "fifo" gives the loop's thread SCHED_FIFO priority 80 (root
// only); "rt" also keeps the loop's P through its sleeps, as
// `anther run --rt` does. Run each once:
//
//	go test -run '^$' -bench LoopWithSimCameras -benchtime 1x ./cmd/anther
func BenchmarkLoopWithSimCameras(b *testing.B) {
	needFFmpeg(b)
	for _, mode := range []string{"plain", "fifo", "rt"} {
		b.Run(mode, func(b *testing.B) {
			var rt *control.RealTime
			if mode != "plain" {
				rt = &control.RealTime{Priority: 80, CPU: -1}
			}
			benchLoopWithCameras(b, rt, mode == "rt")
		})
	}
}

func benchLoopWithCameras(b *testing.B, rt *control.RealTime, keepP bool) {
	d, err := robot.Load("so101-follower")
	if err != nil {
		b.Fatal(err)
	}
	const phase = 4 * time.Second
	runLoop := func() control.TimingReport {
		clock := control.NewWallClock(50 * time.Microsecond)
		clock.KeepP = keepP
		loop, err := control.New(control.Config{Rate: 1000, Clock: clock,
			Bus: sim.NewBus(d), Limits: control.LimitsFromDescription(d, 0.01), RT: rt})
		if err != nil {
			b.Fatal(err)
		}
		loop.Request(control.RequestActivate)
		ctx, cancel := context.WithTimeout(context.Background(), phase)
		defer cancel()
		if err := loop.Run(ctx); err != nil {
			b.Fatal(err)
		}
		return loop.Timing().Report()
	}
	for b.Loop() {
		idle := runLoop()

		cd := *d
		cd.Cameras = []robot.CameraSpec{{Name: "cam1", Source: "sim", Width: 640, Height: 480, FPS: 30},
			{Name: "cam2", Source: "sim", Width: 640, Height: 480, FPS: 30}, {Name: "cam3", Source: "sim", Width: 640, Height: 480, FPS: 30}}
		ctx, cancel := context.WithCancel(context.Background())
		cams, stop, err := startCameras(ctx, &cd, true, nil, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		readerDone := make(chan int)
		go func() {
			frames := make([]robot.Frame, len(cams))
			n := 0
			tk := time.NewTicker(time.Second / 30)
			defer tk.Stop()
			for {
				select {
				case <-ctx.Done():
					readerDone <- n
					return
				case <-tk.C:
				}
				for i, c := range cams {
					if c.Camera.Latest(&frames[i], 200*time.Millisecond) == nil {
						n++
					}
				}
			}
		}()
		// Wait until every camera streams, then measure.
		deadline := time.Now().Add(30 * time.Second)
		for _, c := range cams {
			for c.Camera.Stats().Frames < 30 {
				if time.Now().After(deadline) {
					b.Fatalf("%s never streamed: %+v", c.Name, c.Camera.Stats())
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		before := make([]camera.Stats, len(cams))
		for i, c := range cams {
			before[i] = c.Camera.Stats()
		}
		busy := runLoop()
		var fps, dropped, cpu float64
		for i, c := range cams {
			st := c.Camera.Stats()
			fps += float64(st.Frames-before[i].Frames) / phase.Seconds()
			dropped += float64(st.Dropped - before[i].Dropped)
			cpu += float64(st.DecodeCPU-before[i].DecodeCPU) / float64(phase)
		}
		cancel()
		fresh := <-readerDone
		stop()

		b.ReportMetric(idle.Lateness.P99US, "idle-p99-us")
		b.ReportMetric(busy.Lateness.P99US, "cams-p99-us")
		b.ReportMetric(busy.Lateness.P99US/max(idle.Lateness.P99US, 1), "p99-ratio")
		b.ReportMetric(idle.Lateness.P50US, "idle-p50-us")
		b.ReportMetric(busy.Lateness.P50US, "cams-p50-us")
		b.ReportMetric(fps/float64(len(cams)), "fps/cam")
		b.ReportMetric(dropped, "dropped")
		b.ReportMetric(100*cpu/float64(len(cams)), "decode-%core/cam")
		b.Logf("idle: %+v (overruns %d)", idle.Lateness, idle.Overruns)
		b.Logf("3 cameras: %+v (overruns %d, missed %d); %d fresh frames read", busy.Lateness, busy.Overruns, busy.Missed, fresh)
	}
}
