package record

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/anther-robotics/anther/robot"
)

// CameraSpec is one camera to record: its name (the dataset key is
// observation.images.<Name>), the size stored in the dataset, and the
// camera. Frames of another size are scaled (nearest neighbour).
type CameraSpec struct {
	Name          string
	Width, Height int
	Camera        robot.Camera
}

// RenderFunc draws frame n, taken at t, into pix (packed rows of the
// camera's format).
type RenderFunc func(pix []byte, n uint32, t time.Time)

// RenderedCamera is a robot.Camera that renders its frames in process at a
// fixed rate (a simulated camera without the RTSP round trip). Run drives
// it; Latest and Next are safe from any goroutine.
type RenderedCamera struct {
	w, h   int
	fps    float64
	format robot.PixelFormat
	render RenderFunc

	mu     sync.Mutex
	cond   *sync.Cond
	latest robot.Frame
	spare  []byte
}

// NewRenderedCamera returns a camera rendering w×h frames in format at fps.
func NewRenderedCamera(w, h int, fps float64, format robot.PixelFormat, render RenderFunc) (*RenderedCamera, error) {
	if w <= 0 || h <= 0 || !(fps > 0) || format.BytesPerPixel() == 0 || render == nil {
		return nil, fmt.Errorf("record: rendered camera %dx%d at %g fps in %s", w, h, fps, format)
	}
	c := &RenderedCamera{w: w, h: h, fps: fps, format: format, render: render}
	c.cond = sync.NewCond(&c.mu)
	return c, nil
}

// Run renders frames at the camera's rate until ctx ends.
func (c *RenderedCamera) Run(ctx context.Context) error {
	period := time.Duration(float64(time.Second) / c.fps)
	size := c.w * c.h * c.format.BytesPerPixel()
	buf := make([]byte, size)
	t := time.NewTicker(period)
	defer t.Stop()
	var n uint32
	for {
		now := time.Now()
		c.render(buf, n, now)
		c.mu.Lock()
		// Swap the rendered buffer in; keep the old one to render into.
		old := c.latest.Pix
		c.latest = robot.Frame{Seq: uint64(n) + 1, Capture: now, Arrival: time.Now(), Width: c.w, Height: c.h,
			Format: c.format, Pix: buf}
		c.cond.Broadcast()
		c.mu.Unlock()
		if old == nil {
			old = make([]byte, size)
		}
		buf = old
		n++
		select {
		case <-ctx.Done():
			c.mu.Lock()
			c.cond.Broadcast()
			c.mu.Unlock()
			return nil
		case <-t.C:
		}
	}
}

func copyFrame(dst, src *robot.Frame) {
	pix := dst.Pix
	if cap(pix) < len(src.Pix) {
		pix = make([]byte, len(src.Pix))
	}
	pix = pix[:len(src.Pix)]
	copy(pix, src.Pix)
	*dst = *src
	dst.Pix = pix
}

// Latest implements robot.Camera.
func (c *RenderedCamera) Latest(dst *robot.Frame, maxAge time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.latest.Seq == 0 {
		return robot.ErrNoFrame
	}
	copyFrame(dst, &c.latest)
	if maxAge > 0 && time.Since(dst.Capture) > maxAge {
		return robot.ErrStale
	}
	return nil
}

// Next implements robot.Camera.
func (c *RenderedCamera) Next(ctx context.Context, dst *robot.Frame) error {
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.latest.Seq <= dst.Seq {
		if err := ctx.Err(); err != nil {
			return err
		}
		c.cond.Wait()
	}
	copyFrame(dst, &c.latest)
	return nil
}

var _ robot.Camera = (*RenderedCamera)(nil)

// toRGB converts a camera frame into a dataset image of w×h RGB24 bytes,
// scaling by nearest neighbour when the sizes differ.
func toRGB(dst []byte, w, h int, f *robot.Frame) error {
	bpp := f.Format.BytesPerPixel()
	if bpp == 0 || len(f.Pix) < f.Width*f.Height*bpp || f.Width <= 0 || f.Height <= 0 {
		return fmt.Errorf("record: camera frame %dx%d %s with %d bytes", f.Width, f.Height, f.Format, len(f.Pix))
	}
	same := f.Width == w && f.Height == h
	switch {
	case same && f.Format == robot.PixelRGB24:
		copy(dst, f.Pix[:w*h*3])
		return nil
	case same && f.Format == robot.PixelBGR24:
		src := f.Pix[:w*h*3]
		for i := 0; i+2 < len(src); i += 3 {
			dst[i], dst[i+1], dst[i+2] = src[i+2], src[i+1], src[i]
		}
		return nil
	}
	for y := 0; y < h; y++ {
		sy := y * f.Height / h
		for x := 0; x < w; x++ {
			sx := x * f.Width / w
			s := (sy*f.Width + sx) * bpp
			d := (y*w + x) * 3
			switch f.Format {
			case robot.PixelRGB24:
				dst[d], dst[d+1], dst[d+2] = f.Pix[s], f.Pix[s+1], f.Pix[s+2]
			case robot.PixelBGR24:
				dst[d], dst[d+1], dst[d+2] = f.Pix[s+2], f.Pix[s+1], f.Pix[s]
			case robot.PixelGray8:
				dst[d], dst[d+1], dst[d+2] = f.Pix[s], f.Pix[s], f.Pix[s]
			}
		}
	}
	return nil
}
