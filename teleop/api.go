// Package teleop is the operator's side of anther: the HTTP API (and, with
// later issues, the web console, WebSocket streams and leader-arm teleop).
// It talks to the control loop only through the loop's lock-free methods and
// the monitor's latest step; nothing here runs on the loop's thread.
package teleop

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/robot"
)

// Options configure a Server.
type Options struct {
	Desc      *robot.Description
	Loop      *control.Loop
	Monitor   *control.Monitor
	Events    *Events      // nil: a private hub
	Metrics   http.Handler // serves /metrics (nil: none)
	Log       *slog.Logger
	Token     string                         // API token ("" disables auth: tests only)
	OpenReads bool                           // GET endpoints need no token (the daemon listens on loopback only)
	Cameras   func() []CameraState           // the cameras' part of GET /api/state (nil: no cameras)
	Camera    func(name string) robot.Camera // a camera by name, for MJPEG previews (nil: none)
}

// Server serves the HTTP API, the WebSocket streams and the web console for
// one robot.
type Server struct {
	desc    *robot.Description
	loop    *control.Loop
	mon     *control.Monitor
	log     *slog.Logger
	events  *Events
	mux     *http.ServeMux
	handler http.Handler
	ops     *operators
	jog     *jogSource
	started time.Time
	routes  []route
	cameras func() []CameraState
	camera  func(name string) robot.Camera
	faults  []FaultSource // faults beyond the robot's joints, for GET /api/state (AddFaultSource)
	// estopTicks is the loop's tick count when the last e-stop request
	// arrived (for latency measurements in ticks).
	estopTicks atomic.Uint64
}

// route is one documented endpoint (for the OpenAPI document and its test).
type route struct {
	method, path, summary string
	body                  string // request body schema name, if any
}

// NewServer wires the API.
func NewServer(o Options) *Server {
	if o.Events == nil {
		o.Events = NewEvents()
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	s := &Server{desc: o.Desc, loop: o.Loop, mon: o.Monitor, log: o.Log, events: o.Events,
		mux: http.NewServeMux(), started: time.Now(),
		ops: &operators{loop: o.Loop, timeout: o.Loop.Safety().Heartbeat},
		jog: &jogSource{desc: o.Desc}, cameras: o.Cameras, camera: o.Camera}
	s.handle("GET /api/health", "liveness, robot name and lifecycle (no token needed)", "", s.health)
	s.handle("GET /api/state", "joints, lifecycle, safety, timing", "", s.state)
	s.handle("POST /api/joints/targets", "move joints to targets (radians)", "TargetsRequest", s.targets)
	s.handle("POST /api/estop", "emergency stop: torque off at the next tick", "", s.estop)
	s.handle("POST /api/lifecycle/{verb}", "activate, deactivate or reset", "", s.lifecycle)
	s.handle("GET /api/operator", "who controls the robot", "", s.operatorStatus)
	s.handle("POST /api/operator/claim", "take control (one operator at a time)", "ClaimRequest", s.operatorClaim)
	s.handle("POST /api/operator/release", "give control back", "", s.operatorRelease)
	s.handle("POST /api/operator/heartbeat", "the controlling operator is present", "", s.operatorHeartbeat)
	s.handle("POST /api/teleop/jog", "joint velocities from keyboard or gamepad (dead-man held)", "JogRequest", s.jogHTTP)
	s.handle("GET /api/events", "recent events", "", s.recentEvents)
	s.handle("GET /api/ws/state", "WebSocket: state at up to 60 Hz; accepts heartbeat, jog and estop messages", "", s.wsState)
	s.handle("GET /api/ws/events", "WebSocket: events and logs", "", s.wsEvents)
	s.handle("GET /api/openapi.json", "this document", "", s.openapi)
	s.handle("GET /api/cameras/{name}/mjpeg", "camera preview as multipart JPEG (?fps=, default 10)", "", s.mjpeg)
	if o.Metrics != nil {
		s.handle("GET /metrics", "Prometheus metrics", "", o.Metrics.ServeHTTP)
	}
	s.mux.Handle("GET /", consoleHandler())
	o.Events.WatchLoop(o.Monitor)
	s.handler = (&auth{token: o.Token, openReads: o.OpenReads}).wrap(s.mux)
	return s
}

// handle registers a documented endpoint. Other files of this package use
// it to add their endpoints (recording, policy, uploads, cameras).
func (s *Server) handle(pattern, summary, body string, h http.HandlerFunc) {
	method, path, _ := strings.Cut(pattern, " ")
	s.routes = append(s.routes, route{method: method, path: path, summary: summary, body: body})
	s.mux.HandleFunc(pattern, h)
}

// Events is the server's event hub.
func (s *Server) Events() *Events { return s.events }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, map[string]string{"error": fmt.Sprintf(format, args...)})
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"status":    "ok",
		"robot":     s.desc.Name,
		"lifecycle": s.loop.Lifecycle().String(),
		"uptime_s":  time.Since(s.started).Seconds(),
	})
}

// JointState is one joint in GET /api/state.
type JointState struct {
	Name        string  `json:"name"`
	Position    float64 `json:"position"` // rad
	Velocity    float64 `json:"velocity"` // rad/s
	Effort      float64 `json:"effort"`   // N·m
	Target      float64 `json:"target"`   // rad, as asked
	Command     float64 `json:"command"`  // rad, as written after limits
	Clamped     bool    `json:"clamped"`  // the target was outside the limits
	Limited     bool    `json:"limited"`  // motion slowed by velocity/acceleration limits
	Temperature float64 `json:"temperature_c"`
	Fault       string  `json:"fault"`
	Min         float64 `json:"min"`
	Max         float64 `json:"max"`
}

// State is the body of GET /api/state.
type State struct {
	Robot       string               `json:"robot"`
	Lifecycle   string               `json:"lifecycle"`
	Mode        string               `json:"mode"`
	Tick        uint64               `json:"tick"`
	Time        time.Time            `json:"time"`
	Torque      bool                 `json:"torque"`
	Joints      []JointState         `json:"joints"`
	Timing      control.TimingReport `json:"timing"`
	RateHz      float64              `json:"rate_hz"`
	BusErrors   uint64               `json:"bus_errors"`
	LastBusErr  string               `json:"last_bus_error,omitempty"`
	Faults      []string             `json:"faults"`
	Safety      control.SafetyStatus `json:"safety"`
	Operator    OperatorStatus       `json:"operator"`
	RingDropped uint64               `json:"monitor_dropped"`
	Cameras     []CameraState        `json:"cameras"`
}

// CameraState is one camera in GET /api/state.
type CameraState struct {
	Name        string  `json:"name"`
	Source      string  `json:"source"` // passwords hidden
	Kind        string  `json:"kind"`   // usb, rtsp, file or sim
	URL         string  `json:"url,omitempty"`
	Codec       string  `json:"codec"`
	Width       int     `json:"width"`
	Height      int     `json:"height"`
	FPS         float64 `json:"fps"`    // measured over the last second
	Frames      uint64  `json:"frames"` // delivered since start
	Dropped     uint64  `json:"dropped"`
	PacketsLost uint64  `json:"packets_lost"`
	Reconnects  uint64  `json:"reconnects"`
	AgeMS       float64 `json:"age_ms"`     // since the newest frame arrived; -1 before the first
	LatencyMS   float64 `json:"latency_ms"` // capture → available, newest frame
	Connected   bool    `json:"connected"`
	LastError   string  `json:"last_error,omitempty"`
}

func (s *Server) state(w http.ResponseWriter, r *http.Request) {
	out, ok := s.snapshot(sessionOf(r))
	if !ok {
		writeError(w, http.StatusServiceUnavailable, "the control loop has not ticked yet")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// snapshot builds the State document from the newest step.
func (s *Server) snapshot(session string) (State, bool) {
	var st control.Step
	if !s.mon.Latest(&st) {
		return State{}, false
	}
	out := State{
		Robot: s.desc.Name, Lifecycle: st.Lifecycle.String(), Mode: st.Mode.String(),
		Tick: st.Seq, Time: st.Time, Torque: st.Command.Torque,
		Timing: s.loop.Timing().Report(), RateHz: s.desc.Rate,
		BusErrors: s.loop.BusErrors(), Faults: []string{}, Safety: s.loop.SafetyStatus(),
		Operator: s.ops.status(session), Cameras: []CameraState{},
	}
	if s.cameras != nil {
		out.Cameras = s.cameras()
	}
	if err := s.loop.LastBusError(); err != nil {
		out.LastBusErr = err.Error()
	}
	for i, j := range s.desc.Joints {
		js := JointState{
			Name: j.Name, Position: st.State.Position[i], Velocity: st.State.Velocity[i],
			Effort: st.State.Effort[i], Target: st.Target[i], Command: st.Command.Position[i],
			Clamped: st.Command.Clamped&(1<<i) != 0, Limited: st.Command.Limited&(1<<i) != 0,
			Temperature: st.State.Temperature[i], Fault: st.State.Fault[i].String(),
			Min: float64(j.Min), Max: float64(j.Max),
		}
		if st.State.Fault[i] != 0 {
			out.Faults = append(out.Faults, j.Name+": "+st.State.Fault[i].String())
		}
		out.Joints = append(out.Joints, js)
	}
	for _, f := range s.faults {
		out.Faults = f.AppendFaults(out.Faults)
	}
	return out, true
}

// TargetsRequest is the body of POST /api/joints/targets.
type TargetsRequest struct {
	Targets map[string]float64 `json:"targets"` // joint name → position, rad
}

func (s *Server) targets(w http.ResponseWriter, r *http.Request) {
	var req TargetsRequest
	if !decodeBody(w, r, &req, `{"targets": {"joint": radians}}`) {
		return
	}
	if code, msg := s.targetsApply(sessionOf(r), req.Targets); code != 0 {
		writeError(w, code, "%s", msg)
		return
	}
	names := make([]string, 0, len(req.Targets))
	for n := range req.Targets {
		names = append(names, n)
	}
	sort.Strings(names)
	writeJSON(w, http.StatusOK, map[string]any{"accepted": names})
}

// targetsApply checks targets (known joints, finite, inside the limits) and
// hands them to the loop; it returns an HTTP status and message on failure.
func (s *Server) targetsApply(session string, targets map[string]float64) (int, string) {
	if len(targets) == 0 {
		return http.StatusBadRequest, `no targets given (want {"targets": {"joint": radians}})`
	}
	var tg control.Targets
	for name, v := range targets {
		idx, ok := s.desc.Joint(name)
		if !ok {
			return http.StatusBadRequest, fmt.Sprintf("unknown joint %q (joints: %s)", name, strings.Join(s.desc.JointNames(), ", "))
		}
		j := s.desc.Joints[idx]
		if math.IsNaN(v) || math.IsInf(v, 0) || v < float64(j.Min) || v > float64(j.Max) {
			return http.StatusBadRequest, fmt.Sprintf("%s: target %g rad is outside [%g, %g]", name, v, float64(j.Min), float64(j.Max))
		}
		tg.Mask |= 1 << idx
		tg.Position[idx] = v
	}
	if err := s.ops.allowed(session); err != nil {
		return http.StatusConflict, err.Error()
	}
	if lc := s.loop.Lifecycle(); lc != robot.Active {
		return http.StatusConflict, fmt.Sprintf("robot is %s: activate it first (POST /api/lifecycle/activate)", lc)
	}
	s.loop.SetTargets(&tg)
	return 0, ""
}

// waitLifecycle waits a few ticks for the loop to reach want.
func (s *Server) waitLifecycle(want ...robot.Lifecycle) robot.Lifecycle {
	deadline := time.Now().Add(max(20*s.loop.Period(), 50*time.Millisecond))
	for {
		lc := s.loop.Lifecycle()
		for _, w := range want {
			if lc == w {
				return lc
			}
		}
		if time.Now().After(deadline) {
			return lc
		}
		time.Sleep(s.loop.Period() / 4)
	}
}

// requestEStop latches the e-stop and notes when it arrived.
func (s *Server) requestEStop(from, remote string) {
	s.estopTicks.Store(s.loop.Timing().Ticks.Load())
	s.loop.EStop()
	s.log.Warn("e-stop requested", "from", from, "remote", remote)
}

func (s *Server) estop(w http.ResponseWriter, r *http.Request) {
	s.requestEStop("http", r.RemoteAddr)
	s.events.Publish("operator", "warn", "e-stop from "+r.RemoteAddr, nil)
	lc := s.waitLifecycle(robot.EStopped)
	writeJSON(w, http.StatusOK, map[string]string{"lifecycle": lc.String()})
}

var errBadVerb = errors.New("unknown lifecycle verb")

func (s *Server) lifecycle(w http.ResponseWriter, r *http.Request) {
	verb := r.PathValue("verb")
	var (
		req  control.Request
		want robot.Lifecycle
	)
	switch verb {
	case "activate":
		req, want = control.RequestActivate, robot.Active
	case "deactivate":
		req, want = control.RequestDeactivate, robot.Inactive
	case "reset":
		req, want = control.RequestReset, robot.Inactive
	default:
		writeError(w, http.StatusNotFound, "%v %q (use activate, deactivate or reset)", errBadVerb, verb)
		return
	}
	if verb == "activate" {
		if err := s.ops.allowed(sessionOf(r)); err != nil {
			writeError(w, http.StatusConflict, "%v", err)
			return
		}
	}
	from := s.loop.Lifecycle()
	s.loop.Request(req)
	lc := s.waitLifecycle(want)
	if lc != want {
		writeError(w, http.StatusConflict, "cannot %s from %s (now %s)", verb, from, lc)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"lifecycle": lc.String()})
}
