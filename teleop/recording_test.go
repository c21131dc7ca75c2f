package teleop

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/anther-robotics/anther/dataset"
	"github.com/anther-robotics/anther/dataset/record"
	"github.com/anther-robotics/anther/robot"
)

// The recording endpoints drive a real recorder attached to the loop
// (joints only, so no ffmpeg is needed).
func TestRecordingEndpoints(t *testing.T) {
	d, err := robot.Load("reachy-mini")
	if err != nil {
		t.Fatal(err)
	}
	jm, err := record.NewJointMap(d, record.UnitsLeRobot)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := record.New(record.Config{Joints: jm, FPS: 30})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = rec.Run(ctx) }()
	ts, _, srv := testServerWith(t, false, rec)
	dir := t.TempDir()
	sess := record.NewSession(rec, dir, dataset.Config{FPS: 30, RobotType: record.RobotType(d),
		Features: record.Features(jm, nil), Units: record.UnitsOf(jm)})
	defer sess.Close()
	srv.RegisterRecording(sess)

	steps := []struct {
		method, path, body string
		token              string
		code               int
		check              func(map[string]any) bool
	}{
		{"GET", "/api/recording", "", "", http.StatusUnauthorized, nil},
		{"GET", "/api/recording", "", tok, http.StatusOK, func(m map[string]any) bool { return m["state"] == "idle" }},
		{"POST", "/api/recording/start", `{"repo_id":"alice","task":"x"}`, tok, http.StatusBadRequest, nil},
		{"POST", "/api/recording/stop", "", tok, http.StatusConflict, nil},
		{"POST", "/api/recording/start", `{"repo_id":"alice/wave","task":"wave"}`, tok, http.StatusOK,
			func(m map[string]any) bool { return m["state"] == "recording" && m["episode"] == 0.0 }},
		{"POST", "/api/recording/start", `{"repo_id":"alice/wave","task":"wave"}`, tok, http.StatusConflict, nil},
		{"POST", "/api/recording/discard", "", tok, http.StatusOK, func(m map[string]any) bool { return m["state"] == "idle" }},
		{"POST", "/api/recording/start", `{"repo_id":"alice/wave","task":"wave"}`, tok, http.StatusOK, nil},
		{"SLEEP", "", "", "", 0, nil},
		{"GET", "/api/recording", "", tok, http.StatusOK, func(m map[string]any) bool { return m["frames"].(float64) > 5 }},
		{"POST", "/api/recording/stop", "", tok, http.StatusOK, func(m map[string]any) bool {
			return m["episode_index"] == 0.0 && m["frames"].(float64) > 5
		}},
		{"GET", "/api/recording/episodes?repo_id=alice/wave", "", tok, http.StatusOK, func(m map[string]any) bool {
			l, _ := m["episodes"].([]any)
			return len(l) == 1
		}},
		{"GET", "/api/recording/episodes?repo_id=bob/none", "", tok, http.StatusNotFound, nil},
	}
	for i, s := range steps {
		if s.method == "SLEEP" {
			time.Sleep(500 * time.Millisecond)
			continue
		}
		code, out := do(t, ts, s.method, s.path, s.body, s.token)
		if code != s.code || (s.check != nil && !s.check(out)) {
			t.Fatalf("step %d %s %s: %d %v, want %d", i, s.method, s.path, code, out, s.code)
		}
	}
	rep, err := dataset.Validate(ctx, sess.Root("alice/wave"), dataset.ValidateOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("validate: %v %v", err, rep.Errors)
	}
}
