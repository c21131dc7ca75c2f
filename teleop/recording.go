package teleop

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/anther-robotics/anther/dataset"
	"github.com/anther-robotics/anther/dataset/record"
)

// Recording is the daemon's episode recorder as the HTTP API sees it;
// *record.Session implements it.
type Recording interface {
	Start(ctx context.Context, req record.StartRequest) (record.Status, error)
	Stop(ctx context.Context) (dataset.Summary, error)
	Discard(ctx context.Context) error
	Status() record.SessionStatus
	Episodes(ctx context.Context, repoID string) ([]record.EpisodeInfo, error)
}

var _ Recording = (*record.Session)(nil)

// RegisterRecording serves the episode recorder (behind the server's token
// auth, listed in its OpenAPI document). Call it once, before serving:
//
//	GET  /api/recording                  state: episode, elapsed, frames, dropped steps, encoder backlog, faithful
//	POST /api/recording/start            {"repo_id": "user/name", "task": "…"}: open (or resume) the dataset, start an episode
//	POST /api/recording/stop             save the episode (returns when it is part of the dataset)
//	POST /api/recording/discard          drop the episode (re-record: discard, then start)
//	GET  /api/recording/episodes?repo_id= the saved episodes
func (s *Server) RegisterRecording(rc Recording) {
	s.handle("GET /api/recording", "the episode recorder: state, episode, frames, dropped, encoder backlog", "",
		func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, rc.Status()) })
	s.handle("POST /api/recording/start", "open (or resume) a dataset and start recording an episode: {\"repo_id\": \"user/name\", \"task\": \"...\"}", "",
		func(w http.ResponseWriter, r *http.Request) {
			var req record.StartRequest
			dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				writeError(w, http.StatusBadRequest, "bad JSON: %v (want {\"repo_id\": \"user/name\", \"task\": \"...\"})", err)
				return
			}
			if err := record.ValidRepoID(req.RepoID); err != nil || req.Task == "" {
				writeError(w, http.StatusBadRequest, "need a repo_id user/name and a task (%v)", err)
				return
			}
			ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
			defer cancel()
			st, err := rc.Start(ctx, req)
			if err != nil {
				writeError(w, http.StatusConflict, "%v", err)
				return
			}
			s.log.Info("recording started", "from", "http", "repo", req.RepoID, "episode", st.Episode, "task", req.Task)
			writeJSON(w, http.StatusOK, st)
		})
	s.handle("POST /api/recording/stop", "save the episode being recorded", "",
		func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
			defer cancel()
			sum, err := rc.Stop(ctx)
			if err != nil {
				writeError(w, http.StatusConflict, "%v", err)
				return
			}
			writeJSON(w, http.StatusOK, sum)
		})
	s.handle("POST /api/recording/discard", "drop the episode being recorded", "",
		func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
			defer cancel()
			if err := rc.Discard(ctx); err != nil {
				writeError(w, http.StatusConflict, "%v", err)
				return
			}
			writeJSON(w, http.StatusOK, rc.Status())
		})
	s.handle("GET /api/recording/episodes", "the saved episodes of a dataset (?repo_id=user/name; default: the open one)", "",
		func(w http.ResponseWriter, r *http.Request) {
			eps, err := rc.Episodes(r.Context(), r.URL.Query().Get("repo_id"))
			if err != nil {
				writeError(w, http.StatusNotFound, "%v", err)
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"episodes": eps})
		})
}
