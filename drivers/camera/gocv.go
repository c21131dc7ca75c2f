package camera

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"gocv.io/x/gocv"
	"golang.org/x/sys/unix"

	"github.com/anther-robotics/anther/robot"
)

// usbGrabber captures from a V4L2 device through OpenCV's V4L2 backend.
type usbGrabber struct{}

func (g *usbGrabber) grab(ctx context.Context, c *Camera) error {
	var (
		vc  *gocv.VideoCapture
		err error
	)
	if c.src.Index >= 0 {
		vc, err = gocv.VideoCaptureDeviceWithAPI(c.src.Index, gocv.VideoCaptureV4L2)
	} else {
		vc, err = gocv.VideoCaptureFileWithAPI(c.src.Path, gocv.VideoCaptureV4L2)
	}
	if err != nil {
		return fmt.Errorf("camera: open %s: %w", c.src, err)
	}
	defer vc.Close()
	if !vc.IsOpened() {
		return fmt.Errorf("camera: open %s: device did not open", c.src)
	}
	// The order matters to V4L2: pixel format, then size, then rate.
	if cc := c.cfg.FourCC; cc != "" {
		if len(cc) != 4 {
			return fmt.Errorf("camera: fourcc %q must have 4 characters: %w", cc, ErrFatal)
		}
		vc.Set(gocv.VideoCaptureFOURCC, vc.ToCodec(strings.ToUpper(cc)))
	}
	if c.cfg.Width > 0 && c.cfg.Height > 0 {
		vc.Set(gocv.VideoCaptureFrameWidth, float64(c.cfg.Width))
		vc.Set(gocv.VideoCaptureFrameHeight, float64(c.cfg.Height))
	}
	if c.cfg.FPS > 0 {
		vc.Set(gocv.VideoCaptureFPS, c.cfg.FPS)
	}
	// One driver buffer: the frame read is the newest, not one queued
	// behind three others (~100 ms at 30 fps).
	vc.Set(gocv.VideoCaptureBufferSize, 1)
	mode := Mode{
		Codec: strings.TrimRight(vc.CodecString(), "\x00 "), Width: int(vc.Get(gocv.VideoCaptureFrameWidth)),
		Height: int(vc.Get(gocv.VideoCaptureFrameHeight)), FPS: vc.Get(gocv.VideoCaptureFPS),
	}
	c.setMode(mode)
	if (c.cfg.Width > 0 && mode.Width != c.cfg.Width) || (c.cfg.Height > 0 && mode.Height != c.cfg.Height) ||
		(c.cfg.FPS > 0 && mode.FPS != c.cfg.FPS) || (c.cfg.FourCC != "" && !strings.EqualFold(mode.Codec, c.cfg.FourCC)) {
		c.log.Warn("camera granted a different mode", "asked_fourcc", c.cfg.FourCC, "asked_width", c.cfg.Width,
			"asked_height", c.cfg.Height, "asked_fps", c.cfg.FPS, "fourcc", mode.Codec, "width", mode.Width,
			"height", mode.Height, "fps", mode.FPS)
	} else {
		c.log.Info("camera opened", "source", c.src.String(), "fourcc", mode.Codec, "width", mode.Width, "height", mode.Height, "fps", mode.FPS)
	}
	m := gocv.NewMat()
	defer m.Close()
	tmp := gocv.NewMat()
	defer tmp.Close()
	for ctx.Err() == nil {
		if !vc.Read(&m) || m.Empty() {
			return fmt.Errorf("camera: read %s: no frame (unplugged?)", c.src)
		}
		now := time.Now()
		capture := now
		// OpenCV's V4L2 backend reports the driver's buffer timestamp
		// (CLOCK_MONOTONIC) as the position in ms.
		if ms := vc.Get(gocv.VideoCapturePosMsec); ms > 0 {
			var ts unix.Timespec
			if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) == nil {
				if age := time.Duration(ts.Nano()) - time.Duration(ms*float64(time.Millisecond)); age >= 0 && age < 2*time.Second {
					capture = now.Add(-age)
				}
			}
		}
		if err := c.publishMat(m, &tmp, capture); err != nil {
			return err
		}
	}
	return nil
}

// fileGrabber plays a video file through OpenCV (FFmpeg backend), paced at
// the file's rate unless Config.Unpaced.
type fileGrabber struct{}

func (g *fileGrabber) grab(ctx context.Context, c *Camera) error {
	if _, err := os.Stat(c.src.Path); err != nil {
		return fmt.Errorf("camera: %w: %w", err, ErrFatal)
	}
	vc, err := gocv.VideoCaptureFile(c.src.Path)
	if err != nil {
		return fmt.Errorf("camera: open %s: %w: %w", c.src.Path, err, ErrFatal)
	}
	defer vc.Close()
	if !vc.IsOpened() {
		return fmt.Errorf("camera: open %s: not a video OpenCV can read: %w", c.src.Path, ErrFatal)
	}
	fps := c.cfg.FPS
	if fps <= 0 {
		fps = vc.Get(gocv.VideoCaptureFPS)
	}
	if fps <= 0 || fps > 1000 {
		fps = 30
	}
	mode := Mode{Codec: strings.ToLower(strings.TrimRight(vc.CodecString(), "\x00 ")), Width: int(vc.Get(gocv.VideoCaptureFrameWidth)),
		Height: int(vc.Get(gocv.VideoCaptureFrameHeight)), FPS: fps}
	c.setMode(mode)
	period := time.Duration(float64(time.Second) / fps)
	m := gocv.NewMat()
	defer m.Close()
	tmp := gocv.NewMat()
	defer tmp.Close()
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for n := 0; ctx.Err() == nil; n++ {
		if !vc.Read(&m) || m.Empty() {
			if !c.cfg.Loop || n == 0 {
				return nil
			}
			vc.Set(gocv.VideoCapturePosFrames, 0)
			start, n = start.Add(time.Duration(n)*period), -1
			continue
		}
		due := start.Add(time.Duration(n) * period)
		if !c.cfg.Unpaced {
			if d := time.Until(due); d > 0 {
				timer.Reset(d)
				select {
				case <-ctx.Done():
					return nil
				case <-timer.C:
				}
			}
		} else {
			due = time.Now()
		}
		if err := c.publishMat(m, &tmp, due); err != nil {
			return err
		}
	}
	return nil
}

// publishMat copies an OpenCV image into the ring in the camera's format.
func (c *Camera) publishMat(m gocv.Mat, tmp *gocv.Mat, capture time.Time) error {
	src := m
	switch {
	case m.Type() == gocv.MatTypeCV8UC1:
		gocv.CvtColor(m, tmp, gocv.ColorGrayToBGR) // gray has no channel order
		src = *tmp
	case m.Type() == gocv.MatTypeCV8UC4:
		code := gocv.ColorBGRAToBGR
		if c.cfg.Format == robot.PixelRGB24 {
			code = gocv.ColorRGBAToBGR // the same swap as BGRA to RGB
		}
		gocv.CvtColor(m, tmp, code)
		src = *tmp
	case m.Type() != gocv.MatTypeCV8UC3:
		return fmt.Errorf("camera: %s delivers OpenCV type %v, want 8-bit images: %w", c.src, m.Type(), ErrFatal)
	case c.cfg.Format == robot.PixelRGB24:
		gocv.CvtColor(m, tmp, gocv.ColorBGRToRGB)
		src = *tmp
	}
	data, err := src.DataPtrUint8()
	if err != nil {
		return fmt.Errorf("camera: %s: %w", c.src, err)
	}
	f := c.begin(src.Cols(), src.Rows())
	if f == nil {
		return nil
	}
	if len(data) != len(f.Pix) {
		c.cancel()
		return errors.New("camera: image size does not match its buffer")
	}
	copy(f.Pix, data)
	c.commit(capture)
	return nil
}
