package camera_test

import (
	"bytes"
	"context"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/anther-robotics/anther/drivers/camera"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
)

// needFFmpeg skips the test when the ffmpeg binary is missing.
func needFFmpeg(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (make deps installs it): skipping a test that needs a real RTSP publisher")
	}
}

// startServer starts an in-process RTSP server on a free loopback port.
func startServer(t testing.TB, addr string) *sim.RTSPServer {
	t.Helper()
	srv := sim.NewRTSPServer(addr, nil)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// publisher is a running ffmpeg process publishing a test pattern.
type publisher struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan struct{}
}

// publishTestsrc starts ffmpeg publishing testsrc (640×480 at 30 fps,
// H.264 yuv420p, a keyframe every 30 frames) to path in real time, and
// waits until the server has the stream.
func publishTestsrc(t testing.TB, srv *sim.RTSPServer, path string) *publisher {
	t.Helper()
	return publish(t, srv, path, "640x480", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-threads", "1")
}

// publish starts ffmpeg publishing testsrc of the given size at 30 fps,
// yuv420p, a keyframe every 30 frames, encoded with codec (ffmpeg options).
func publish(t testing.TB, srv *sim.RTSPServer, path, size string, codec ...string) *publisher {
	t.Helper()
	p := &publisher{done: make(chan struct{})}
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc=size=" + size + ":rate=30"}
	args = append(append(args, codec...), "-pix_fmt", "yuv420p", "-g", "30", "-f", "rtsp", "-rtsp_transport", "tcp", srv.URL(path))
	p.cmd = exec.Command("ffmpeg", args...)
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.kill)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.WaitPublished(ctx, path); err != nil {
		p.kill()
		t.Fatalf("%v; ffmpeg said: %s", err, p.stderr.String())
	}
	return p
}

// kill stops ffmpeg at once (SIGKILL) and waits for it.
func (p *publisher) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// runCamera starts cam.Run and stops it at the end of the test.
func runCamera(t testing.TB, cfg camera.Config) *camera.Camera {
	t.Helper()
	cam, err := camera.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cam.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: Run: %v", cfg.Name, err)
		}
	})
	return cam
}

// waitFrame waits up to d for a frame newer than f.Seq.
func waitFrame(t testing.TB, cam *camera.Camera, f *robot.Frame, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := cam.Next(ctx, f); err != nil {
		t.Fatalf("%s: no frame within %s: %v (stats %+v)", cam.Name(), d, err, cam.Stats())
	}
}

// testsrcReference holds testsrc frames rendered by ffmpeg itself, and the
// mask of pixels that do not move (the colour bars and the circle).
type testsrcReference struct {
	w, h   int
	frame0 []byte // BGR
	static []bool // per pixel
}

var (
	refMu    sync.Mutex
	refCache = map[[2]int]*testsrcReference{}
)

// loadTestsrcReference renders testsrc frames 0, 20 and 47 at w×h through
// ffmpeg (raw BGR, no compression) and marks pixels equal in all three as
// static.
func loadTestsrcReference(t testing.TB, w, h int) *testsrcReference {
	t.Helper()
	refMu.Lock()
	defer refMu.Unlock()
	if r := refCache[[2]int{w, h}]; r != nil {
		return r
	}
	size := strconv.Itoa(w) + "x" + strconv.Itoa(h)
	out, err := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc=size="+size+":rate=30:duration=2",
		"-vf", "select='eq(n\\,0)+eq(n\\,20)+eq(n\\,47)'", "-vsync", "0",
		"-f", "rawvideo", "-pix_fmt", "bgr24", "pipe:1").Output()
	if err != nil || len(out) != 3*w*h*3 {
		t.Fatalf("rendering the testsrc reference with ffmpeg: %v (%d bytes)", err, len(out))
	}
	r := &testsrcReference{w: w, h: h, frame0: out[:w*h*3], static: make([]bool, w*h)}
	a, b, c := out[:w*h*3], out[w*h*3:2*w*h*3], out[2*w*h*3:]
	for i := range r.static {
		j := 3 * i
		r.static[i] = a[j] == b[j] && a[j] == c[j] && a[j+1] == b[j+1] && a[j+1] == c[j+1] && a[j+2] == b[j+2] && a[j+2] == c[j+2]
	}
	// Leave out pixels near an edge between static areas: chroma
	// subsampling and compression blur them.
	keep := make([]bool, w*h)
	for y := 4; y < h-4; y++ {
		for x := 4; x < w-4; x++ {
			ok := true
			for dy := -3; dy <= 3 && ok; dy++ {
				for dx := -3; dx <= 3 && ok; dx++ {
					k := (y+dy)*w + x + dx
					ok = r.static[k] && sameBGR(a, 3*k, 3*(y*w+x))
				}
			}
			keep[y*w+x] = ok
		}
	}
	r.static = keep
	refCache[[2]int{w, h}] = r
	return r
}

func sameBGR(p []byte, i, j int) bool { return p[i] == p[j] && p[i+1] == p[j+1] && p[i+2] == p[j+2] }

// matchTestsrc compares a decoded BGR frame with the reference over the
// static pixels: it returns the mean absolute difference per channel and
// the share of static pixels off by more than 40 in some channel.
func (r *testsrcReference) match(f *robot.Frame) (mean float64, bad float64) {
	var sum, n, off int
	for i, ok := range r.static {
		if !ok {
			continue
		}
		j := 3 * i
		worst := 0
		for c := range 3 {
			d := int(f.Pix[j+c]) - int(r.frame0[j+c])
			if d < 0 {
				d = -d
			}
			sum += d
			worst = max(worst, d)
		}
		n++
		if worst > 40 {
			off++
		}
	}
	if n == 0 {
		return 255, 1
	}
	return float64(sum) / float64(3*n), float64(off) / float64(n)
}

// staticShare is the share of the picture the reference treats as static.
func (r *testsrcReference) staticShare() float64 {
	n := 0
	for _, ok := range r.static {
		if ok {
			n++
		}
	}
	return float64(n) / float64(len(r.static))
}
