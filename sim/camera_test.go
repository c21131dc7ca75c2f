package sim

import (
	"bytes"
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"
)

func newTestCamera(t testing.TB, joints func([]float64) []float64) *Camera {
	t.Helper()
	c, err := NewCamera(CameraConfig{Name: "head", Width: 320, Height: 240, FPS: 30, Joints: joints})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCameraRenderDeterministicAndBarcode(t *testing.T) {
	angles := []float64{0.3, -0.5, 1.2}
	c := newTestCamera(t, func(dst []float64) []float64 { return append(dst, angles...) })
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	a, b := make([]byte, c.FrameSize()), make([]byte, c.FrameSize())
	for _, n := range []uint32{0, 1, 2, 12345, 1<<31 | 7, 1<<32 - 1} {
		c.Render(a, n, at)
		c.Render(b, n, at)
		if !bytes.Equal(a, b) {
			t.Fatalf("frame %d renders differently twice", n)
		}
		if got, ok := FrameNumber(a, 320, 240); !ok || got != n {
			t.Fatalf("frame %d: barcode reads %d, %v", n, got, ok)
		}
	}
	// The joints and the time move the picture.
	c.Render(a, 5, at)
	angles[0] = -1
	c.Render(b, 5, at)
	if bytes.Equal(a, b) {
		t.Fatal("changing a joint angle does not change the picture")
	}
	c.Render(b, 5, at.Add(time.Second))
	if bytes.Equal(a, b) {
		t.Fatal("time does not move the target")
	}
	if _, ok := FrameNumber(make([]byte, c.FrameSize()), 320, 240); ok {
		t.Fatal("a black picture has a barcode")
	}
}

func TestNewCameraRejectsBadConfig(t *testing.T) {
	for _, cfg := range []CameraConfig{{Width: 100, Height: 240, FPS: 30}, {Width: 320, Height: 240}, {Width: 321, Height: 240, FPS: 30}} {
		if _, err := NewCamera(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

// TestCameraServedOverRTSP: a simulated camera publishes through ffmpeg
// into the server; a gortsplib client reads H.264 access units.
func TestCameraServedOverRTSP(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (make deps installs it)")
	}
	srv := NewRTSPServer("", nil)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := newTestCamera(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- c.Serve(ctx, srv.URL("head"), nil) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	}()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := srv.WaitPublished(wctx, "head"); err != nil {
		t.Fatal(err)
	}
	u, err := base.ParseURL(srv.URL("head"))
	if err != nil {
		t.Fatal(err)
	}
	tcp := gortsplib.TransportTCP
	cl := gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: &tcp}
	if err := cl.Start2(); err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	desc, _, err := cl.Describe(u)
	if err != nil {
		t.Fatal(err)
	}
	var h264 *format.H264
	medi := desc.FindFormat(&h264)
	if medi == nil {
		t.Fatalf("no H.264 track in %+v", desc)
	}
	if sps, pps := h264.SafeParams(); len(sps) == 0 || len(pps) == 0 {
		t.Fatal("no SPS/PPS in the session description")
	}
	dec, err := h264.CreateDecoder()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		t.Fatal(err)
	}
	units := make(chan struct{}, 1000)
	cl.OnPacketRTP(medi, h264, func(pkt *rtp.Packet) {
		if _, err := dec.Decode(pkt); err == nil {
			units <- struct{}{}
		}
	})
	if _, err := cl.Play(nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for n := 0; n < 15; n++ {
		select {
		case <-units:
		case <-deadline:
			t.Fatalf("only %d access units in 10 s (camera stats %+v)", n, c.Stats())
		}
	}
	if st := c.Stats(); st.Frames == 0 {
		t.Fatalf("stats %+v", st)
	}
	if _, ok := c.RenderTime(uint32(c.Stats().Frames - 1)); !ok {
		t.Fatal("no render time for the newest frame")
	}
}

// FuzzFrameNumber: reading a barcode never panics on any picture, and a
// rendered frame always reads back its own number.
func FuzzFrameNumber(f *testing.F) {
	f.Add(uint32(0), []byte{0})
	f.Add(uint32(123456), []byte{255, 0, 255})
	c := newTestCamera(f, nil)
	pix := make([]byte, c.FrameSize())
	f.Fuzz(func(t *testing.T, n uint32, noise []byte) {
		c.Render(pix, n, time.Unix(int64(n), 0))
		if got, ok := FrameNumber(pix, 320, 240); !ok || got != n {
			t.Fatalf("frame %d read as %d, %v", n, got, ok)
		}
		// Arbitrary bytes as a picture (short or long).
		_, _ = FrameNumber(noise, 320, 240)
		copy(pix, noise)
		_, _ = FrameNumber(pix, 320, 240)
	})
}
