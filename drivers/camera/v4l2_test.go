package camera

import (
	"testing"
)

func TestDecodeV4L2Structs(t *testing.T) {
	var capb [sizeofCapability]byte
	copy(capb[0:], "uvcvideo")
	copy(capb[16:], "HD USB Camera: HD USB Camera")
	copy(capb[48:], "usb-0000:00:14.0-1")
	ne.PutUint32(capb[84:], v4l2CapDeviceCaps|v4l2CapVideoCapture|0x04000000)
	ne.PutUint32(capb[88:], 0x00800000) // device caps: metadata only
	if d, capture := decodeCapability(capb[:]); capture || d.Driver != "uvcvideo" || d.Name != "HD USB Camera: HD USB Camera" {
		t.Fatalf("metadata node: %+v capture=%v", d, capture)
	}
	ne.PutUint32(capb[88:], v4l2CapVideoCapture)
	if _, capture := decodeCapability(capb[:]); !capture {
		t.Fatal("capture node not recognised")
	}

	var fd [sizeofFmtDesc]byte
	ne.PutUint32(fd[8:], v4l2FmtFlagCompressed)
	copy(fd[12:], "Motion-JPEG")
	ne.PutUint32(fd[44:], 'M'|'J'<<8|'P'<<16|'G'<<24)
	if f, pf := decodeFmtDesc(fd[:]); f.FourCC != "MJPG" || !f.Compressed || f.Description != "Motion-JPEG" || pf == 0 {
		t.Fatalf("fmtdesc: %+v", f)
	}

	var fs [sizeofFrmSizeEnum]byte
	ne.PutUint32(fs[8:], v4l2FrmSizeTypeDiscrete)
	ne.PutUint32(fs[12:], 640)
	ne.PutUint32(fs[16:], 480)
	if s, ok := decodeFrameSize(fs[:]); !ok || s.Width != 640 || s.Height != 480 || s.Stepwise {
		t.Fatalf("framesize: %+v", s)
	}
	var fi [sizeofFrmIvalEnum]byte
	ne.PutUint32(fi[16:], v4l2FrmIvalTypeDiscrete)
	ne.PutUint32(fi[20:], 1)
	ne.PutUint32(fi[24:], 30)
	if r, ok := decodeFrameInterval(fi[:]); !ok || r != 30 {
		t.Fatalf("interval: %v %v", r, ok)
	}
}

func TestListDevicesWithoutCameras(t *testing.T) {
	devs, err := ListDevices()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		t.Logf("%s (%s): %d formats", d.Path, d.Name, len(d.Formats))
	}
}

// FuzzV4L2Decode: the decoders of kernel structs never panic on any bytes.
func FuzzV4L2Decode(f *testing.F) {
	f.Add(make([]byte, sizeofCapability))
	f.Add([]byte{1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, _ := decodeCapability(b)
		_ = d.Name
		fm, _ := decodeFmtDesc(b)
		_ = fm.FourCC
		s, ok := decodeFrameSize(b)
		if ok && (s.Width <= 0 || s.Height <= 0) {
			t.Fatalf("accepted size %dx%d", s.Width, s.Height)
		}
		if r, ok := decodeFrameInterval(b); ok && !(r > 0) {
			t.Fatalf("accepted rate %v", r)
		}
	})
}
