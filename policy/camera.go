package policy

import (
	"fmt"
	"time"

	"github.com/anther-robotics/anther/robot"
)

// CameraImages is an ImageSource reading a robot.Camera: the newest frame,
// scaled (nearest neighbour) to the policy's size as RGB. A frame older
// than MaxAge fails the inference, so a frozen or unplugged camera stops
// the policy's actions and the loop's staleness watchdog holds the robot:
// the camera watchdog for policies that need images.
type CameraImages struct {
	Camera robot.Camera
	MaxAge time.Duration // 0: 200 ms
	frame  robot.Frame
}

// LatestImage implements ImageSource.
func (c *CameraImages) LatestImage(dst []byte, width, height int) error {
	maxAge := c.MaxAge
	if maxAge <= 0 {
		maxAge = 200 * time.Millisecond
	}
	if err := c.Camera.Latest(&c.frame, maxAge); err != nil {
		return fmt.Errorf("policy: camera image: %w", err)
	}
	f := &c.frame
	bpp := f.Format.BytesPerPixel()
	if bpp == 0 || f.Width <= 0 || f.Height <= 0 || len(f.Pix) < f.Width*f.Height*bpp {
		return fmt.Errorf("policy: camera image: unusable frame %dx%d %s", f.Width, f.Height, f.Format)
	}
	if len(dst) < width*height*3 {
		return fmt.Errorf("policy: camera image: buffer of %d bytes for %dx%d RGB", len(dst), width, height)
	}
	for y := 0; y < height; y++ {
		sy := y * f.Height / height
		for x := 0; x < width; x++ {
			sx := x * f.Width / width
			p := f.Pix[(sy*f.Width+sx)*bpp:]
			o := dst[(y*width+x)*3:]
			switch f.Format {
			case robot.PixelBGR24:
				o[0], o[1], o[2] = p[2], p[1], p[0]
			case robot.PixelRGB24:
				o[0], o[1], o[2] = p[0], p[1], p[2]
			default:
				o[0], o[1], o[2] = p[0], p[0], p[0]
			}
		}
	}
	return nil
}
