package teleop

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"net/http"
	"time"

	"github.com/anther-robotics/anther/robot"
)

// mjpeg streams a camera as multipart JPEG at ?fps= (default 10, max 30):
// enough for an operator's preview, and something every browser shows in
// an <img>. Frames are read with Next, off the control loop.
func (s *Server) mjpeg(w http.ResponseWriter, r *http.Request) {
	if s.camera == nil {
		writeError(w, http.StatusNotFound, "this daemon has no cameras")
		return
	}
	name := r.PathValue("name")
	cam := s.camera(name)
	if cam == nil {
		writeError(w, http.StatusNotFound, "no camera %q", name)
		return
	}
	fps := 10.0
	if v := r.URL.Query().Get("fps"); v != "" {
		if _, err := fmt.Sscanf(v, "%g", &fps); err != nil || fps <= 0 {
			writeError(w, http.StatusBadRequest, "fps must be a positive number")
			return
		}
	}
	fps = min(fps, 30)
	const boundary = "anther-frame"
	w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary="+boundary)
	w.Header().Set("Cache-Control", "no-cache")
	flusher, _ := w.(http.Flusher)
	var (
		f   robot.Frame
		img *image.RGBA
		buf bytes.Buffer
	)
	period := time.Duration(float64(time.Second) / fps)
	for next := time.Now(); ; next = next.Add(period) {
		if err := cam.Next(r.Context(), &f); err != nil {
			return
		}
		img = frameToRGBA(&f, img)
		if img == nil {
			return
		}
		buf.Reset()
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 70}); err != nil {
			return
		}
		if _, err := fmt.Fprintf(w, "--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", boundary, buf.Len()); err != nil {
			return
		}
		if _, err := w.Write(buf.Bytes()); err != nil {
			return
		}
		if _, err := w.Write([]byte("\r\n")); err != nil {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
		if d := time.Until(next.Add(period)); d > 0 {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(d):
			}
		} else {
			next = time.Now()
		}
	}
}

// frameToRGBA converts a packed BGR, RGB or gray frame into img (reused
// when the size matches).
func frameToRGBA(f *robot.Frame, img *image.RGBA) *image.RGBA {
	bpp := f.Format.BytesPerPixel()
	if bpp == 0 || f.Width <= 0 || f.Height <= 0 || len(f.Pix) < f.Width*f.Height*bpp {
		return nil
	}
	if img == nil || img.Rect.Dx() != f.Width || img.Rect.Dy() != f.Height {
		img = image.NewRGBA(image.Rect(0, 0, f.Width, f.Height))
	}
	n := f.Width * f.Height
	for i := 0; i < n; i++ {
		p := f.Pix[i*bpp:]
		o := img.Pix[i*4:]
		switch f.Format {
		case robot.PixelBGR24:
			o[0], o[1], o[2] = p[2], p[1], p[0]
		case robot.PixelRGB24:
			o[0], o[1], o[2] = p[0], p[1], p[2]
		default:
			o[0], o[1], o[2] = p[0], p[0], p[0]
		}
		o[3] = 255
	}
	return img
}
