package record

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/anther-robotics/anther/dataset"
)

// Session is the daemon's recording service: datasets live in a folder,
// one per repo id (DIR/user/name); Start opens (or creates, or resumes)
// the dataset and starts an episode on the recorder. Safe from any
// goroutine.
type Session struct {
	rec  *Recorder
	dir  string
	base dataset.Config

	mu     sync.Mutex
	repoID string
	w      *dataset.Writer
}

// NewSession returns a session recording with rec into datasets under dir,
// with base's fps, features, units and video settings.
func NewSession(rec *Recorder, dir string, base dataset.Config) *Session {
	return &Session{rec: rec, dir: dir, base: base}
}

var repoIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$`)

// ValidRepoID checks a Hub repo id "user/name".
func ValidRepoID(id string) error {
	if !repoIDPattern.MatchString(id) {
		return fmt.Errorf("record: repo id %q is not user/name (letters, digits, '.', '_', '-')", id)
	}
	return nil
}

// Root is where the dataset of repoID lives.
func (s *Session) Root(repoID string) string { return filepath.Join(s.dir, filepath.FromSlash(repoID)) }

// StartRequest is the body of POST /api/recording/start.
type StartRequest struct {
	RepoID string `json:"repo_id"`
	Task   string `json:"task"`
}

// Start opens repoID's dataset if it is not the open one and starts an
// episode with task.
func (s *Session) Start(ctx context.Context, req StartRequest) (Status, error) {
	if err := ValidRepoID(req.RepoID); err != nil {
		return Status{}, err
	}
	if req.Task == "" {
		return Status{}, errors.New("record: a task description is needed")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w != nil && s.repoID != req.RepoID {
		if st := s.rec.Status(); st.State != "idle" {
			return st, fmt.Errorf("record: episode %d of %s is being recorded", st.Episode, s.repoID)
		}
		s.w.Close()
		s.w = nil
	}
	if s.w == nil {
		cfg := s.base
		cfg.RepoID = req.RepoID
		w, err := dataset.Open(ctx, s.Root(req.RepoID), cfg)
		if err != nil {
			return Status{}, err
		}
		s.w, s.repoID = w, req.RepoID
	}
	if err := s.rec.Start(ctx, s.w, req.Task); err != nil {
		return s.rec.Status(), err
	}
	return s.rec.Status(), nil
}

// Stop saves the episode being recorded.
func (s *Session) Stop(ctx context.Context) (dataset.Summary, error) { return s.rec.Stop(ctx) }

// Discard drops the episode being recorded.
func (s *Session) Discard(ctx context.Context) error { return s.rec.Discard(ctx) }

// SessionStatus is the body of GET /api/recording.
type SessionStatus struct {
	Status
	RepoID    string   `json:"repo_id,omitempty"`
	Recovered []string `json:"recovered,omitempty"`
}

// Status is the recorder's state and the open dataset.
func (s *Session) Status() SessionStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := SessionStatus{Status: s.rec.Status(), RepoID: s.repoID}
	if s.w != nil {
		out.Recovered = s.w.Recovered()
	}
	return out
}

// EpisodeInfo is one saved episode in GET /api/recording/episodes.
type EpisodeInfo struct {
	Index  int      `json:"episode_index"`
	Length int      `json:"length"`
	Tasks  []string `json:"tasks"`
	Secs   float64  `json:"duration_s"`
}

// Episodes lists repoID's saved episodes (the open dataset's if empty).
func (s *Session) Episodes(ctx context.Context, repoID string) ([]EpisodeInfo, error) {
	s.mu.Lock()
	if repoID == "" {
		repoID = s.repoID
	}
	var eps []dataset.EpisodeMeta
	var fps int
	if s.w != nil && repoID == s.repoID {
		eps, fps = s.w.Episodes(), s.w.Info().FPS
	}
	s.mu.Unlock()
	if repoID == "" {
		return []EpisodeInfo{}, nil
	}
	if err := ValidRepoID(repoID); err != nil {
		return nil, err
	}
	if eps == nil {
		root := s.Root(repoID)
		if _, err := os.Stat(filepath.Join(root, dataset.InfoPath)); err != nil {
			return nil, fmt.Errorf("record: no dataset %s: %w", repoID, err)
		}
		ds, err := dataset.OpenDataset(ctx, root)
		if err != nil {
			return nil, err
		}
		eps, fps = ds.Episodes, ds.Info.FPS
	}
	out := make([]EpisodeInfo, 0, len(eps))
	for _, e := range eps {
		out = append(out, EpisodeInfo{Index: e.Index, Length: e.Length, Tasks: e.Tasks, Secs: float64(e.Length) / float64(fps)})
	}
	return out, nil
}

// Close discards an episode in progress and closes the dataset.
func (s *Session) Close() error {
	if s.rec.Status().State == "recording" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.rec.Discard(ctx)
		cancel()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w != nil {
		err := s.w.Close()
		s.w = nil
		return err
	}
	return nil
}
