package camera

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"unsafe"

	"gocv.io/x/gocv"

	"github.com/anther-robotics/anther/robot"
)

// Fit is how a frame is brought to the tensor's size.
type Fit int

// Fits.
const (
	FitStretch   Fit = iota // resize to the output size, ignoring the aspect ratio
	FitLetterbox            // resize to fit inside, keeping the aspect ratio, and pad the rest
	FitCrop                 // crop the centre to the output's aspect ratio, then resize
)

// Interp is the resampling filter.
type Interp int

// Interpolations.
const (
	InterpLinear  Interp = iota // bilinear (default)
	InterpArea                  // pixel-area averaging: best when shrinking a lot
	InterpNearest               // nearest neighbour
)

// PreprocessConfig describes the tensor a policy takes from a camera.
type PreprocessConfig struct {
	Width, Height int             // output size, pixels
	Crop          image.Rectangle // region of the frame to use (empty = the whole frame)
	Fit           Fit             // how the (cropped) frame reaches Width×Height
	Pad           uint8           // letterbox fill value, every channel
	Interp        Interp          // resampling filter
	BGR           bool            // channel order of the tensor: false = RGB (the usual for models), true = BGR
	Mean, Std     [3]float32      // per tensor channel, after scaling pixels to [0,1]: (v/255 - Mean)/Std; a zero Std counts as 1
}

// Preprocessor turns frames into float32 CHW tensors: crop, resize (fit,
// letterbox or stretch) with OpenCV, then channel reorder and normalization
// through per-channel lookup tables into the caller's buffer. Once it has
// seen a frame buffer and size, later calls with the same buffer do not
// allocate. Not safe for concurrent use; Close frees its OpenCV images.
type Preprocessor struct {
	cfg PreprocessConfig
	lut [3][256]float32

	in      gocv.Mat // header over the caller's frame buffer (cached)
	inPtr   *byte
	inW     int
	inH     int
	inFmt   robot.PixelFormat
	roi     gocv.Mat // region of in (when cropping)
	hasROI  bool
	sized   gocv.Mat // resized
	out     gocv.Mat // final Width×Height image (letterbox canvas)
	hasIn   bool
	scale   float64
	offX    int
	offY    int
	resW    int
	resH    int
	srcRect image.Rectangle
}

// ErrPreprocess wraps the preprocessor's errors.
var ErrPreprocess = errors.New("camera: preprocess")

// NewPreprocessor checks cfg and builds the lookup tables.
func NewPreprocessor(cfg PreprocessConfig) (*Preprocessor, error) {
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > 1<<14 || cfg.Height > 1<<14 {
		return nil, fmt.Errorf("%w: output size %dx%d", ErrPreprocess, cfg.Width, cfg.Height)
	}
	if cfg.Fit < FitStretch || cfg.Fit > FitCrop || cfg.Interp < InterpLinear || cfg.Interp > InterpNearest {
		return nil, fmt.Errorf("%w: unknown fit %d or interpolation %d", ErrPreprocess, cfg.Fit, cfg.Interp)
	}
	p := &Preprocessor{cfg: cfg, sized: gocv.NewMat(), out: gocv.NewMat()}
	for c := range 3 {
		std := cfg.Std[c]
		if std == 0 {
			std = 1
		}
		if math.IsNaN(float64(std)) || math.IsNaN(float64(cfg.Mean[c])) {
			return nil, fmt.Errorf("%w: NaN mean or std", ErrPreprocess)
		}
		for v := range 256 {
			p.lut[c][v] = (float32(v)/255 - cfg.Mean[c]) / std
		}
	}
	return p, nil
}

// TensorLen is the number of float32s Run writes: 3*Width*Height.
func (p *Preprocessor) TensorLen() int { return 3 * p.cfg.Width * p.cfg.Height }

// Geometry maps tensor pixels back to frame pixels after the last Run:
// frame = crop origin + (tensor - offset) / scale, per axis (scaleX differs
// from scaleY only with FitStretch).
func (p *Preprocessor) Geometry() (scaleX, scaleY float64, offset, origin image.Point) {
	sx := float64(p.resW) / float64(max(p.srcRect.Dx(), 1))
	sy := float64(p.resH) / float64(max(p.srcRect.Dy(), 1))
	return sx, sy, image.Pt(p.offX, p.offY), p.srcRect.Min
}

// Run writes f as a CHW tensor into dst (at least TensorLen floats).
func (p *Preprocessor) Run(f *robot.Frame, dst []float32) error {
	n := p.cfg.Width * p.cfg.Height
	if len(dst) < 3*n {
		return fmt.Errorf("%w: tensor buffer holds %d floats, need %d", ErrPreprocess, len(dst), 3*n)
	}
	if err := p.bind(f); err != nil {
		return err
	}
	src := p.in
	if p.hasROI {
		src = p.roi
	}
	inter := gocv.InterpolationLinear
	switch p.cfg.Interp {
	case InterpArea:
		inter = gocv.InterpolationArea
	case InterpNearest:
		inter = gocv.InterpolationNearestNeighbor
	}
	final := &p.sized
	if p.resW == src.Cols() && p.resH == src.Rows() {
		src.CopyTo(&p.sized)
	} else {
		gocv.Resize(src, &p.sized, image.Pt(p.resW, p.resH), 0, 0, inter)
	}
	if p.cfg.Fit == FitLetterbox && (p.resW != p.cfg.Width || p.resH != p.cfg.Height) {
		v := p.cfg.Pad
		gocv.CopyMakeBorder(p.sized, &p.out, p.offY, p.cfg.Height-p.resH-p.offY, p.offX, p.cfg.Width-p.resW-p.offX,
			gocv.BorderConstant, color.RGBA{v, v, v, v})
		final = &p.out
	}
	px, err := final.DataPtrUint8()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrPreprocess, err)
	}
	if p.inFmt == robot.PixelGray8 {
		g := px[:n]
		c0, c1, c2 := dst[:n], dst[n:2*n], dst[2*n:3*n]
		for i, v := range g {
			c0[i], c1[i], c2[i] = p.lut[0][v], p.lut[1][v], p.lut[2][v]
		}
		return nil
	}
	px = px[:3*n]
	// Tensor channel k takes frame channel ch[k].
	swap := (p.inFmt == robot.PixelBGR24) != p.cfg.BGR
	a, b, c := dst[:n], dst[n:2*n], dst[2*n:3*n]
	if swap {
		a, c = c, a
	}
	la, lb, lc := &p.lut[0], &p.lut[1], &p.lut[2]
	if swap {
		la, lc = lc, la
	}
	for i := range n {
		j := 3 * i
		a[i], b[i], c[i] = la[px[j]], lb[px[j+1]], lc[px[j+2]]
	}
	return nil
}

// bind wraps the frame's buffer in an OpenCV image, reusing the previous
// wrapper (and the crop and geometry derived from it) when the buffer and
// size are unchanged.
func (p *Preprocessor) bind(f *robot.Frame) error {
	bpp := f.Format.BytesPerPixel()
	if bpp == 0 || f.Width <= 0 || f.Height <= 0 || len(f.Pix) < f.Width*f.Height*bpp {
		return fmt.Errorf("%w: frame %dx%d %s with %d bytes", ErrPreprocess, f.Width, f.Height, f.Format, len(f.Pix))
	}
	ptr := unsafe.SliceData(f.Pix)
	if p.hasIn && ptr == p.inPtr && f.Width == p.inW && f.Height == p.inH && f.Format == p.inFmt {
		return nil
	}
	p.release()
	mt := gocv.MatTypeCV8UC3
	if bpp == 1 {
		mt = gocv.MatTypeCV8UC1
	}
	in, err := gocv.NewMatFromBytes(f.Height, f.Width, mt, f.Pix[:f.Width*f.Height*bpp])
	if err != nil {
		return fmt.Errorf("%w: %w", ErrPreprocess, err)
	}
	p.in, p.hasIn, p.inPtr, p.inW, p.inH, p.inFmt = in, true, ptr, f.Width, f.Height, f.Format

	full := image.Rect(0, 0, f.Width, f.Height)
	r := full
	if !p.cfg.Crop.Empty() {
		r = p.cfg.Crop.Intersect(full)
		if r.Empty() {
			return fmt.Errorf("%w: crop %v is outside the %dx%d frame", ErrPreprocess, p.cfg.Crop, f.Width, f.Height)
		}
	}
	W, H := p.cfg.Width, p.cfg.Height
	switch p.cfg.Fit {
	case FitCrop:
		// The largest centred region of r with the output's aspect ratio.
		if r.Dx()*H > r.Dy()*W {
			w := r.Dy() * W / H
			x := r.Min.X + (r.Dx()-w)/2
			r = image.Rect(x, r.Min.Y, x+w, r.Max.Y)
		} else {
			h := r.Dx() * H / W
			y := r.Min.Y + (r.Dy()-h)/2
			r = image.Rect(r.Min.X, y, r.Max.X, y+h)
		}
		p.resW, p.resH, p.offX, p.offY = W, H, 0, 0
	case FitLetterbox:
		s := math.Min(float64(W)/float64(r.Dx()), float64(H)/float64(r.Dy()))
		p.resW = min(W, max(1, int(math.Round(float64(r.Dx())*s))))
		p.resH = min(H, max(1, int(math.Round(float64(r.Dy())*s))))
		p.offX, p.offY = (W-p.resW)/2, (H-p.resH)/2
	default:
		p.resW, p.resH, p.offX, p.offY = W, H, 0, 0
	}
	p.srcRect = r
	if r != full {
		p.roi, p.hasROI = p.in.Region(r), true
	}
	return nil
}

func (p *Preprocessor) release() {
	if p.hasROI {
		p.roi.Close()
		p.hasROI = false
	}
	if p.hasIn {
		p.in.Close()
		p.hasIn = false
	}
}

// Close frees the OpenCV images. It is idempotent.
func (p *Preprocessor) Close() {
	p.release()
	_ = p.sized.Close()
	_ = p.out.Close()
}
