package teleop

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/anther-robotics/anther/dataset/hub"
)

// Uploads is the daemon's background Hub upload queue as the HTTP API
// sees it; *hub.Queue implements it.
type Uploads interface {
	Enqueue(hub.PushRequest) (hub.Job, error)
	Status() hub.QueueStatus
	Retry(id string) error
	Cancel(id string) error
}

var _ Uploads = (*hub.Queue)(nil)

// RegisterUploads serves the daemon's Hub upload queue (behind the
// server's token auth, listed in its OpenAPI document). Call it once,
// before serving:
//
//	GET    /api/uploads             the jobs (hub.QueueStatus)
//	POST   /api/uploads             queue a dataset: {"dir", "repo_id", "branch"?, "private"?}
//	                                 (dir relative to the datasets directory); 202 with the job
//	POST   /api/uploads/{id}/retry  upload a failed or waiting job now
//	DELETE /api/uploads/{id}        forget a job, stopping its upload
func (s *Server) RegisterUploads(q Uploads) {
	s.handle("GET /api/uploads", "the Hub upload queue: jobs, states, progress", "", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, q.Status())
	})
	s.handle("POST /api/uploads", "queue a dataset for upload to the Hugging Face Hub (in the background)", "",
		func(w http.ResponseWriter, r *http.Request) {
			var req hub.PushRequest
			dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				writeError(w, http.StatusBadRequest, "bad JSON: %v (want {\"dir\": \"name\", \"repo_id\": \"user/name\", \"branch\": \"main\", \"private\": false})", err)
				return
			}
			job, err := q.Enqueue(req)
			switch {
			case errors.Is(err, hub.ErrInvalidRepoID), errors.Is(err, hub.ErrOutsideDatasets):
				writeError(w, http.StatusBadRequest, "%v", err)
				return
			case err != nil:
				writeError(w, http.StatusInternalServerError, "%v", err)
				return
			}
			s.log.Info("upload queued", "from", "http", "job", job.ID, "dir", job.Dir, "repo", job.RepoID)
			writeJSON(w, http.StatusAccepted, job)
		})
	s.handle("POST /api/uploads/{id}/retry", "upload a failed or waiting job now", "", func(w http.ResponseWriter, r *http.Request) {
		s.uploadJobOp(w, r.PathValue("id"), q.Retry, q)
	})
	s.handle("DELETE /api/uploads/{id}", "forget an upload job, stopping it if it runs", "", func(w http.ResponseWriter, r *http.Request) {
		s.uploadJobOp(w, r.PathValue("id"), q.Cancel, q)
	})
}

func (s *Server) uploadJobOp(w http.ResponseWriter, id string, op func(string) error, q Uploads) {
	if err := op(id); err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, hub.ErrJobNotFound) {
			code = http.StatusNotFound
		}
		writeError(w, code, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, q.Status())
}
