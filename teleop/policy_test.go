package teleop

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
)

// fakePolicies is a PolicyController that records what the API asked.
type fakePolicies struct {
	mu     sync.Mutex
	st     PolicyStatus
	loaded []PolicyLoadRequest
}

func (f *fakePolicies) LoadPolicy(_ context.Context, req PolicyLoadRequest) (PolicyStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.Model == "missing.onnx" {
		return f.st, fmt.Errorf("policy: model %s: no such file", req.Model)
	}
	f.loaded = append(f.loaded, req)
	f.st = PolicyStatus{Loaded: true, Name: "p", Model: req.Model, RateHz: 50, Commands: map[string]float64{"lin_vel_x": 0}}
	return f.st, nil
}

func (f *fakePolicies) StartPolicy(context.Context) (PolicyStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.st.Loaded {
		return f.st, fmt.Errorf("policy: nothing loaded: %w", ErrPolicyState)
	}
	f.st.Running = true
	return f.st, nil
}

func (f *fakePolicies) StopPolicy(context.Context) (PolicyStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st.Running = false
	return f.st, nil
}

func (f *fakePolicies) SetPolicyCommands(c map[string]float64) (PolicyStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, v := range c {
		if _, ok := f.st.Commands[k]; !ok {
			return f.st, fmt.Errorf("policy: no command %q", k)
		}
		f.st.Commands[k] = v
	}
	return f.st, nil
}

func (f *fakePolicies) PolicyStatus() PolicyStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

func TestPolicyEndpoints(t *testing.T) {
	ts, _, srv := testServerWith(t, false)
	fp := &fakePolicies{}
	srv.RegisterPolicy(fp)
	steps := []struct {
		method, path, body string
		token              string
		code               int
		check              func(map[string]any) bool
	}{
		{"GET", "/api/policy", "", "", http.StatusUnauthorized, nil},
		{"POST", "/api/policy/start", "", tok, http.StatusConflict, nil},
		{"POST", "/api/policy/load", `{"model": "missing.onnx"}`, tok, http.StatusBadRequest,
			func(m map[string]any) bool { return m["error"] == "policy: model missing.onnx: no such file" }},
		{"POST", "/api/policy/load", `{"modle": "x"}`, tok, http.StatusBadRequest, nil},
		{"POST", "/api/policy/load", `{}`, tok, http.StatusBadRequest, nil},
		{"POST", "/api/policy/load", `{"model": "p.onnx", "rate": 25}`, tok, http.StatusOK,
			func(m map[string]any) bool { return m["loaded"] == true && m["model"] == "p.onnx" }},
		{"POST", "/api/policy/start", "", tok, http.StatusOK, func(m map[string]any) bool { return m["running"] == true }},
		{"POST", "/api/policy/commands", `{"commands": {"lin_vel_x": 0.4}}`, tok, http.StatusOK,
			func(m map[string]any) bool { return m["commands"].(map[string]any)["lin_vel_x"] == 0.4 }},
		{"POST", "/api/policy/commands", `{"commands": {"jump": 1}}`, tok, http.StatusBadRequest, nil},
		{"GET", "/api/policy", "", tok, http.StatusOK, func(m map[string]any) bool { return m["running"] == true }},
		{"POST", "/api/policy/stop", "", tok, http.StatusOK, func(m map[string]any) bool { return m["running"] == false }},
	}
	for i, s := range steps {
		code, out := do(t, ts, s.method, s.path, s.body, s.token)
		if code != s.code || (s.check != nil && !s.check(out)) {
			t.Fatalf("step %d %s %s: %d %v, want %d", i, s.method, s.path, code, out, s.code)
		}
	}
	if len(fp.loaded) != 1 || fp.loaded[0].Rate != 25 {
		t.Fatalf("loads %+v", fp.loaded)
	}
}
