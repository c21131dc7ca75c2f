package teleop

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
)

const tok = "unit-test-token-0123456789"

// testServer runs the reachy-mini simulator on the wall clock behind the API.
func testServer(t *testing.T, openReads bool) (*httptest.Server, *control.Loop) {
	ts, loop, _ := testServerWith(t, openReads)
	return ts, loop
}

func testServerWith(t testing.TB, openReads bool, sinks ...control.Sink) (*httptest.Server, *control.Loop, *Server) {
	t.Helper()
	d, err := robot.Load("reachy-mini")
	if err != nil {
		t.Fatal(err)
	}
	ring := control.NewRing(256)
	loop, err := control.New(control.Config{Rate: 200, Bus: sim.NewBus(d), Limits: control.LimitsFromDescription(d, 0.01),
		Sinks: append([]control.Sink{ring}, sinks...)})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mon := control.NewMonitor(loop, ring, log)
	srv := NewServer(Options{Desc: d, Loop: loop, Monitor: mon, Log: log, Token: tok, OpenReads: openReads,
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { loop.Run(ctx); done <- struct{}{} }()
	go func() { mon.Run(ctx, 5*time.Millisecond); done <- struct{}{} }()
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { ts.Close(); cancel(); <-done; <-done })
	loop.Request(control.RequestActivate)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		var st control.Step
		if mon.Latest(&st) && st.Lifecycle == robot.Active {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("loop never became active")
		}
	}
	return ts, loop, srv
}

func do(t *testing.T, ts *httptest.Server, method, path, body, token string, hdr ...string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	data, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(data, &out)
	return resp.StatusCode, out
}

// Every endpoint in the OpenAPI document exists (answers something other
// than 404/405 for its documented method) and refuses a missing token.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	ts, _ := testServer(t, false)
	code, doc := do(t, ts, "GET", "/api/openapi.json", "", tok)
	if code != 200 {
		t.Fatalf("openapi: %d", code)
	}
	paths := doc["paths"].(map[string]any)
	if len(paths) < 12 {
		t.Fatalf("only %d paths documented", len(paths))
	}
	for path, item := range paths {
		for method := range item.(map[string]any) {
			p := strings.NewReplacer("{verb}", "reset", "{name}", "front", "{id}", "1").Replace(path)
			m := strings.ToUpper(method)
			if strings.HasPrefix(p, "/api/ws/") {
				continue // WebSocket upgrades are tested separately
			}
			noTok, body := do(t, ts, m, p, "{}", "")
			if p == "/api/health" {
				if noTok != 200 {
					t.Errorf("%s %s without token: %d", m, p, noTok)
				}
				continue
			}
			if noTok != http.StatusUnauthorized || body["error"] == "" {
				t.Errorf("%s %s without token: %d %v, want 401 with a message", m, p, noTok, body)
			}
			withTok, body := do(t, ts, m, p, "{}", tok)
			// A 404 from the handler carries a JSON message (e.g. "no camera");
			// the mux's own 404/405 mean the route is missing.
			if withTok == http.StatusMethodNotAllowed || withTok == http.StatusNotFound && body["error"] == nil {
				t.Errorf("%s %s documented but not served (%d)", m, p, withTok)
			}
		}
	}
}

func TestInputValidation(t *testing.T) {
	ts, _ := testServer(t, false)
	for _, tc := range []struct {
		path, body string
		code       int
		want       string
	}{
		{"/api/joints/targets", `{"targets":`, 400, "bad JSON"},
		{"/api/joints/targets", `{"targets":{"nose":1}}`, 400, "unknown joint"},
		{"/api/joints/targets", `{"targets":{"stewart_1":9}}`, 400, "outside"},
		{"/api/joints/targets", `{"targetz":{}}`, 400, "bad JSON"},
		{"/api/teleop/jog", `{"velocities":{"stewart_1":1000}}`, 400, "out of range"},
		{"/api/teleop/jog", `{"velocities":{"elbow":1}}`, 400, "unknown joint"},
		{"/api/operator/claim", `{"name":""}`, 400, "name must be"},
		{"/api/operator/claim", `not json`, 400, "bad JSON"},
		{"/api/lifecycle/explode", ``, 404, "unknown lifecycle verb"},
		{"/api/operator/release", ``, 409, "does not hold control"},
	} {
		code, body := do(t, ts, "POST", tc.path, tc.body, tok)
		msg, _ := body["error"].(string)
		if code != tc.code || !strings.Contains(msg, tc.want) {
			t.Errorf("POST %s %s: %d %q, want %d containing %q", tc.path, tc.body, code, msg, tc.code, tc.want)
		}
	}
}

func TestOperatorControlAndReads(t *testing.T) {
	ts, loop := testServer(t, true)
	// Reads are open on loopback-only daemons; writes are not.
	if code, _ := do(t, ts, "GET", "/api/state", "", ""); code != 200 {
		t.Fatalf("GET state without token on an open-reads daemon: %d", code)
	}
	code, body := do(t, ts, "POST", "/api/operator/claim", `{"name":"alice"}`, tok)
	if code != 200 {
		t.Fatalf("claim: %d %v", code, body)
	}
	alice := body["session"].(string)
	if code, body = do(t, ts, "POST", "/api/operator/claim", `{"name":"bob"}`, tok); code != 409 || !strings.Contains(body["error"].(string), "alice has control") {
		t.Fatalf("second claim: %d %v", code, body)
	}
	// Bob (no session) is view-only while Alice holds control.
	if code, body = do(t, ts, "POST", "/api/joints/targets", `{"targets":{"stewart_1":0.1}}`, tok); code != 409 {
		t.Fatalf("targets from a view-only client: %d %v", code, body)
	}
	if code, _ = do(t, ts, "POST", "/api/joints/targets", `{"targets":{"stewart_1":0.1}}`, tok, sessionHeader, alice); code != 200 {
		t.Fatalf("targets from the operator: %d", code)
	}
	// E-stop works for everyone.
	if code, _ = do(t, ts, "POST", "/api/estop", ``, tok); code != 200 || loop.Lifecycle() != robot.EStopped {
		t.Fatalf("estop from a view-only client: %d, %v", code, loop.Lifecycle())
	}
	if code, _ = do(t, ts, "POST", "/api/operator/release", ``, tok, sessionHeader, alice); code != 200 {
		t.Fatalf("release: %d", code)
	}
}

func TestLoginCookie(t *testing.T) {
	ts, _ := testServer(t, false)
	c := ts.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(ts.URL + "/?token=" + tok)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 || resp.Header.Get("Location") != "/" {
		t.Fatalf("login: %d cookies %v location %q", resp.StatusCode, resp.Cookies(), resp.Header.Get("Location"))
	}
	req, _ := http.NewRequest("GET", ts.URL+"/api/state", nil)
	req.AddCookie(resp.Cookies()[0])
	r2, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 200 {
		t.Fatalf("state with the cookie: %d", r2.StatusCode)
	}
	if resp, _ := c.Get(ts.URL + "/?token=wrong"); resp.StatusCode != 401 {
		t.Fatalf("wrong token login: %d", resp.StatusCode)
	}
}
