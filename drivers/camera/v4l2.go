package camera

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Device is a V4L2 video capture device and the modes it offers.
type Device struct {
	Path    string   `json:"path"`   // /dev/videoN
	Index   int      `json:"index"`  // N
	Name    string   `json:"name"`   // the card name, e.g. "HD USB Camera"
	Driver  string   `json:"driver"` // e.g. "uvcvideo"
	Bus     string   `json:"bus"`    // e.g. "usb-0000:00:14.0-1"
	Formats []Format `json:"formats"`
}

// Format is one pixel format of a device with its frame sizes.
type Format struct {
	FourCC      string      `json:"fourcc"` // "MJPG", "YUYV", ...
	Description string      `json:"description"`
	Compressed  bool        `json:"compressed"`
	Sizes       []FrameSize `json:"sizes"`
}

// FrameSize is one frame size and the rates offered at it. A stepwise
// (or continuous) range is reported as Width×Height = the largest size with
// Min/Step filled.
type FrameSize struct {
	Width      int       `json:"width"`
	Height     int       `json:"height"`
	FPS        []float64 `json:"fps,omitempty"` // discrete rates, fastest first
	Stepwise   bool      `json:"stepwise,omitempty"`
	MinWidth   int       `json:"min_width,omitempty"`
	MinHeight  int       `json:"min_height,omitempty"`
	StepWidth  int       `json:"step_width,omitempty"`
	StepHeight int       `json:"step_height,omitempty"`
}

// V4L2 ioctl numbers and constants (linux/videodev2.h).
const (
	vidiocQueryCap           = 0x80685600 // _IOR('V', 0, struct v4l2_capability)
	vidiocEnumFmt            = 0xc0405602 // _IOWR('V', 2, struct v4l2_fmtdesc)
	vidiocEnumFrameSizes     = 0xc02c564a // _IOWR('V', 74, struct v4l2_frmsizeenum)
	vidiocEnumFrameIntervals = 0xc034564b // _IOWR('V', 75, struct v4l2_frmivalenum)
	v4l2CapVideoCapture      = 0x00000001
	v4l2CapDeviceCaps        = 0x80000000
	v4l2BufTypeVideoCapture  = 1
	v4l2FmtFlagCompressed    = 0x0001
	v4l2FrmSizeTypeDiscrete  = 1
	v4l2FrmIvalTypeDiscrete  = 1
	sizeofCapability         = 104
	sizeofFmtDesc            = 64
	sizeofFrmSizeEnum        = 44
	sizeofFrmIvalEnum        = 52
	maxEnum                  = 256 // bound on every enumeration, against drivers that never say "no more"
)

var ne = binary.NativeEndian

// ListDevices returns the V4L2 capture devices (/dev/video*) in index
// order. Nodes that are not video capture (UVC metadata nodes) are left
// out; a device that cannot be opened is listed with its error as Name.
func ListDevices() ([]Device, error) {
	paths, err := filepath.Glob("/dev/video*")
	if err != nil {
		return nil, fmt.Errorf("camera: list devices: %w", err)
	}
	var devs []Device
	for _, p := range paths {
		n, err := strconv.Atoi(strings.TrimPrefix(p, "/dev/video"))
		if err != nil {
			continue
		}
		d, err := queryDevice(p)
		if errors.Is(err, errNotCapture) {
			continue
		}
		if err != nil {
			d = Device{Path: p, Name: "(" + err.Error() + ")"}
		}
		d.Index = n
		devs = append(devs, d)
	}
	sort.Slice(devs, func(i, j int) bool { return devs[i].Index < devs[j].Index })
	return devs, nil
}

var errNotCapture = errors.New("camera: not a video capture device")

func queryDevice(path string) (Device, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return Device{}, fmt.Errorf("camera: open %s: %w", path, err)
	}
	defer unix.Close(fd)
	var capb [sizeofCapability]byte
	if err := ioctl(fd, vidiocQueryCap, capb[:]); err != nil {
		return Device{}, fmt.Errorf("camera: %s: VIDIOC_QUERYCAP: %w", path, err)
	}
	d, capture := decodeCapability(capb[:])
	if !capture {
		return Device{}, errNotCapture
	}
	d.Path = path
	for i := range maxEnum {
		var b [sizeofFmtDesc]byte
		ne.PutUint32(b[0:], uint32(i))
		ne.PutUint32(b[4:], v4l2BufTypeVideoCapture)
		if ioctl(fd, vidiocEnumFmt, b[:]) != nil {
			break
		}
		f, pixfmt := decodeFmtDesc(b[:])
		f.Sizes = frameSizes(fd, pixfmt)
		d.Formats = append(d.Formats, f)
	}
	return d, nil
}

func frameSizes(fd int, pixfmt uint32) []FrameSize {
	var sizes []FrameSize
	for i := range maxEnum {
		var b [sizeofFrmSizeEnum]byte
		ne.PutUint32(b[0:], uint32(i))
		ne.PutUint32(b[4:], pixfmt)
		if ioctl(fd, vidiocEnumFrameSizes, b[:]) != nil {
			break
		}
		s, ok := decodeFrameSize(b[:])
		if !ok {
			break
		}
		if !s.Stepwise {
			s.FPS = frameRates(fd, pixfmt, s.Width, s.Height)
		}
		sizes = append(sizes, s)
		if s.Stepwise {
			break // one range describes them all
		}
	}
	return sizes
}

func frameRates(fd int, pixfmt uint32, w, h int) []float64 {
	var fps []float64
	for i := range maxEnum {
		var b [sizeofFrmIvalEnum]byte
		ne.PutUint32(b[0:], uint32(i))
		ne.PutUint32(b[4:], pixfmt)
		ne.PutUint32(b[8:], uint32(w))
		ne.PutUint32(b[12:], uint32(h))
		if ioctl(fd, vidiocEnumFrameIntervals, b[:]) != nil {
			break
		}
		r, ok := decodeFrameInterval(b[:])
		if !ok {
			break
		}
		fps = append(fps, r)
	}
	sort.Sort(sort.Reverse(sort.Float64Slice(fps)))
	return fps
}

func ioctl(fd int, req uintptr, b []byte) error {
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(unsafe.Pointer(unsafe.SliceData(b))))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		return nil
	}
}

// decodeCapability reads a struct v4l2_capability and reports whether the
// node captures video.
func decodeCapability(b []byte) (Device, bool) {
	if len(b) < sizeofCapability {
		return Device{}, false
	}
	d := Device{Driver: cString(b[0:16]), Name: cString(b[16:48]), Bus: cString(b[48:80])}
	caps := ne.Uint32(b[84:])
	if caps&v4l2CapDeviceCaps != 0 {
		caps = ne.Uint32(b[88:])
	}
	return d, caps&v4l2CapVideoCapture != 0
}

// decodeFmtDesc reads a struct v4l2_fmtdesc.
func decodeFmtDesc(b []byte) (Format, uint32) {
	if len(b) < sizeofFmtDesc {
		return Format{}, 0
	}
	pf := ne.Uint32(b[44:])
	return Format{
		FourCC: fourCC(pf), Description: cString(b[12:44]), Compressed: ne.Uint32(b[8:])&v4l2FmtFlagCompressed != 0,
	}, pf
}

// decodeFrameSize reads a struct v4l2_frmsizeenum.
func decodeFrameSize(b []byte) (FrameSize, bool) {
	if len(b) < sizeofFrmSizeEnum {
		return FrameSize{}, false
	}
	u := func(off int) int { return int(ne.Uint32(b[off:])) }
	if ne.Uint32(b[8:]) == v4l2FrmSizeTypeDiscrete {
		return FrameSize{Width: u(12), Height: u(16)}, u(12) > 0 && u(16) > 0
	}
	// stepwise/continuous: min_width, max_width, step_width, min_height, max_height, step_height
	s := FrameSize{Stepwise: true, MinWidth: u(12), Width: u(16), StepWidth: u(20), MinHeight: u(24), Height: u(28), StepHeight: u(32)}
	return s, s.Width > 0 && s.Height > 0
}

// decodeFrameInterval reads a discrete struct v4l2_frmivalenum as a rate.
func decodeFrameInterval(b []byte) (float64, bool) {
	if len(b) < sizeofFrmIvalEnum || ne.Uint32(b[16:]) != v4l2FrmIvalTypeDiscrete {
		return 0, false
	}
	num, den := ne.Uint32(b[20:]), ne.Uint32(b[24:])
	if num == 0 || den == 0 {
		return 0, false
	}
	return float64(den) / float64(num), true
}

// fourCC spells a V4L2 pixel format code, e.g. "MJPG".
func fourCC(v uint32) string {
	b := []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return strings.TrimRight(string(b), " ")
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			b = b[:i]
			break
		}
	}
	return strings.ToValidUTF8(string(b), "?")
}
