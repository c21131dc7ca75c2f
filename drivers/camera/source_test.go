package camera

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSource(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Source
	}{
		{"0", Source{Kind: KindUSB, Index: 0, Path: "/dev/video0"}},
		{" 12 ", Source{Kind: KindUSB, Index: 12, Path: "/dev/video12"}},
		{"/dev/video2", Source{Kind: KindUSB, Index: 2, Path: "/dev/video2"}},
		{"/dev/v4l/by-id/usb-cam-video-index0", Source{Kind: KindUSB, Index: -1, Path: "/dev/v4l/by-id/usb-cam-video-index0"}},
		{"rtsp://user:pw@10.0.0.5:8554/cam", Source{Kind: KindRTSP, Index: -1, URL: "rtsp://user:pw@10.0.0.5:8554/cam"}},
		{"RTSP://host/x", Source{Kind: KindRTSP, Index: -1, URL: "RTSP://host/x"}},
		{"clip.MP4", Source{Kind: KindFile, Index: -1, Path: "clip.MP4"}},
		{"file:///data/a.avi", Source{Kind: KindFile, Index: -1, Path: "/data/a.avi"}},
		{"sim", Source{Kind: KindSim, Index: -1}},
		{"sim:wrist", Source{Kind: KindSim, Index: -1, Path: "wrist"}},
	} {
		got, err := ParseSource(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseSource(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "  ", "99999", "http://x/y", "rtsp://", "rtsp://:8554/x", "rtsp://h:99999/x", "notes.txt", "file://"} {
		if _, err := ParseSource(bad); !errors.Is(err, ErrBadSource) {
			t.Errorf("ParseSource(%q): %v, want ErrBadSource", bad, err)
		}
	}
	s, _ := ParseSource("rtsp://user:secret@h/x")
	if strings.Contains(s.String(), "secret") {
		t.Errorf("String shows the password: %s", s)
	}
}

// FuzzParseSource: never panics; a parsed source names a kind, prints
// without its password, and parses again to the same thing.
func FuzzParseSource(f *testing.F) {
	for _, s := range []string{"0", "/dev/video3", "rtsp://u:p@h:1/x?y=1", "a.mp4", "file://x.avi", "sim:cam", "rtsp://[::1]:8554/a", "%", "rtsp://h:0/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseSource(in)
		if err != nil {
			if !errors.Is(err, ErrBadSource) {
				t.Fatalf("error %v does not wrap ErrBadSource", err)
			}
			return
		}
		if s.Kind == KindUnknown {
			t.Fatalf("%q parsed to an unknown kind", in)
		}
		again, err := ParseSource(in)
		if err != nil || again != s {
			t.Fatalf("not deterministic: %+v vs %+v (%v)", s, again, err)
		}
		_ = s.String()
	})
}
