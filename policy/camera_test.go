package policy

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/anther-robotics/anther/robot"
)

// stillCamera is a one-frame camera (unit-test fake).
type stillCamera struct{ f robot.Frame }

func (c *stillCamera) Latest(dst *robot.Frame, maxAge time.Duration) error {
	*dst = c.f
	if maxAge > 0 && time.Since(c.f.Capture) > maxAge {
		return robot.ErrStale
	}
	return nil
}

func (c *stillCamera) Next(context.Context, *robot.Frame) error { return nil }

func TestCameraImagesScalesAndGoesStale(t *testing.T) {
	// 4×2 BGR: left half blue, right half red.
	f := robot.Frame{Width: 4, Height: 2, Format: robot.PixelBGR24, Capture: time.Now(), Pix: make([]byte, 4*2*3)}
	for y := 0; y < 2; y++ {
		for x := 0; x < 4; x++ {
			p := f.Pix[(y*4+x)*3:]
			if x < 2 {
				p[0] = 255 // blue
			} else {
				p[2] = 255 // red
			}
		}
	}
	cam := &stillCamera{f: f}
	src := &CameraImages{Camera: cam, MaxAge: time.Hour}
	dst := make([]byte, 2*1*3)
	if err := src.LatestImage(dst, 2, 1); err != nil {
		t.Fatal(err)
	}
	if want := []byte{0, 0, 255, 255, 0, 0}; string(dst) != string(want) {
		t.Fatalf("RGB %v, want %v (blue then red)", dst, want)
	}
	cam.f.Capture = time.Now().Add(-time.Second)
	src.MaxAge = 100 * time.Millisecond
	if err := src.LatestImage(dst, 2, 1); !errors.Is(err, robot.ErrStale) {
		t.Fatalf("a 1 s old frame gave %v, want ErrStale", err)
	}
	fresh := &CameraImages{Camera: &stillCamera{f: f}, MaxAge: time.Hour}
	if a := testing.AllocsPerRun(100, func() { _ = fresh.LatestImage(dst, 2, 1) }); a != 0 {
		t.Fatalf("%v allocations per image", a)
	}
}
