package camera

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

// Kind is the type of a camera source.
type Kind int

// The source kinds ParseSource recognizes.
const (
	KindUnknown Kind = iota
	KindUSB          // a V4L2 device, by index or path, through OpenCV
	KindRTSP         // an rtsp:// or rtsps:// URL, through gortsplib
	KindFile         // a video file (mp4, avi, mkv, ...) through OpenCV
	KindSim          // "sim": a simulated camera, which the caller builds (this package does not know the simulator)
)

// String names the kind as the CLI and the API show it.
func (k Kind) String() string {
	switch k {
	case KindUSB:
		return "usb"
	case KindRTSP:
		return "rtsp"
	case KindFile:
		return "file"
	case KindSim:
		return "sim"
	}
	return "unknown"
}

// Source is a parsed camera source string (robot.CameraSpec.Source).
type Source struct {
	Kind  Kind
	Index int    // KindUSB: device index (/dev/videoN), -1 when only Path is known
	Path  string // KindUSB: device path; KindFile: file path
	URL   string // KindRTSP: the URL, credentials included
}

// ErrBadSource is wrapped by ParseSource's errors.
var ErrBadSource = errors.New("camera: bad source")

// videoExts are the file name endings taken as video files.
var videoExts = [...]string{".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mjpeg", ".mjpg", ".h264", ".264", ".h265", ".hevc", ".ts"}

// ParseSource reads a source string: a device index ("0"), a device path
// ("/dev/video0", "/dev/v4l/by-id/…"), an RTSP URL ("rtsp://host:8554/cam"),
// a video file ("clip.mp4", "file:///data/clip.avi") or "sim".
func ParseSource(s string) (Source, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return Source{}, fmt.Errorf("%w: empty", ErrBadSource)
	case s == "sim" || strings.HasPrefix(s, "sim:"):
		return Source{Kind: KindSim, Index: -1, Path: strings.TrimPrefix(strings.TrimPrefix(s, "sim"), ":")}, nil
	case allDigits(s):
		n, err := strconv.Atoi(s)
		if err != nil || n > 1023 {
			return Source{}, fmt.Errorf("%w: device index %q out of range 0..1023", ErrBadSource, s)
		}
		return Source{Kind: KindUSB, Index: n, Path: "/dev/video" + strconv.Itoa(n)}, nil
	case hasPrefixFold(s, "rtsp://") || hasPrefixFold(s, "rtsps://"):
		u, err := url.Parse(s)
		if err != nil {
			return Source{}, fmt.Errorf("%w: %q: %v", ErrBadSource, redact(s), err)
		}
		if u.Hostname() == "" {
			return Source{}, fmt.Errorf("%w: %q has no host", ErrBadSource, redact(s))
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				return Source{}, fmt.Errorf("%w: %q: bad port %q", ErrBadSource, redact(s), p)
			}
		}
		return Source{Kind: KindRTSP, Index: -1, URL: s}, nil
	case hasPrefixFold(s, "file://"):
		p := s[len("file://"):]
		if p == "" {
			return Source{}, fmt.Errorf("%w: %q has no path", ErrBadSource, s)
		}
		return Source{Kind: KindFile, Index: -1, Path: p}, nil
	case strings.HasPrefix(s, "/dev/"):
		src := Source{Kind: KindUSB, Index: -1, Path: s}
		if rest, ok := strings.CutPrefix(s, "/dev/video"); ok && allDigits(rest) && len(rest) <= 4 {
			src.Index, _ = strconv.Atoi(rest)
		}
		return src, nil
	case strings.Contains(s, "://"):
		return Source{}, fmt.Errorf("%w: %q: unsupported scheme (want rtsp://, rtsps:// or file://)", ErrBadSource, redact(s))
	}
	ext := strings.ToLower(filepath.Ext(s))
	for _, e := range videoExts {
		if ext == e {
			return Source{Kind: KindFile, Index: -1, Path: s}, nil
		}
	}
	return Source{}, fmt.Errorf("%w: %q is not a device index, /dev path, rtsp:// URL, video file or \"sim\"", ErrBadSource, s)
}

// String returns the source as given, with any RTSP password hidden.
func (s Source) String() string {
	switch s.Kind {
	case KindRTSP:
		return redact(s.URL)
	case KindUSB:
		if s.Path != "" {
			return s.Path
		}
		return strconv.Itoa(s.Index)
	case KindSim:
		if s.Path != "" {
			return "sim:" + s.Path
		}
		return "sim"
	}
	return s.Path
}

// redact hides the password of a URL for logs and errors.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
