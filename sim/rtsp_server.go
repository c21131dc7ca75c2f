package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"
)

// RTSPServer is an in-process RTSP server (gortsplib) that relays streams:
// a publisher (ffmpeg, a simulated camera) ANNOUNCEs and RECORDs on a path,
// and any number of readers DESCRIBE, SETUP and PLAY it over TCP or UDP.
// A reader asking for a path nobody publishes gets 404. It is what the
// simulated cameras are served from and what the camera driver is tested
// against.
type RTSPServer struct {
	addr string
	log  *slog.Logger

	srv   *gortsplib.Server
	mu    sync.Mutex
	paths map[string]*rtspPath
	wake  chan struct{} // closed and replaced when a path starts publishing
	bound string        // host:port the TCP listener got
}

type rtspPath struct {
	stream    *gortsplib.ServerStream
	publisher *gortsplib.ServerSession
	recording bool
	frames    *atomic.Uint64 // RTP packets with the marker bit: the last of each video frame
}

// ErrRTSP wraps the RTSP server's errors.
var ErrRTSP = errors.New("sim: rtsp")

// NewRTSPServer returns a server for addr (host:port; port 0 picks free
// ports, "" means 127.0.0.1:0). It binds nothing until Start.
func NewRTSPServer(addr string, log *slog.Logger) *RTSPServer {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &RTSPServer{addr: addr, log: log, paths: map[string]*rtspPath{}, wake: make(chan struct{})}
}

// Start binds the RTSP TCP port and an even/odd pair of UDP ports for RTP
// and RTCP on the same host, and starts serving.
func (s *RTSPServer) Start() error {
	host, _, err := net.SplitHostPort(s.addr)
	if err != nil {
		return fmt.Errorf("%w: address %q: %w", ErrRTSP, s.addr, err)
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("%w: listen: %w", ErrRTSP, err)
	}
	rtpc, rtcpc, err := listenUDPPair(host)
	if err != nil {
		ln.Close()
		return err
	}
	s.bound = ln.Addr().String()
	pre := map[string]net.PacketConn{rtpc.LocalAddr().String(): rtpc, rtcpc.LocalAddr().String(): rtcpc}
	s.srv = &gortsplib.Server{
		Handler:        s,
		RTSPAddress:    s.bound,
		UDPRTPAddress:  rtpc.LocalAddr().String(),
		UDPRTCPAddress: rtcpc.LocalAddr().String(),
		Listen: func(string, string) (net.Listener, error) {
			return ln, nil
		},
		ListenPacket: func(network, address string) (net.PacketConn, error) {
			if pc, ok := pre[address]; ok {
				delete(pre, address)
				return pc, nil
			}
			return net.ListenPacket(network, address)
		},
	}
	if err := s.srv.Start(); err != nil {
		ln.Close()
		rtpc.Close()
		rtcpc.Close()
		return fmt.Errorf("%w: start: %w", ErrRTSP, err)
	}
	s.log.Info("rtsp server listening", "addr", s.bound, "udp_rtp", rtpc.LocalAddr().String())
	return nil
}

// listenUDPPair binds two consecutive UDP ports, the first even, as RTSP
// servers need for RTP and RTCP.
func listenUDPPair(host string) (net.PacketConn, net.PacketConn, error) {
	for range 50 {
		a, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, nil, fmt.Errorf("%w: udp: %w", ErrRTSP, err)
		}
		p := a.LocalAddr().(*net.UDPAddr).Port
		other := p + 1
		if p%2 == 1 {
			other = p - 1
		}
		b, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(other)))
		if err != nil {
			a.Close()
			continue
		}
		if p%2 == 1 {
			a, b = b, a
		}
		return a, b, nil
	}
	return nil, nil, fmt.Errorf("%w: no free pair of UDP ports", ErrRTSP)
}

// Addr is the host:port the server listens on (after Start).
func (s *RTSPServer) Addr() string { return s.bound }

// URL is the rtsp:// address of path on this server.
func (s *RTSPServer) URL(path string) string {
	return "rtsp://" + s.bound + "/" + strings.Trim(path, "/")
}

// Close stops the server, disconnecting publishers and readers. It is
// idempotent. A closed server does not start again: to restart, make a new
// one on the same Addr.
func (s *RTSPServer) Close() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// WaitPublished waits until someone is publishing on path.
func (s *RTSPServer) WaitPublished(ctx context.Context, path string) error {
	path = strings.Trim(path, "/")
	for {
		s.mu.Lock()
		p := s.paths[path]
		ok := p != nil && p.recording
		wake := s.wake
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: nobody published %q: %w", ErrRTSP, path, ctx.Err())
		case <-wake:
		}
	}
}

// Frames is the number of video frames relayed on path since its current
// publisher started (0 when nobody publishes).
func (s *RTSPServer) Frames(path string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.paths[strings.Trim(path, "/")]; p != nil {
		return p.frames.Load()
	}
	return 0
}

// OnSessionClose drops the stream of a publisher that went away, which
// disconnects its readers.
func (s *RTSPServer) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, p := range s.paths {
		if p.publisher == ctx.Session {
			p.stream.Close()
			delete(s.paths, name)
			s.log.Info("rtsp publisher left", "path", name)
		}
	}
}

// OnDescribe serves the description of a published path.
func (s *RTSPServer) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.paths[strings.Trim(ctx.Path, "/")]
	if p == nil || !p.recording {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, p.stream, nil
}

// OnAnnounce accepts a publisher on a path, replacing any previous one.
func (s *RTSPServer) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	name := strings.Trim(ctx.Path, "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return &base.Response{StatusCode: base.StatusServiceUnavailable}, nil
	}
	if old := s.paths[name]; old != nil {
		old.stream.Close()
		old.publisher.Close()
	}
	st := &gortsplib.ServerStream{Server: s.srv, Desc: ctx.Description}
	if err := st.Initialize(); err != nil {
		return &base.Response{StatusCode: base.StatusBadRequest}, fmt.Errorf("%w: %w", ErrRTSP, err)
	}
	s.paths[name] = &rtspPath{stream: st, publisher: ctx.Session, frames: new(atomic.Uint64)}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSetup accepts publishers' SETUPs and readers' SETUPs of published paths.
func (s *RTSPServer) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.paths[strings.Trim(ctx.Path, "/")]
	if p == nil || !p.recording {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, p.stream, nil
}

// OnPlay lets readers play.
func (s *RTSPServer) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnRecord starts relaying a publisher's packets to the path's readers.
func (s *RTSPServer) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	name := strings.Trim(ctx.Path, "/")
	s.mu.Lock()
	p := s.paths[name]
	if p == nil || p.publisher != ctx.Session {
		s.mu.Unlock()
		return &base.Response{StatusCode: base.StatusBadRequest}, nil
	}
	st, frames := p.stream, p.frames
	ctx.Session.OnPacketRTPAny(func(medi *description.Media, _ format.Format, pkt *rtp.Packet) {
		if pkt.Marker && medi.Type == description.MediaTypeVideo {
			frames.Add(1)
		}
		_ = st.WritePacketRTP(medi, pkt) // fails only once the stream is closed
	})
	p.recording = true
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
	s.log.Info("rtsp publishing", "path", name)
	return &base.Response{StatusCode: base.StatusOK}, nil
}
