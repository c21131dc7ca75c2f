package camera

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph265"
	"github.com/pion/rtp"
)

// rtspGrabber reads one RTSP session per grab call: DESCRIBE, SETUP of the
// first H.264 (else H.265) video track, PLAY, then depacketize, decode and
// publish every access unit from gortsplib's reader goroutine until the
// session fails or ctx ends.
type rtspGrabber struct {
	au      []byte        // Annex-B buffer, reused
	cpuBase time.Duration // decode CPU of earlier sessions
}

// depacketizer is the part of gortsplib's RTP decoders used here.
type depacketizer interface {
	Decode(pkt *rtp.Packet) ([][]byte, error)
}

func (g *rtspGrabber) grab(ctx context.Context, c *Camera) error {
	u, err := base.ParseURL(c.src.URL)
	if err != nil {
		return fmt.Errorf("camera: rtsp URL %s: %w: %w", c.src, err, ErrFatal)
	}
	cl := &gortsplib.Client{
		Scheme:        u.Scheme,
		Host:          u.Host,
		ReadTimeout:   c.cfg.ReadTimeout,
		WriteTimeout:  c.cfg.ReadTimeout,
		DialContext:   (&net.Dialer{Timeout: c.cfg.ReadTimeout}).DialContext,
		OnPacketsLost: func(lost uint64) { c.packetsLost.Add(lost) },
		OnDecodeError: func(err error) { c.log.Debug("rtsp decode error", "err", err) },
	}
	switch c.cfg.Transport {
	case TransportTCP:
		t := gortsplib.TransportTCP
		cl.Transport = &t
	case TransportUDP:
		t := gortsplib.TransportUDP
		cl.Transport = &t
	}
	if err := cl.Start2(); err != nil {
		return fmt.Errorf("camera: rtsp start: %w", err)
	}
	defer cl.Close()
	stop := context.AfterFunc(ctx, cl.Close)
	defer stop()

	desc, _, err := cl.Describe(u)
	if err != nil {
		return fmt.Errorf("camera: rtsp describe %s: %w", c.src, err)
	}
	var (
		h264f *format.H264
		h265f *format.H265
		medi  *description.Media
		forma format.Format
		dep   depacketizer
		ab    = annexB{}
	)
	if medi = desc.FindFormat(&h264f); medi != nil {
		forma, ab.codec = h264f, CodecH264
		d, err := h264f.CreateDecoder()
		if err != nil {
			return fmt.Errorf("camera: rtsp h264 depacketizer: %w", err)
		}
		dep = d
		sps, pps := h264f.SafeParams()
		ab.setParams(nil, sps, pps)
	} else if medi = desc.FindFormat(&h265f); medi != nil {
		forma, ab.codec = h265f, CodecH265
		d, err := h265f.CreateDecoder()
		if err != nil {
			return fmt.Errorf("camera: rtsp h265 depacketizer: %w", err)
		}
		dep = d
		ab.setParams(h265f.SafeParams())
	} else {
		return fmt.Errorf("camera: rtsp %s: no H.264 or H.265 video track: %w", c.src, ErrFatal)
	}
	dec, err := NewDecoder(ab.codec, c.cfg.DecoderThreads)
	if err != nil {
		return err
	}
	defer func() {
		cl.Close() // no callback may run once the decoder is freed
		g.cpuBase += dec.CPU()
		dec.Close()
	}()
	if _, err := cl.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		return fmt.Errorf("camera: rtsp setup %s: %w", c.src, err)
	}

	var (
		clock    ptsClock
		auStart  time.Time // arrival of the current access unit's first packet
		lastTS   uint32
		havePkt  bool
		clockHz  = int64(forma.ClockRate())
		sessMode = Mode{Codec: ab.codec.String()}
	)
	c.setMode(sessMode)
	cl.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		now := time.Now()
		if !havePkt || pkt.Timestamp != lastTS {
			auStart, lastTS, havePkt = now, pkt.Timestamp, true
		}
		nalus, err := dep.Decode(pkt)
		if err != nil {
			if !errors.Is(err, rtph264.ErrMorePacketsNeeded) && !errors.Is(err, rtph265.ErrMorePacketsNeeded) &&
				!errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious) && !errors.Is(err, rtph265.ErrNonStartingPacketAndNoPrevious) {
				c.dropFrame()
			}
			return
		}
		pts, ptsOK := cl.PacketPTS2(medi, pkt)
		au, ok := ab.appendAU(g.au, nalus)
		g.au = au
		if !ok {
			return
		}
		w, h, got, err := dec.Decode(au)
		c.decodeCPU.Store(int64(g.cpuBase + dec.CPU()))
		if err != nil {
			c.dropFrame()
			return
		}
		if !got {
			return
		}
		if w != sessMode.Width || h != sessMode.Height {
			sessMode.Width, sessMode.Height = w, h
			c.setMode(sessMode)
		}
		f := c.begin(w, h)
		if f == nil {
			dec.Skip()
			return
		}
		if err := dec.Convert(f.Pix, c.cfg.Format); err != nil {
			c.cancel()
			return
		}
		capture := auStart
		if ptsOK {
			capture = clock.capture(pts, clockHz, auStart)
		}
		c.commit(capture)
		c.decodeCPU.Store(int64(g.cpuBase + dec.CPU()))
	})
	if _, err := cl.Play(nil); err != nil {
		return fmt.Errorf("camera: rtsp play %s: %w", c.src, err)
	}
	c.log.Info("rtsp playing", "source", c.src.String(), "codec", ab.codec.String(), "transport", c.cfg.Transport)
	err = cl.Wait()
	if ctx.Err() != nil {
		return nil
	}
	if err == nil {
		err = errors.New("session closed")
	}
	return fmt.Errorf("camera: rtsp %s: %w", c.src, err)
}

// ptsClock maps a stream's presentation timestamps onto the local clock.
// The offset between the two is taken from the access unit that arrived
// soonest after its timestamp (the least delayed one), so a capture time is
// never later than its arrival and network jitter does not move it; the
// offset may grow by at most 200 ppm of elapsed time, which follows a
// sender whose clock runs slower than ours.
type ptsClock struct {
	anchor  time.Time // local time of pts 0
	last    time.Time // arrival used for the previous frame
	started bool
}

// capture returns the local capture time of the access unit with
// timestamp pts (in units of hz per second) whose first packet arrived at
// arrival.
func (p *ptsClock) capture(pts, hz int64, arrival time.Time) time.Time {
	off := time.Duration(pts/hz)*time.Second + time.Duration(pts%hz)*time.Second/time.Duration(hz)
	cand := arrival.Add(-off)
	switch {
	case !p.started:
		p.anchor, p.started = cand, true
	case cand.Before(p.anchor):
		p.anchor = cand
	default:
		slew := p.anchor.Add(arrival.Sub(p.last) / 5000)
		if cand.Before(slew) {
			p.anchor = cand
		} else {
			p.anchor = slew
		}
	}
	p.last = arrival
	return p.anchor.Add(off)
}
