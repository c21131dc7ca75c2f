package camera

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gocv.io/x/gocv"

	"github.com/anther-robotics/anther/robot"
)

// ProbeResult is what Probe measured on a source.
type ProbeResult struct {
	Source       string  `json:"source"`
	Kind         string  `json:"kind"`
	Codec        string  `json:"codec"`
	Width        int     `json:"width"`
	Height       int     `json:"height"`
	NominalFPS   float64 `json:"nominal_fps"`    // what the source announces (0 if it does not)
	FPS          float64 `json:"fps"`            // measured
	Frames       int     `json:"frames"`         // frames seen while measuring
	Dropped      uint64  `json:"dropped"`        // frames the camera dropped meanwhile
	FirstFrameMS float64 `json:"first_frame_ms"` // from opening to the first frame
	LatencyP50MS float64 `json:"latency_p50_ms"` // capture → available
	LatencyMaxMS float64 `json:"latency_max_ms"`
}

// Probe opens cfg's source, waits for its first frame, then reads frames
// for the given duration and reports the mode and measured rate and
// capture→available latency (for V4L2 from the driver's timestamps; for
// RTSP relative to the least delayed frame, so it shows jitter).
func Probe(ctx context.Context, cfg Config, measure time.Duration) (ProbeResult, error) {
	cam, err := New(cfg)
	if err != nil {
		return ProbeResult{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	start := time.Now()
	go func() { runErr <- cam.Run(ctx) }()
	defer func() {
		cancel()
		<-runErr
	}()
	var f robot.Frame
	if err := cam.Next(ctx, &f); err != nil {
		return ProbeResult{}, probeErr(cam, err, runErr)
	}
	res := ProbeResult{Source: cam.src.String(), Kind: cam.src.Kind.String(), FirstFrameMS: ms(time.Since(start))}
	d0 := cam.Stats().Dropped
	first := f
	first.Pix = nil
	var lat []time.Duration
	mctx, mcancel := context.WithTimeout(ctx, measure)
	defer mcancel()
	for {
		if err := cam.Next(mctx, &f); err != nil {
			break
		}
		lat = append(lat, f.Arrival.Sub(f.Capture))
	}
	st := cam.Stats()
	res.Codec, res.Width, res.Height, res.NominalFPS = st.Mode.Codec, f.Width, f.Height, st.Mode.FPS
	res.Frames, res.Dropped = len(lat), st.Dropped-d0
	if n := f.Seq - first.Seq; n > 0 {
		res.FPS = float64(n) / f.Arrival.Sub(first.Arrival).Seconds()
	}
	if len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		res.LatencyP50MS, res.LatencyMaxMS = ms(lat[len(lat)/2]), ms(lat[len(lat)-1])
	}
	return res, nil
}

// Snapshot opens cfg's source, takes its first frame and closes it.
func Snapshot(ctx context.Context, cfg Config, dst *robot.Frame) error {
	cam, err := New(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- cam.Run(ctx) }()
	defer func() {
		cancel()
		<-runErr
	}()
	dst.Seq = 0
	if err := cam.Next(ctx, dst); err != nil {
		return probeErr(cam, err, runErr)
	}
	return nil
}

// probeErr explains why no frame came: the camera's own error if it has one.
func probeErr(cam *Camera, err error, runErr <-chan error) error {
	if errors.Is(err, ErrStopped) {
		if rerr := <-runErr; rerr != nil {
			return rerr
		}
		return fmt.Errorf("camera: %s ended before its first frame", cam.src)
	}
	if last := cam.Stats().LastError; last != "" {
		return fmt.Errorf("camera: no frame from %s: %w (last error: %s)", cam.src, err, last)
	}
	return fmt.Errorf("camera: no frame from %s: %w", cam.src, err)
}

// WriteImage saves f to path; the extension picks the format: .jpg,
// .jpeg, .png, .bmp, .ppm/.pgm or .tif/.tiff.
func WriteImage(path string, f *robot.Frame) error {
	// OpenCV aborts the process on an extension it has no encoder for.
	switch strings.ToLower(filepath.Ext(path)) {
	case ".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff":
	default:
		return fmt.Errorf("camera: write %s: unknown image type (use .jpg, .png, .bmp, .ppm or .tiff)", path)
	}
	bpp := f.Format.BytesPerPixel()
	if bpp == 0 || len(f.Pix) < f.Width*f.Height*bpp {
		return fmt.Errorf("camera: write %s: empty or malformed frame", path)
	}
	mt := gocv.MatTypeCV8UC3
	if bpp == 1 {
		mt = gocv.MatTypeCV8UC1
	}
	m, err := gocv.NewMatFromBytes(f.Height, f.Width, mt, f.Pix[:f.Width*f.Height*bpp])
	if err != nil {
		return fmt.Errorf("camera: write %s: %w", path, err)
	}
	defer m.Close()
	out := m
	if f.Format == robot.PixelRGB24 {
		bgr := gocv.NewMat()
		defer bgr.Close()
		gocv.CvtColor(m, &bgr, gocv.ColorBGRToRGB)
		out = bgr
	}
	if !gocv.IMWrite(path, out) {
		return fmt.Errorf("camera: write %s: OpenCV could not write it", path)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
