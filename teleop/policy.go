package teleop

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// PolicyLoadRequest is the body of POST /api/policy/load.
type PolicyLoadRequest struct {
	Model string  `json:"model"`          // ONNX file on the robot's computer
	Spec  string  `json:"spec,omitempty"` // spec file; "" finds it in the model's metadata or a sidecar
	Rate  float64 `json:"rate,omitempty"` // policy rate override, Hz
}

// PolicyCommandsRequest is the body of POST /api/policy/commands.
type PolicyCommandsRequest struct {
	Commands map[string]float64 `json:"commands"` // e.g. {"lin_vel_x": 0.5}
}

// PolicyStatus is the policy part of the API: what is loaded, whether it
// drives the robot, and its inference statistics.
type PolicyStatus struct {
	Loaded   bool               `json:"loaded"`
	Running  bool               `json:"running"`
	Name     string             `json:"name,omitempty"`
	Model    string             `json:"model,omitempty"`
	Spec     string             `json:"spec_source,omitempty"`
	RateHz   float64            `json:"rate_hz,omitempty"`
	Joints   []string           `json:"joints,omitempty"`
	Commands map[string]float64 `json:"commands,omitempty"`
	Stats    any                `json:"stats,omitempty"`
}

// ErrPolicyState is wrapped by PolicyController errors that come from the
// current state (nothing loaded, already running, robot not active): the API
// answers them with 409 Conflict.
var ErrPolicyState = errors.New("policy state")

// PolicyController is what the policy endpoints need; cmd/anther provides
// it (it owns ONNX Runtime and the runner's goroutine).
type PolicyController interface {
	LoadPolicy(ctx context.Context, req PolicyLoadRequest) (PolicyStatus, error)
	StartPolicy(ctx context.Context) (PolicyStatus, error)
	StopPolicy(ctx context.Context) (PolicyStatus, error)
	SetPolicyCommands(cmds map[string]float64) (PolicyStatus, error)
	PolicyStatus() PolicyStatus
}

// RegisterPolicy serves the policy endpoints (behind the server's token
// auth, listed in its OpenAPI document). Call it once, before serving:
//
//	GET  /api/policy            status
//	POST /api/policy/load       {"model": path, "spec": path, "rate": hz} (stops a running one)
//	POST /api/policy/start      the loaded policy drives the robot
//	POST /api/policy/stop       back to holding the last command
//	POST /api/policy/commands   {"commands": {"lin_vel_x": 0.5}}
func (s *Server) RegisterPolicy(pc PolicyController) {
	p := &policyAPI{pc: pc}
	s.handle("GET /api/policy", "the loaded policy, whether it drives the robot, inference statistics", "", p.status)
	s.handle("POST /api/policy/load", `load an ONNX policy: {"model": path, "spec": path, "rate": hz}`, "", p.load)
	s.handle("POST /api/policy/start", "the loaded policy drives the robot (it must be active)", "", p.start)
	s.handle("POST /api/policy/stop", "stop the policy; the robot holds its last command", "", p.stop)
	s.handle("POST /api/policy/commands", `operator commands: {"commands": {"lin_vel_x": 0.5}}`, "", p.commands)
}

type policyAPI struct {
	pc PolicyController
}

func (p *policyAPI) status(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, p.pc.PolicyStatus())
}

func (p *policyAPI) reply(w http.ResponseWriter, st PolicyStatus, err error, bad int) {
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, st)
	case errors.Is(err, ErrPolicyState):
		writeError(w, http.StatusConflict, "%v", err)
	default:
		writeError(w, bad, "%v", err)
	}
}

func decodePolicyJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "bad JSON: %v", err)
		return false
	}
	return true
}

func (p *policyAPI) load(w http.ResponseWriter, r *http.Request) {
	var req PolicyLoadRequest
	if !decodePolicyJSON(w, r, &req) {
		return
	}
	if req.Model == "" {
		writeError(w, http.StatusBadRequest, `no model given (want {"model": "/path/policy.onnx"})`)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	st, err := p.pc.LoadPolicy(ctx, req)
	p.reply(w, st, err, http.StatusBadRequest)
}

func (p *policyAPI) start(w http.ResponseWriter, r *http.Request) {
	st, err := p.pc.StartPolicy(r.Context())
	p.reply(w, st, err, http.StatusInternalServerError)
}

func (p *policyAPI) stop(w http.ResponseWriter, r *http.Request) {
	st, err := p.pc.StopPolicy(r.Context())
	p.reply(w, st, err, http.StatusInternalServerError)
}

func (p *policyAPI) commands(w http.ResponseWriter, r *http.Request) {
	var req PolicyCommandsRequest
	if !decodePolicyJSON(w, r, &req) {
		return
	}
	if len(req.Commands) == 0 {
		writeError(w, http.StatusBadRequest, `no commands given (want {"commands": {"lin_vel_x": 0.5}})`)
		return
	}
	st, err := p.pc.SetPolicyCommands(req.Commands)
	p.reply(w, st, err, http.StatusBadRequest)
}
