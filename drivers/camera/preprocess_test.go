package camera_test

import (
	"image"
	"math"
	"testing"

	"github.com/anther-robotics/anther/drivers/camera"
	"github.com/anther-robotics/anther/robot"
)

// frameOf builds a BGR frame whose pixel (x, y) is px(x, y).
func frameOf(w, h int, px func(x, y int) [3]byte) *robot.Frame {
	f := &robot.Frame{Width: w, Height: h, Format: robot.PixelBGR24, Pix: make([]byte, w*h*3)}
	for y := range h {
		for x := range w {
			c := px(x, y)
			copy(f.Pix[3*(y*w+x):], c[:])
		}
	}
	return f
}

func newPre(t *testing.T, cfg camera.PreprocessConfig) *camera.Preprocessor {
	t.Helper()
	p, err := camera.NewPreprocessor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// at reads tensor channel c at (x, y) for a w-wide, h-high CHW tensor.
func at(ten []float32, w, h, c, x, y int) float32 { return ten[c*w*h+y*w+x] }

func near(a, b float32) bool { return math.Abs(float64(a-b)) < 1e-5 }

func TestPreprocessStretchNearestRGB(t *testing.T) {
	// 8×4 frame: pixel value encodes its position (B = x, G = y, R = 100).
	f := frameOf(8, 4, func(x, y int) [3]byte { return [3]byte{byte(x * 10), byte(y * 10), 100} })
	p := newPre(t, camera.PreprocessConfig{Width: 4, Height: 2, Interp: camera.InterpNearest})
	ten := make([]float32, p.TensorLen())
	if err := p.Run(f, ten); err != nil {
		t.Fatal(err)
	}
	// Nearest neighbour halves: tensor (x, y) takes frame (2x, 2y). RGB order:
	// channel 0 = R = 100, 1 = G = 20y, 2 = B = 20x; scaled to [0,1].
	for y := range 2 {
		for x := range 4 {
			r, g, b := at(ten, 4, 2, 0, x, y), at(ten, 4, 2, 1, x, y), at(ten, 4, 2, 2, x, y)
			if !near(r, 100.0/255) || !near(g, float32(20*y)/255) || !near(b, float32(20*x)/255) {
				t.Fatalf("(%d,%d) = %v %v %v", x, y, r*255, g*255, b*255)
			}
		}
	}
	// BGR order and normalization.
	p2 := newPre(t, camera.PreprocessConfig{Width: 4, Height: 2, Interp: camera.InterpNearest, BGR: true,
		Mean: [3]float32{0.5, 0.5, 0.5}, Std: [3]float32{0.25, 0.5, 1}})
	if err := p2.Run(f, ten); err != nil {
		t.Fatal(err)
	}
	if b := at(ten, 4, 2, 0, 3, 1); !near(b, (60.0/255-0.5)/0.25) {
		t.Fatalf("normalized B at (3,1) = %v", b)
	}
	if r := at(ten, 4, 2, 2, 0, 0); !near(r, 100.0/255-0.5) {
		t.Fatalf("normalized R = %v", r)
	}
}

func TestPreprocessLetterbox(t *testing.T) {
	red := frameOf(8, 4, func(x, y int) [3]byte { return [3]byte{0, 0, 255} })
	p := newPre(t, camera.PreprocessConfig{Width: 4, Height: 4, Fit: camera.FitLetterbox, Pad: 51})
	ten := make([]float32, p.TensorLen())
	if err := p.Run(red, ten); err != nil {
		t.Fatal(err)
	}
	// 8×4 fits 4×4 as 4×2, centred: rows 1-2 red, rows 0 and 3 padding.
	for y := range 4 {
		for x := range 4 {
			r, g := at(ten, 4, 4, 0, x, y), at(ten, 4, 4, 1, x, y)
			want := [2]float32{1, 0}
			if y == 0 || y == 3 {
				want = [2]float32{0.2, 0.2}
			}
			if !near(r, want[0]) || !near(g, want[1]) {
				t.Fatalf("(%d,%d) r=%v g=%v, want %v", x, y, r, g, want)
			}
		}
	}
	sx, sy, off, origin := p.Geometry()
	if sx != 0.5 || sy != 0.5 || off != image.Pt(0, 1) || origin != image.Pt(0, 0) {
		t.Fatalf("geometry %v %v %v %v", sx, sy, off, origin)
	}
}

func TestPreprocessCenterCropAndRegion(t *testing.T) {
	// Left half blue, right half green; columns 0-1 and 6-7 black.
	f := frameOf(8, 4, func(x, y int) [3]byte {
		switch {
		case x < 2 || x >= 6:
			return [3]byte{0, 0, 0}
		case x < 4:
			return [3]byte{255, 0, 0}
		}
		return [3]byte{0, 255, 0}
	})
	p := newPre(t, camera.PreprocessConfig{Width: 2, Height: 2, Fit: camera.FitCrop, Interp: camera.InterpArea})
	ten := make([]float32, p.TensorLen())
	if err := p.Run(f, ten); err != nil {
		t.Fatal(err)
	}
	// The centre 4×4 (columns 2-5) → 2×2: left column blue, right green.
	for y := range 2 {
		if b, g := at(ten, 2, 2, 2, 0, y), at(ten, 2, 2, 1, 0, y); !near(b, 1) || !near(g, 0) {
			t.Fatalf("left (0,%d) b=%v g=%v", y, b, g)
		}
		if b, g := at(ten, 2, 2, 2, 1, y), at(ten, 2, 2, 1, 1, y); !near(b, 0) || !near(g, 1) {
			t.Fatalf("right (1,%d) b=%v g=%v", y, b, g)
		}
	}
	// An explicit region: the two right columns of blue only.
	p2 := newPre(t, camera.PreprocessConfig{Width: 1, Height: 1, Crop: image.Rect(2, 0, 4, 4), Interp: camera.InterpArea})
	if err := p2.Run(f, ten[:3]); err != nil {
		t.Fatal(err)
	}
	if !near(ten[0], 0) || !near(ten[1], 0) || !near(ten[2], 1) {
		t.Fatalf("region → %v", ten[:3])
	}
	p3 := newPre(t, camera.PreprocessConfig{Width: 1, Height: 1, Crop: image.Rect(100, 100, 200, 200)})
	if err := p3.Run(f, ten); err == nil {
		t.Fatal("crop outside the frame: no error")
	}
	if err := p.Run(f, ten[:5]); err == nil {
		t.Fatal("short tensor: no error")
	}
}

func TestPreprocessZeroAllocs(t *testing.T) {
	f := frameOf(640, 480, func(x, y int) [3]byte { return [3]byte{byte(x), byte(y), byte(x + y)} })
	for _, fit := range []camera.Fit{camera.FitStretch, camera.FitLetterbox, camera.FitCrop} {
		p := newPre(t, camera.PreprocessConfig{Width: 224, Height: 224, Fit: fit,
			Mean: [3]float32{0.485, 0.456, 0.406}, Std: [3]float32{0.229, 0.224, 0.225}})
		ten := make([]float32, p.TensorLen())
		if err := p.Run(f, ten); err != nil { // first call binds the buffer
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(20, func() {
			if err := p.Run(f, ten); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("fit %d: %v allocations per frame, want 0", fit, n)
		}
	}
}

// BenchmarkPreprocess640to224: one 640×480 BGR frame to a 3×224×224
// letterboxed, normalized RGB tensor.
func BenchmarkPreprocess640to224(b *testing.B) {
	f := frameOf(640, 480, func(x, y int) [3]byte { return [3]byte{byte(x), byte(y), byte(x + y)} })
	p, err := camera.NewPreprocessor(camera.PreprocessConfig{Width: 224, Height: 224, Fit: camera.FitLetterbox,
		Mean: [3]float32{0.485, 0.456, 0.406}, Std: [3]float32{0.229, 0.224, 0.225}})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ten := make([]float32, p.TensorLen())
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Run(f, ten); err != nil {
			b.Fatal(err)
		}
	}
}
