package camera_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/anther-robotics/anther/drivers/camera"
	"github.com/anther-robotics/anther/robot"
)

var update = flag.Bool("update", false, "regenerate the video fixtures in testdata/ with ffmpeg")

// Fixture videos: patternFrame(n) for n in [0, fixtureFrames).
const (
	fixtureFrames   = 10
	losslessFixture = "testdata/pattern_64x48_ffv1.avi"   // FFV1, lossless: pixels exact
	h264Fixture     = "testdata/pattern_160x120_h264.mp4" // H.264 yuv420p: pixels close
)

// patternFrame is frame n of the fixtures (BGR): four coloured quadrants
// and, in the middle, a 16×16 grey square of value 20*n.
func patternFrame(n, w, h int) []byte {
	p := make([]byte, w*h*3)
	for y := range h {
		for x := range w {
			var c [3]byte
			switch {
			case x >= w/2-8 && x < w/2+8 && y >= h/2-8 && y < h/2+8:
				v := byte(20 * n)
				c = [3]byte{v, v, v}
			case x < w/2 && y < h/2:
				c = [3]byte{0, 0, 255} // red
			case y < h/2:
				c = [3]byte{0, 255, 0} // green
			case x < w/2:
				c = [3]byte{255, 0, 0} // blue
			default:
				c = [3]byte{255, 255, 255}
			}
			copy(p[3*(y*w+x):], c[:])
		}
	}
	return p
}

// TestUpdateFixtures rewrites the fixtures with -update.
func TestUpdateFixtures(t *testing.T) {
	if !*update {
		t.Skip("run with -update to regenerate testdata videos")
	}
	needFFmpeg(t)
	gen := func(path string, w, h int, codec ...string) {
		var raw bytes.Buffer
		for n := range fixtureFrames {
			raw.Write(patternFrame(n, w, h))
		}
		args := append([]string{"-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
			"-video_size", itoa(w) + "x" + itoa(h), "-framerate", "10", "-i", "pipe:0"}, codec...)
		cmd := exec.Command("ffmpeg", append(args, path)...)
		cmd.Stdin = &raw
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", path, err, out)
		}
	}
	gen(losslessFixture, 64, 48, "-c:v", "ffv1")
	gen(h264Fixture, 160, 120, "-c:v", "libx264", "-preset", "veryslow", "-crf", "10", "-pix_fmt", "yuv420p", "-g", "10", "-bf", "0")
}

func itoa(v int) string { return string(appendInt(nil, v)) }

func appendInt(b []byte, v int) []byte {
	if v >= 10 {
		b = appendInt(b, v/10)
	}
	return append(b, byte('0'+v%10))
}

// readLast plays a file unpaced to its end and returns the last frame.
func readLast(t *testing.T, cfg camera.Config) robot.Frame {
	t.Helper()
	cfg.Unpaced = true
	cfg.Slots = fixtureFrames + 3 // room for every frame: nothing overwritten before it is read
	cam, err := camera.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := cam.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Run returned at the end of the file; the newest frame is the last.
	var last robot.Frame
	if err := cam.Latest(&last, 0); err != nil {
		t.Fatal(err)
	}
	if last.Seq != fixtureFrames {
		t.Fatalf("%s: %d frames, want %d", cfg.Source, last.Seq, fixtureFrames)
	}
	return last
}

func TestFileLosslessPixels(t *testing.T) {
	// Paced playback read with Next: exact pixels, in order. Seq n is the
	// file's frame n-1; a reader that falls behind skips frames (latest-
	// frame semantics), so the test checks whichever frames it gets.
	cam := runCamera(t, camera.Config{Name: "file", Source: losslessFixture, FPS: 50, Slots: 4})
	var f robot.Frame
	seen := 0
	for f.Seq < fixtureFrames {
		prev := f.Seq
		waitFrame(t, cam, &f, 5*time.Second)
		if f.Seq <= prev || f.Seq > fixtureFrames {
			t.Fatalf("frame seq %d after %d", f.Seq, prev)
		}
		n := int(f.Seq - 1)
		if f.Width != 64 || f.Height != 48 || f.Format != robot.PixelBGR24 {
			t.Fatalf("frame %dx%d %s", f.Width, f.Height, f.Format)
		}
		if want := patternFrame(n, 64, 48); !bytes.Equal(f.Pix, want) {
			t.Fatalf("frame %d: pixels differ from the pattern (first bytes %v, want %v)", n, f.Pix[:6], want[:6])
		}
		if f.Capture.IsZero() || f.Capture.After(f.Arrival) {
			t.Fatalf("frame %d: capture %v arrival %v", n, f.Capture, f.Arrival)
		}
		seen++
	}
	if seen < fixtureFrames/2 {
		t.Errorf("read only %d of %d frames at 50 fps", seen, fixtureFrames)
	}
	if m := cam.Mode(); m.Codec != "ffv1" || m.Width != 64 || m.Height != 48 || m.FPS != 50 {
		t.Errorf("mode %+v", m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cam.Next(ctx, &f); err != camera.ErrStopped {
		t.Errorf("Next after the end of the file: %v, want ErrStopped", err)
	}
}

func TestFileH264RGB(t *testing.T) {
	f := readLast(t, camera.Config{Name: "mp4", Source: h264Fixture, Format: robot.PixelRGB24})
	if f.Width != 160 || f.Height != 120 || f.Format != robot.PixelRGB24 {
		t.Fatalf("frame %dx%d %s", f.Width, f.Height, f.Format)
	}
	// Sample the middle of each quadrant and the square, RGB this time.
	at := func(x, y int) [3]int {
		i := 3 * (y*160 + x)
		return [3]int{int(f.Pix[i]), int(f.Pix[i+1]), int(f.Pix[i+2])}
	}
	g := 20 * (fixtureFrames - 1)
	for _, c := range []struct {
		x, y int
		want [3]int
	}{{20, 20, [3]int{255, 0, 0}}, {140, 20, [3]int{0, 255, 0}}, {20, 100, [3]int{0, 0, 255}}, {140, 100, [3]int{255, 255, 255}}, {80, 60, [3]int{g, g, g}}} {
		got := at(c.x, c.y)
		for k := range 3 {
			if d := got[k] - c.want[k]; d < -12 || d > 12 {
				t.Errorf("pixel (%d,%d) = %v, want %v ± 12", c.x, c.y, got, c.want)
				break
			}
		}
	}
}

func TestFileLoopAndMissing(t *testing.T) {
	cam := runCamera(t, camera.Config{Name: "loop", Source: losslessFixture, FPS: 200, Loop: true})
	var f robot.Frame
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for f.Seq < 2*fixtureFrames+2 {
		if err := cam.Next(ctx, &f); err != nil {
			t.Fatalf("looping: %v after %d frames", err, f.Seq)
		}
	}

	missing, err := camera.New(camera.Config{Name: "missing", Source: filepath.Join(t.TempDir(), "nope.mp4")})
	if err != nil {
		t.Fatal(err)
	}
	if err := missing.Run(context.Background()); err == nil || !errors.Is(err, camera.ErrFatal) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: Run = %v, want ErrFatal and ErrNotExist", err)
	}
}

func TestWriteImageRoundTrip(t *testing.T) {
	f := robot.Frame{Width: 64, Height: 48, Format: robot.PixelBGR24, Pix: patternFrame(3, 64, 48)}
	path := filepath.Join(t.TempDir(), "snap.png")
	if err := camera.WriteImage(path, &f); err != nil {
		t.Fatal(err)
	}
	m := gocv.IMRead(path, gocv.IMReadColor)
	defer m.Close()
	if m.Cols() != 64 || m.Rows() != 48 || !bytes.Equal(m.ToBytes(), f.Pix) {
		t.Fatalf("PNG read back as %dx%d with different pixels", m.Cols(), m.Rows())
	}
	rgb := robot.Frame{Width: 1, Height: 1, Format: robot.PixelRGB24, Pix: []byte{255, 0, 0}}
	if err := camera.WriteImage(path, &rgb); err != nil {
		t.Fatal(err)
	}
	m2 := gocv.IMRead(path, gocv.IMReadColor)
	defer m2.Close()
	if got := m2.ToBytes(); !bytes.Equal(got, []byte{0, 0, 255}) {
		t.Fatalf("RGB red saved as BGR %v, want [0 0 255]", got)
	}
	if err := camera.WriteImage(filepath.Join(t.TempDir(), "x.unknownext"), &f); err == nil {
		t.Error("unknown extension: no error")
	}
}
