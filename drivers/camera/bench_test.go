package camera_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/anther-robotics/anther/drivers/camera"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
)

// simStream is a simulated 640×480@30 camera published through ffmpeg into
// an in-process RTSP server.
func simStream(tb testing.TB) (*sim.RTSPServer, *sim.Camera) {
	tb.Helper()
	needFFmpeg(tb)
	srv := startServer(tb, "")
	sc, err := sim.NewCamera(sim.CameraConfig{Name: "bench", Width: 640, Height: 480, FPS: 30})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- sc.Serve(ctx, srv.URL("bench"), nil) }()
	tb.Cleanup(func() {
		cancel()
		<-served
	})
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := srv.WaitPublished(wctx, "bench"); err != nil {
		tb.Fatal(err)
	}
	return srv, sc
}

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func processCPU() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestSimCameraEndToEnd: frames rendered by a simulated camera, encoded by
// ffmpeg and served over RTSP come back decoded with their frame numbers
// in order; render→available latency is logged.
func TestSimCameraEndToEnd(t *testing.T) {
	srv, sc := simStream(t)
	cam := runCamera(t, camera.Config{Name: "sim", Source: srv.URL("bench"), Transport: camera.TransportTCP})
	var f robot.Frame
	waitFrame(t, cam, &f, 10*time.Second)
	var (
		last uint32
		lat  []time.Duration
	)
	for range 45 {
		waitFrame(t, cam, &f, 5*time.Second)
		n, ok := sim.FrameNumber(f.Pix, f.Width, f.Height)
		if !ok {
			t.Fatalf("frame seq %d: no barcode", f.Seq)
		}
		if last != 0 && n <= last {
			t.Fatalf("frame number %d after %d", n, last)
		}
		last = n
		if rt, ok := sc.RenderTime(n); ok {
			lat = append(lat, f.Arrival.Sub(rt))
		}
	}
	if len(lat) < 40 {
		t.Fatalf("only %d frames had a render time", len(lat))
	}
	t.Logf("render→available over %d frames: p50 %v, p99 %v", len(lat), quantile(lat, 0.5), quantile(lat, 0.99))
}

// BenchmarkRTSPCamera640x480 reads a simulated 640×480@30 H.264 stream
// through the RTSP client (one op = one frame) and reports the decode CPU
// (libavcodec + conversion to BGR, % of one core), the whole process's CPU
// (scene rendering, RTSP server and client; ffmpeg's encoding is a child
// process, not counted), and the render→available latency, from the frame
// number each picture carries back to the moment it was rendered:
//
//	go test -run '^$' -bench RTSPCamera -benchtime 300x ./drivers/camera
func BenchmarkRTSPCamera640x480(b *testing.B) {
	for _, tr := range []camera.Transport{camera.TransportTCP, camera.TransportUDP} {
		b.Run(string(tr), func(b *testing.B) {
			srv, sc := simStream(b)
			cam := runCamera(b, camera.Config{Name: "bench", Source: srv.URL("bench"), Transport: tr})
			var f robot.Frame
			waitFrame(b, cam, &f, 10*time.Second)
			time.Sleep(500 * time.Millisecond)
			var lat, capErr []time.Duration
			st0, cpu0, t0 := cam.Stats(), processCPU(), time.Now()
			for b.Loop() {
				waitFrame(b, cam, &f, 5*time.Second)
				if n, ok := sim.FrameNumber(f.Pix, f.Width, f.Height); ok {
					if rt, ok := sc.RenderTime(n); ok {
						lat = append(lat, f.Arrival.Sub(rt))
						capErr = append(capErr, f.Capture.Sub(rt))
					}
				}
			}
			wall := time.Since(t0)
			st := cam.Stats()
			b.ReportMetric(100*float64(st.DecodeCPU-st0.DecodeCPU)/float64(wall), "decode-%core")
			b.ReportMetric(100*float64(processCPU()-cpu0)/float64(wall), "process-%core")
			b.ReportMetric(float64(quantile(lat, 0.5))/1e6, "lat-p50-ms")
			b.ReportMetric(float64(quantile(lat, 0.99))/1e6, "lat-p99-ms")
			b.ReportMetric(float64(quantile(capErr, 0.5))/1e6, "capture-minus-render-p50-ms")
			b.ReportMetric(float64(st.Dropped-st0.Dropped), "dropped")
		})
	}
}

// BenchmarkLatest640x480 is what a reader pays to take the newest frame
// (a 921,600-byte copy out of the ring).
func BenchmarkLatest640x480(b *testing.B) {
	srv, _ := simStream(b)
	cam := runCamera(b, camera.Config{Name: "bench", Source: srv.URL("bench"), Transport: camera.TransportTCP})
	var f robot.Frame
	waitFrame(b, cam, &f, 10*time.Second)
	b.ReportAllocs()
	for b.Loop() {
		if err := cam.Latest(&f, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFFmpegSubprocessDecode is the alternative this package did not
// take: an ffmpeg process reading the same RTSP stream and writing raw BGR
// frames to a pipe. One op = one frame; it reports the subprocess's CPU
// and the render→available latency, for comparison with
// BenchmarkRTSPCamera640x480:
//
//	go test -run '^$' -bench FFmpegSubprocess -benchtime 300x ./drivers/camera
func BenchmarkFFmpegSubprocessDecode(b *testing.B) {
	srv, sc := simStream(b)
	cmd := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
		"-fflags", "nobuffer", "-flags", "low_delay", "-rtsp_transport", "tcp", "-i", srv.URL("bench"),
		"-f", "rawvideo", "-pix_fmt", "bgr24", "pipe:1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	pid := cmd.Process.Pid
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	frame := make([]byte, 640*480*3)
	read := func() time.Time {
		if _, err := io.ReadFull(out, frame); err != nil {
			b.Fatal(err)
		}
		return time.Now()
	}
	for range 15 { // past the start-up burst
		read()
	}
	cpu := func() time.Duration {
		// utime+stime of the child, in clock ticks (100 Hz on Linux).
		raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			b.Fatal(err)
		}
		f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
		ut, _ := strconv.Atoi(f[11])
		st, _ := strconv.Atoi(f[12])
		return time.Duration(ut+st) * 10 * time.Millisecond
	}
	var lat []time.Duration
	cpu0, t0 := cpu(), time.Now()
	for b.Loop() {
		at := read()
		if n, ok := sim.FrameNumber(frame, 640, 480); ok {
			if rt, ok := sc.RenderTime(n); ok {
				lat = append(lat, at.Sub(rt))
			}
		}
	}
	wall := time.Since(t0)
	b.ReportMetric(100*float64(cpu()-cpu0)/float64(wall), "ffmpeg-%core")
	b.ReportMetric(float64(quantile(lat, 0.5))/1e6, "lat-p50-ms")
	b.ReportMetric(float64(quantile(lat, 0.99))/1e6, "lat-p99-ms")
}
