package teleop

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// wsMessage is what a console sends over /api/ws/state: "heartbeat",
// "estop", "jog" (velocities) or "targets" (positions, as POST
// /api/joints/targets).
type wsMessage struct {
	Type       string             `json:"type"` // heartbeat, jog, estop
	Session    string             `json:"session,omitempty"`
	Velocities map[string]float64 `json:"velocities,omitempty"`
	Targets    map[string]float64 `json:"targets,omitempty"`
}

// accept upgrades to a WebSocket. coder/websocket refuses cross-origin
// requests (Origin must match Host) unless patterns allow them.
func (s *Server) accept(w http.ResponseWriter, r *http.Request) (*websocket.Conn, bool) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		s.log.Debug("websocket refused", "remote", r.RemoteAddr, "err", err)
		return nil, false
	}
	return c, true
}

// wsState streams the state document at up to ?hz= (default 30, max 60) and
// reads heartbeat, jog and estop messages from the console.
func (s *Server) wsState(w http.ResponseWriter, r *http.Request) {
	hz := 30.0
	if v := r.URL.Query().Get("hz"); v != "" {
		if err := json.Unmarshal([]byte(v), &hz); err != nil || hz <= 0 {
			writeError(w, http.StatusBadRequest, "hz must be a positive number")
			return
		}
	}
	hz = min(hz, 60)
	c, ok := s.accept(w, r)
	if !ok {
		return
	}
	defer c.CloseNow()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	// The operator session this connection speaks for: from the URL, then
	// from every heartbeat or jog message (so claiming control needs no
	// reconnect).
	var session atomic.Pointer[string]
	first := r.URL.Query().Get("session")
	session.Store(&first)

	go func() {
		defer cancel()
		for {
			var m wsMessage
			if err := wsjson.Read(ctx, c, &m); err != nil {
				return
			}
			var reply map[string]any
			if m.Type == "heartbeat" || m.Type == "jog" || m.Type == "targets" {
				sess := m.Session
				session.Store(&sess)
			}
			switch m.Type {
			case "heartbeat":
				if err := s.ops.heartbeat(m.Session); err != nil {
					reply = map[string]any{"type": "error", "error": err.Error()}
				}
			case "estop":
				s.requestEStop("console", r.RemoteAddr)
				s.events.Publish("operator", "warn", "e-stop from the console", nil)
			case "targets":
				if code, msg := s.targetsApply(m.Session, m.Targets); code != 0 {
					reply = map[string]any{"type": "error", "error": msg}
				}
			case "jog":
				if code, msg := s.jogApply(m.Session, &JogRequest{Velocities: m.Velocities}); code != 0 {
					reply = map[string]any{"type": "error", "error": msg}
				}
			default:
				reply = map[string]any{"type": "error", "error": "unknown message type " + m.Type}
			}
			if reply != nil {
				wctx, wcancel := context.WithTimeout(ctx, time.Second)
				_ = wsjson.Write(wctx, c, reply)
				wcancel()
			}
		}
	}()

	t := time.NewTicker(time.Duration(float64(time.Second) / hz))
	defer t.Stop()
	var lastTick uint64 = ^uint64(0)
	for {
		select {
		case <-ctx.Done():
			c.Close(websocket.StatusNormalClosure, "")
			return
		case <-t.C:
		}
		st, ok := s.snapshot(*session.Load())
		if !ok || st.Tick == lastTick {
			continue
		}
		lastTick = st.Tick
		wctx, wcancel := context.WithTimeout(ctx, time.Second)
		err := wsjson.Write(wctx, c, map[string]any{"type": "state", "state": st})
		wcancel()
		if err != nil {
			return
		}
	}
}

// wsEvents streams the recent events, then new ones as they happen.
func (s *Server) wsEvents(w http.ResponseWriter, r *http.Request) {
	c, ok := s.accept(w, r)
	if !ok {
		return
	}
	defer c.CloseNow()
	ctx := c.CloseRead(r.Context())
	ch, cancel := s.events.Subscribe()
	defer cancel()
	var last uint64
	send := func(ev Event) bool {
		if ev.Seq <= last {
			return true // already sent from the recent list
		}
		last = ev.Seq
		wctx, wcancel := context.WithTimeout(ctx, time.Second)
		defer wcancel()
		return wsjson.Write(wctx, c, ev) == nil
	}
	// Subscribed first, so nothing falls between the recent list and the stream.
	for _, ev := range s.events.Recent() {
		if !send(ev) {
			return
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-ch:
			if !send(ev) {
				return
			}
		}
	}
}
