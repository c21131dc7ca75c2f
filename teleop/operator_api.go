package teleop

import (
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/anther-robotics/anther/robot"
)

// sessionHeader carries the operator session id on commands.
const sessionHeader = "X-Anther-Session"

func sessionOf(r *http.Request) string { return r.Header.Get(sessionHeader) }

// ClaimRequest is the body of POST /api/operator/claim.
type ClaimRequest struct {
	Name  string `json:"name"`  // who is operating, shown to others
	Force bool   `json:"force"` // take control from the current holder
}

// decodeBody decodes a JSON body strictly, answering 400 on failure.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, want string) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "bad JSON: %v (want %s)", err, want)
		return false
	}
	return true
}

func (s *Server) operatorStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.ops.status(sessionOf(r)))
}

func (s *Server) operatorClaim(w http.ResponseWriter, r *http.Request) {
	var req ClaimRequest
	if !decodeBody(w, r, &req, `{"name": "operator name", "force": false}`) {
		return
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" || len(req.Name) > 64 {
		writeError(w, http.StatusBadRequest, "name must be 1..64 characters")
		return
	}
	id, err := s.ops.claim(req.Name, req.Force)
	if err != nil {
		writeError(w, http.StatusConflict, "%v", err)
		return
	}
	s.events.Publish("operator", "info", req.Name+" took control", map[string]any{"force": req.Force})
	writeJSON(w, http.StatusOK, map[string]any{"session": id, "heartbeat_ms": s.loop.Safety().Heartbeat.Milliseconds()})
}

func (s *Server) operatorRelease(w http.ResponseWriter, r *http.Request) {
	if !s.ops.release(sessionOf(r)) {
		writeError(w, http.StatusConflict, "this session does not hold control")
		return
	}
	s.events.Publish("operator", "info", "control released", nil)
	writeJSON(w, http.StatusOK, map[string]bool{"released": true})
}

func (s *Server) operatorHeartbeat(w http.ResponseWriter, r *http.Request) {
	if err := s.ops.heartbeat(sessionOf(r)); err != nil {
		writeError(w, http.StatusConflict, "%v", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// JogRequest is the body of POST /api/teleop/jog (and of a "jog" WebSocket
// message): joint velocities in rad/s while the dead-man key is held. An
// empty map stops.
type JogRequest struct {
	Velocities map[string]float64 `json:"velocities"`
}

// jog validates and applies a jog request from session; it returns an HTTP
// status and message on failure.
func (s *Server) jogApply(session string, req *JogRequest) (int, string) {
	if err := s.ops.allowed(session); err != nil {
		return http.StatusConflict, err.Error()
	}
	if lc := s.loop.Lifecycle(); lc != robot.Active {
		return http.StatusConflict, "robot is " + lc.String() + ": activate it first"
	}
	c := &jogCmd{at: time.Now()}
	for name, v := range req.Velocities {
		idx, ok := s.desc.Joint(name)
		if !ok {
			return http.StatusBadRequest, "unknown joint " + name
		}
		lim := float64(s.desc.Joints[idx].MaxVelocity)
		if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > lim {
			return http.StatusBadRequest, name + ": velocity out of range (max " + formatFloat(lim) + " rad/s)"
		}
		c.mask |= 1 << idx
		c.vel[idx] = v
	}
	s.jog.set(c)
	if s.loop.SafetyStatus().Source != "jog" || s.loop.Mode().String() != "source" {
		s.loop.SetSource("jog", s.jog, time.Second)
	}
	return 0, ""
}

func formatFloat(v float64) string {
	b, _ := json.Marshal(math.Round(v*1000) / 1000)
	return string(b)
}

func (s *Server) jogHTTP(w http.ResponseWriter, r *http.Request) {
	var req JogRequest
	if !decodeBody(w, r, &req, `{"velocities": {"joint": rad_per_s}}`) {
		return
	}
	if code, msg := s.jogApply(sessionOf(r), &req); code != 0 {
		writeError(w, code, "%s", msg)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) recentEvents(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.events.Recent())
}
