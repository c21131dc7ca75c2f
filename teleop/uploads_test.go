package teleop

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/anther-robotics/anther/dataset/hub"
)

// fakeUploads answers like hub.Queue.
type fakeUploads struct {
	mu   sync.Mutex
	jobs []hub.Job
}

func (f *fakeUploads) Enqueue(r hub.PushRequest) (hub.Job, error) {
	if _, err := hub.ParseRepoID(r.RepoID); err != nil {
		return hub.Job{}, err
	}
	if strings.HasPrefix(r.Dir, "..") {
		return hub.Job{}, fmt.Errorf("%w: %s", hub.ErrOutsideDatasets, r.Dir)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	j := hub.Job{ID: "j1", Dir: "/data/" + r.Dir, RepoID: r.RepoID, Branch: "main", State: hub.JobQueued}
	f.jobs = append(f.jobs, j)
	return j, nil
}

func (f *fakeUploads) Status() hub.QueueStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return hub.QueueStatus{Jobs: append([]hub.Job{}, f.jobs...)}
}

func (f *fakeUploads) op(id string, fn func(i int)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.jobs {
		if f.jobs[i].ID == id {
			fn(i)
			return nil
		}
	}
	return fmt.Errorf("%w: %s", hub.ErrJobNotFound, id)
}

func (f *fakeUploads) Retry(id string) error {
	return f.op(id, func(i int) { f.jobs[i].State = hub.JobQueued })
}

func (f *fakeUploads) Cancel(id string) error {
	return f.op(id, func(i int) { f.jobs = append(f.jobs[:i], f.jobs[i+1:]...) })
}

func TestUploadEndpoints(t *testing.T) {
	ts, _, srv := testServerWith(t, false)
	srv.RegisterUploads(&fakeUploads{})
	jobs := func(m map[string]any) int { l, _ := m["jobs"].([]any); return len(l) }
	steps := []struct {
		method, path, body string
		token              string
		code               int
		check              func(map[string]any) bool
	}{
		{"GET", "/api/uploads", "", "", http.StatusUnauthorized, nil},
		{"GET", "/api/uploads", "", tok, http.StatusOK, func(m map[string]any) bool { return jobs(m) == 0 }},
		{"POST", "/api/uploads", `{"dir":"pick","repo_id":"alice/pick"}`, tok, http.StatusAccepted,
			func(m map[string]any) bool { return m["state"] == "queued" && m["repo_id"] == "alice/pick" }},
		{"GET", "/api/uploads", "", tok, http.StatusOK, func(m map[string]any) bool { return jobs(m) == 1 }},
		{"POST", "/api/uploads", `{"dir":"pick","repo_id":"pick"}`, tok, http.StatusBadRequest,
			func(m map[string]any) bool { return strings.Contains(m["error"].(string), "invalid repo id") }},
		{"POST", "/api/uploads", `{"dir":"../etc","repo_id":"alice/x"}`, tok, http.StatusBadRequest,
			func(m map[string]any) bool {
				return strings.Contains(m["error"].(string), "outside the datasets directory")
			}},
		{"POST", "/api/uploads", `{"dir":"pick","repo":"alice/x"}`, tok, http.StatusBadRequest, nil},
		{"POST", "/api/uploads/j1/retry", "", tok, http.StatusOK, func(m map[string]any) bool { return jobs(m) == 1 }},
		{"POST", "/api/uploads/nope/retry", "", tok, http.StatusNotFound, nil},
		{"DELETE", "/api/uploads/j1", "", tok, http.StatusOK, func(m map[string]any) bool { return jobs(m) == 0 }},
		{"DELETE", "/api/uploads/j1", "", tok, http.StatusNotFound,
			func(m map[string]any) bool { return strings.Contains(m["error"].(string), "no such upload job") }},
	}
	for i, s := range steps {
		code, out := do(t, ts, s.method, s.path, s.body, s.token)
		if code != s.code || (s.check != nil && !s.check(out)) {
			t.Fatalf("step %d %s %s: %d %v, want %d", i, s.method, s.path, code, out, s.code)
		}
	}
}
