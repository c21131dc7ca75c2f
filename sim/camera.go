package sim

import (
	"fmt"
	"math"
	"strconv"
	"sync/atomic"
	"time"
)

// CameraConfig describes a simulated camera.
type CameraConfig struct {
	Name   string  // shown in the picture and used as the RTSP path
	Width  int     // pixels, at least 160
	Height int     // pixels, at least 120
	FPS    float64 // frames per second
	// Joints, if set, returns the robot's joint angles (rad), appending to
	// dst[:0]; the scene draws them as a planar arm and as gauges. Nil
	// animates a stand-in arm.
	Joints func(dst []float64) []float64
	// FFmpeg is the ffmpeg binary that encodes the stream ("" = "ffmpeg").
	FFmpeg string
	// Nice lowers the CPU priority of the encoder and of the thread that
	// renders and feeds it (0 = as this process, up to 19): that is the
	// simulator's work, which a real camera does in its own hardware.
	Nice int
}

// Barcode layout: a strip of cells across the bottom of the picture, a
// white and a black calibration cell, then the 32-bit frame number, most
// significant bit first (white = 1).
const (
	barcodeBits  = 32
	barcodeCells = barcodeBits + 2
)

// Camera renders a synthetic scene, frame by frame: a view of the robot's
// joint angles, a moving target, the camera name, frame counter and render
// time burned in as text, and the frame number as a barcode that survives
// video compression (see FrameNumber). Serve streams it over RTSP.
type Camera struct {
	cfg  CameraConfig
	bg   []byte // static background, BGR
	jbuf []float64

	rendered [256]atomic.Int64 // render time (unix ns) of frame n, at n%256
	frames   atomic.Uint64     // frames sent to the encoder
	late     atomic.Uint64     // frames rendered behind their deadline
	restarts atomic.Uint64     // encoder restarts
}

// NewCamera checks cfg and prepares the scene's background.
func NewCamera(cfg CameraConfig) (*Camera, error) {
	if cfg.Width < 160 || cfg.Height < 120 || cfg.Width > 4096 || cfg.Height > 4096 || cfg.Width%2 == 1 || cfg.Height%2 == 1 {
		return nil, fmt.Errorf("sim: camera %s: size %dx%d (want even sizes from 160x120 to 4096x4096)", cfg.Name, cfg.Width, cfg.Height)
	}
	if !(cfg.FPS > 0 && cfg.FPS <= 240) {
		return nil, fmt.Errorf("sim: camera %s: rate %g fps (want 0 < fps <= 240)", cfg.Name, cfg.FPS)
	}
	if cfg.FFmpeg == "" {
		cfg.FFmpeg = "ffmpeg"
	}
	c := &Camera{cfg: cfg, bg: make([]byte, cfg.Width*cfg.Height*3)}
	c.drawBackground()
	return c, nil
}

// Config is the camera's configuration.
func (c *Camera) Config() CameraConfig { return c.cfg }

// FrameSize is the size of one rendered frame in bytes (BGR24).
func (c *Camera) FrameSize() int { return c.cfg.Width * c.cfg.Height * 3 }

// RenderTime is when frame n was rendered, if it is among the last 256.
func (c *Camera) RenderTime(n uint32) (time.Time, bool) {
	ns := c.rendered[n%uint32(len(c.rendered))].Load()
	if ns == 0 {
		return time.Time{}, false
	}
	t := time.Unix(0, ns)
	// The slot may hold an older or newer frame's time: check it matches.
	if fr := c.frames.Load(); uint64(n) >= fr || fr-uint64(n) > uint64(len(c.rendered)) {
		return time.Time{}, false
	}
	return t, true
}

// CameraStats are a simulated camera's counters.
type CameraStats struct {
	Frames   uint64 // frames sent to the encoder
	Late     uint64 // frames rendered behind their deadline
	Restarts uint64 // encoder (ffmpeg) restarts
}

// Stats returns the camera's counters.
func (c *Camera) Stats() CameraStats {
	return CameraStats{Frames: c.frames.Load(), Late: c.late.Load(), Restarts: c.restarts.Load()}
}

// Render draws frame n, rendered at t, into dst (FrameSize bytes, BGR24).
// The same n, t and joint angles give the same picture.
func (c *Camera) Render(dst []byte, n uint32, t time.Time) {
	w, h := c.cfg.Width, c.cfg.Height
	copy(dst, c.bg)
	cv := canvas{pix: dst, w: w, h: h}
	secs := float64(t.UnixNano()%int64(1000*time.Second)) / 1e9

	// The robot: joints as a planar chain from the bottom centre.
	var joints []float64
	if c.cfg.Joints != nil {
		c.jbuf = c.cfg.Joints(c.jbuf[:0])
		joints = c.jbuf
	} else {
		c.jbuf = c.jbuf[:0]
		for i := range 4 {
			c.jbuf = append(c.jbuf, 0.6*math.Sin(2*math.Pi*(0.2+0.07*float64(i))*secs+float64(i)))
		}
		joints = c.jbuf
	}
	n0 := max(len(joints), 1)
	seg := 0.55 * float64(min(w, h)) / float64(n0)
	x, y := float64(w)/2, float64(h)*0.82
	phi := -math.Pi / 2
	th := max(2, min(w, h)/80)
	for i, a := range joints {
		phi += a
		nx, ny := x+seg*math.Cos(phi), y+seg*math.Sin(phi)
		cv.line(x, y, nx, ny, th, palette[i%len(palette)])
		cv.disc(x, y, float64(th+2), [3]byte{230, 230, 230})
		x, y = nx, ny
	}
	cv.disc(x, y, float64(th+3), [3]byte{0, 200, 255})
	// Joint gauges down the left side.
	gw := w / 6
	for i, a := range joints {
		gy := h/5 + i*(th+6)
		if gy+th > h*3/4 {
			break
		}
		cv.rect(8, gy, 8+gw, gy+th, [3]byte{60, 60, 60})
		mid := 8 + gw/2
		end := mid + int(float64(gw/2)*math.Max(-1, math.Min(1, a/math.Pi)))
		cv.rect(min(mid, end), gy, max(mid, end)+1, gy+th, palette[i%len(palette)])
	}
	// The moving target.
	tx := float64(w)/2 + 0.35*float64(w)*math.Sin(2*math.Pi*0.25*secs)
	ty := float64(h)*0.45 + 0.25*float64(h)*math.Sin(2*math.Pi*0.17*secs+1)
	cv.disc(tx, ty, float64(min(w, h))/24, [3]byte{40, 40, 235})
	// Text: name, frame number, render time (UTC).
	scale := max(1, w/320)
	cv.text(8, 8, scale, [3]byte{255, 255, 255}, c.cfg.Name)
	var buf [32]byte
	b := append(buf[:0], '#')
	b = strconv.AppendUint(b, uint64(n), 10)
	cv.text(8, 8+9*scale, scale, [3]byte{255, 255, 255}, string(b))
	cv.text(8, 8+18*scale, scale, [3]byte{255, 255, 255}, t.UTC().Format("15:04:05.000"))
	c.drawBarcode(&cv, n)
}

// palette colours the arm's links (BGR).
var palette = [...][3]byte{{255, 160, 60}, {80, 220, 80}, {60, 200, 255}, {220, 90, 220}, {250, 250, 90}, {90, 130, 255}}

func (c *Camera) drawBackground() {
	w, h := c.cfg.Width, c.cfg.Height
	for y := range h {
		v := byte(20 + 50*y/h)
		for x := range w {
			i := 3 * (y*w + x)
			c.bg[i], c.bg[i+1], c.bg[i+2] = v+30, v, v/2
			if x%40 == 0 || y%40 == 0 {
				c.bg[i], c.bg[i+1], c.bg[i+2] = 90, 80, 70
			}
		}
	}
}

// barcodeGeometry is where the barcode's cells are in a w×h picture.
func barcodeGeometry(w, h int) (x0, y0, cw, ch int) {
	cw = w / (barcodeCells + 4)
	ch = max(8, cw/2)
	x0 = (w - cw*barcodeCells) / 2
	y0 = h - ch - 4
	return x0, y0, cw, ch
}

func (c *Camera) drawBarcode(cv *canvas, n uint32) {
	x0, y0, cw, ch := barcodeGeometry(cv.w, cv.h)
	white, black := [3]byte{255, 255, 255}, [3]byte{0, 0, 0}
	cv.rect(x0-cw/2, y0-2, x0+cw*barcodeCells+cw/2, y0+ch+2, [3]byte{128, 128, 128})
	for i := range barcodeCells {
		col := black
		switch {
		case i == 0:
			col = white
		case i >= 2 && n&(1<<(barcodeBits-1-(i-2))) != 0:
			col = white
		}
		cv.rect(x0+i*cw, y0, x0+(i+1)*cw, y0+ch, col)
	}
}

// FrameNumber reads the frame number a simulated camera burned into a
// picture (w×h, 3 bytes per pixel, BGR or RGB), after any lossy encoding
// and decoding. ok is false if the picture has no readable barcode.
func FrameNumber(pix []byte, w, h int) (n uint32, ok bool) {
	if w < 160 || h < 120 || w > 1<<14 || h > 1<<14 || len(pix) < w*h*3 {
		return 0, false
	}
	x0, y0, cw, ch := barcodeGeometry(w, h)
	luma := func(cell int) int {
		// Mean over the middle half of the cell, away from blurred edges.
		sum, cnt := 0, 0
		for y := y0 + ch/4; y < y0+ch-ch/4; y++ {
			for x := x0 + cell*cw + cw/4; x < x0+(cell+1)*cw-cw/4; x++ {
				i := 3 * (y*w + x)
				sum += int(pix[i]) + int(pix[i+1]) + int(pix[i+2])
				cnt += 3
			}
		}
		if cnt == 0 {
			return 0
		}
		return sum / cnt
	}
	hi, lo := luma(0), luma(1)
	if hi-lo < 96 {
		return 0, false
	}
	mid := (hi + lo) / 2
	for i := range barcodeBits {
		v := luma(2 + i)
		n <<= 1
		if v > mid {
			n |= 1
		}
		if d := v - mid; d > -(hi-lo)/4 && d < (hi-lo)/4 {
			return 0, false // neither black nor white
		}
	}
	return n, true
}

// canvas draws into a packed BGR24 picture, clipping at its edges.
type canvas struct {
	pix  []byte
	w, h int
}

func (cv *canvas) rect(x0, y0, x1, y1 int, col [3]byte) {
	x0, y0 = max(x0, 0), max(y0, 0)
	x1, y1 = min(x1, cv.w), min(y1, cv.h)
	for y := y0; y < y1; y++ {
		row := cv.pix[3*(y*cv.w+x0) : 3*(y*cv.w+x1)]
		for i := 0; i < len(row); i += 3 {
			row[i], row[i+1], row[i+2] = col[0], col[1], col[2]
		}
	}
}

func (cv *canvas) disc(cx, cy, r float64, col [3]byte) {
	y0, y1 := int(math.Floor(cy-r)), int(math.Ceil(cy+r))
	for y := max(y0, 0); y <= min(y1, cv.h-1); y++ {
		dy := float64(y) + 0.5 - cy
		if dy*dy > r*r {
			continue
		}
		dx := math.Sqrt(r*r - dy*dy)
		cv.rect(int(math.Round(cx-dx)), y, int(math.Round(cx+dx)), y+1, col)
	}
}

func (cv *canvas) line(x0, y0, x1, y1 float64, thick int, col [3]byte) {
	steps := int(math.Max(math.Abs(x1-x0), math.Abs(y1-y0))) + 1
	r := float64(thick) / 2
	for i := 0; i <= steps; i += max(1, thick/2) {
		t := float64(i) / float64(steps)
		cv.disc(x0+t*(x1-x0), y0+t*(y1-y0), r, col)
	}
}

func (cv *canvas) text(x, y, scale int, col [3]byte, s string) {
	for k := 0; k < len(s); k++ {
		g := glyph(s[k])
		for gx, bits := range g {
			for gy := range 7 {
				if bits&(1<<gy) != 0 {
					px, py := x+(k*6+gx)*scale, y+gy*scale
					cv.rect(px, py, px+scale, py+scale, col)
				}
			}
		}
	}
}
