package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// QueueFile is the queue's journal, in the datasets directory.
const QueueFile = ".anther-uploads.json"

// Errors of the upload queue.
var (
	// ErrJobNotFound means no job has that id.
	ErrJobNotFound = errors.New("hub: no such upload job")
	// ErrOutsideDatasets means a job named a directory outside the
	// queue's datasets directory.
	ErrOutsideDatasets = errors.New("hub: dataset is outside the datasets directory")
)

// PushRequest asks the queue to upload a dataset.
type PushRequest struct {
	// Dir is the dataset directory: relative to the queue's datasets
	// directory, or absolute inside it.
	Dir string `json:"dir"`
	// RepoID is "namespace/name".
	RepoID string `json:"repo_id"`
	// Branch defaults to "main".
	Branch string `json:"branch,omitempty"`
	// Private creates the repository private.
	Private bool `json:"private,omitempty"`
}

// JobState is where a job stands.
type JobState string

// Job states.
const (
	JobQueued    JobState = "queued"    // waiting (for its settle time, or a retry)
	JobUploading JobState = "uploading" // being uploaded now
	JobDone      JobState = "done"      // the Hub has the dataset as it was
	JobFailed    JobState = "failed"    // stopped on an error that waiting will not fix
)

// Job is one dataset to keep uploaded. Enqueueing the same dataset, repo
// and branch again reuses its job: episodes recorded while it waits or
// uploads are picked up by one more pass.
type Job struct {
	ID          string    `json:"id"`
	Dir         string    `json:"dir"` // absolute
	RepoID      string    `json:"repo_id"`
	Branch      string    `json:"branch"`
	Private     bool      `json:"private,omitempty"`
	State       JobState  `json:"state"`
	Attempts    int       `json:"attempts"` // failed attempts since the last success
	Error       string    `json:"error,omitempty"`
	EnqueuedAt  time.Time `json:"enqueued_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// Again is set when the dataset was enqueued while uploading: one
	// more pass follows.
	Again     bool   `json:"again,omitempty"`
	Commit    string `json:"commit,omitempty"`
	CommitURL string `json:"commit_url,omitempty"`
	// Progress is the running upload's (not persisted).
	Progress *Progress `json:"progress,omitempty"`
}

// QueueStatus is a snapshot of the queue.
type QueueStatus struct {
	Jobs   []Job  `json:"jobs"`             // oldest first
	Active string `json:"active,omitempty"` // id of the job uploading now
}

// QueueConfig configures a [Queue].
type QueueConfig struct {
	// Dir is the datasets directory; the queue's journal and the uploads'
	// resume journals live in it. Required.
	Dir string
	// Connect returns the client for one upload attempt; it is called for
	// each attempt, so a token added after start is picked up. Default:
	// the token and endpoint from the environment (HF_TOKEN, HF_ENDPOINT).
	Connect func() (*Client, error)
	// Settle is how long a job waits after its last Enqueue before it
	// uploads, so that consecutive episodes make one commit; default 30 s.
	Settle time.Duration
	// RetryMin and RetryMax bound the backoff between attempts after a
	// transient failure; defaults 30 s and 30 min.
	RetryMin, RetryMax time.Duration
	// RateLimit caps an upload's reading (hashing and sending) in bytes
	// per second, to keep the robot's disk and link for the recorder;
	// 0 means no cap.
	RateLimit int64
	// Concurrency is the number of transfers of an upload; default 1
	// (background work).
	Concurrency int
	// KeepDone is how many finished jobs the journal keeps; default 50.
	KeepDone int
	// Logger receives the queue's events; default slog.Default().
	Logger *slog.Logger
}

// Queue uploads datasets in the background, one at a time, and survives
// restarts: its jobs are journaled in QueueFile in the datasets directory,
// and each upload keeps its own resume journal, so a job interrupted by a
// restart continues where it stopped. Run does the work; Enqueue, Status,
// Retry and Cancel may be called from any goroutine.
type Queue struct {
	cfg  QueueConfig
	path string
	log  *slog.Logger
	wake chan struct{}

	mu       sync.Mutex
	jobs     map[string]*Job
	active   string
	cancelFn context.CancelCauseFunc
}

// errJobCancelled is the cause of an upload stopped by Cancel.
var errJobCancelled = errors.New("hub: upload cancelled")

// OpenQueue loads the queue's journal from cfg.Dir (jobs that were
// uploading when the process stopped go back to queued). It starts no
// goroutine: call Run.
func OpenQueue(cfg QueueConfig) (*Queue, error) {
	if cfg.Dir == "" {
		return nil, errors.New("hub: queue: no datasets directory")
	}
	abs, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("hub: queue: %w", err)
	}
	cfg.Dir = abs
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("hub: queue: %w", err)
	}
	if cfg.Settle == 0 {
		cfg.Settle = 30 * time.Second
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 30 * time.Second
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(30*time.Minute, cfg.RetryMin)
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 1
	}
	if cfg.KeepDone <= 0 {
		cfg.KeepDone = 50
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Connect == nil {
		log := cfg.Logger
		cfg.Connect = func() (*Client, error) {
			tok, err := TokenFromEnv(os.Getenv)
			if err != nil {
				return nil, err
			}
			return NewClient(Config{Endpoint: EndpointFromEnv(os.Getenv), Token: tok, Logger: log})
		}
	}
	q := &Queue{cfg: cfg, path: filepath.Join(abs, QueueFile), log: cfg.Logger, wake: make(chan struct{}, 1),
		jobs: map[string]*Job{}}
	b, err := os.ReadFile(q.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("hub: queue: %w", err)
	default:
		jobs, err := decodeQueue(b)
		if err != nil {
			// Keep the unreadable file for a human; start empty.
			bad := q.path + ".corrupt"
			_ = os.Rename(q.path, bad)
			q.log.Error("hub: queue journal unreadable; set aside", "file", bad, "err", err)
		}
		for _, j := range jobs {
			if j.State == JobUploading {
				j.State = JobQueued
				j.NextAttempt = time.Time{}
			}
			q.jobs[j.ID] = j
		}
	}
	return q, nil
}

// decodeQueue parses the queue journal.
func decodeQueue(b []byte) ([]*Job, error) {
	var f struct {
		Version int    `json:"version"`
		Jobs    []*Job `json:"jobs"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("hub: queue journal: %w", err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("hub: queue journal: version %d, want 1", f.Version)
	}
	var out []*Job
	for _, j := range f.Jobs {
		if j == nil || j.ID == "" || j.Dir == "" || j.RepoID == "" {
			continue
		}
		switch j.State {
		case JobQueued, JobUploading, JobDone, JobFailed:
		default:
			j.State = JobQueued
		}
		j.Progress = nil
		out = append(out, j)
	}
	return out, nil
}

// saveLocked writes the journal; q.mu must be held.
func (q *Queue) saveLocked() {
	jobs := q.sortedLocked()
	// Forget the oldest finished jobs beyond KeepDone.
	done := 0
	for i := len(jobs) - 1; i >= 0; i-- {
		if jobs[i].State == JobDone {
			done++
			if done > q.cfg.KeepDone {
				delete(q.jobs, jobs[i].ID)
			}
		}
	}
	jobs = q.sortedLocked()
	out := make([]Job, len(jobs))
	for i, j := range jobs {
		out[i] = *j
		out[i].Progress = nil
	}
	b, err := json.MarshalIndent(struct {
		Version int   `json:"version"`
		Jobs    []Job `json:"jobs"`
	}{1, out}, "", " ")
	if err == nil {
		err = writeFileAtomic(q.path, b)
	}
	if err != nil {
		q.log.Error("hub: saving the upload queue", "err", err)
	}
}

func (q *Queue) sortedLocked() []*Job {
	jobs := make([]*Job, 0, len(q.jobs))
	for _, j := range q.jobs {
		jobs = append(jobs, j)
	}
	sort.Slice(jobs, func(a, b int) bool {
		if !jobs[a].EnqueuedAt.Equal(jobs[b].EnqueuedAt) {
			return jobs[a].EnqueuedAt.Before(jobs[b].EnqueuedAt)
		}
		return jobs[a].ID < jobs[b].ID
	})
	return jobs
}

func (q *Queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// resolve checks a request and returns its absolute dataset directory.
func (q *Queue) resolve(req PushRequest) (string, RepoID, error) {
	repo, err := ParseRepoID(req.RepoID)
	if err != nil {
		return "", repo, err
	}
	if req.Dir == "" {
		return "", repo, fmt.Errorf("%w: no dataset directory given", ErrOutsideDatasets)
	}
	dir := req.Dir
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(q.cfg.Dir, dir)
	}
	dir = filepath.Clean(dir)
	rel, err := filepath.Rel(q.cfg.Dir, dir)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", repo, fmt.Errorf("%w: %s is not inside %s", ErrOutsideDatasets, dir, q.cfg.Dir)
	}
	return dir, repo, nil
}

func jobID(dir, repo, branch string) string {
	sum := sha256.Sum256([]byte(dir + "\n" + repo + "\n" + branch))
	return hex.EncodeToString(sum[:6])
}

// Enqueue adds a dataset to the queue (or refreshes its job) and returns
// the job. The upload starts after the settle time; the dataset is checked
// then, so a dataset still being written can be enqueued.
func (q *Queue) Enqueue(req PushRequest) (Job, error) {
	dir, repo, err := q.resolve(req)
	if err != nil {
		return Job{}, err
	}
	branch := req.Branch
	if branch == "" {
		branch = "main"
	}
	now := time.Now().UTC()
	id := jobID(dir, repo.String(), branch)
	q.mu.Lock()
	defer q.mu.Unlock()
	j := q.jobs[id]
	if j == nil {
		j = &Job{ID: id, Dir: dir, RepoID: repo.String(), Branch: branch, EnqueuedAt: now}
		q.jobs[id] = j
	}
	j.Private = j.Private || req.Private
	j.UpdatedAt = now
	if j.State == JobUploading {
		j.Again = true
	} else {
		j.State = JobQueued
		j.Error = ""
		j.Attempts = 0
		j.NextAttempt = now.Add(q.cfg.Settle)
	}
	q.saveLocked()
	q.signal()
	q.log.Info("hub: upload queued", "job", id, "dir", dir, "repo", j.RepoID, "branch", branch, "start_after", q.cfg.Settle)
	return q.copyLocked(j), nil
}

func (q *Queue) copyLocked(j *Job) Job {
	c := *j
	if j.Progress != nil {
		p := *j.Progress
		c.Progress = &p
	}
	return c
}

// Status returns a snapshot of every job.
func (q *Queue) Status() QueueStatus {
	q.mu.Lock()
	defer q.mu.Unlock()
	st := QueueStatus{Jobs: []Job{}, Active: q.active}
	for _, j := range q.sortedLocked() {
		st.Jobs = append(st.Jobs, q.copyLocked(j))
	}
	return st
}

// Retry puts a failed (or waiting) job back to upload now.
func (q *Queue) Retry(id string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	j := q.jobs[id]
	if j == nil {
		return fmt.Errorf("%w: %s", ErrJobNotFound, id)
	}
	if j.State == JobUploading {
		return nil
	}
	j.State, j.Error, j.Attempts, j.NextAttempt, j.UpdatedAt = JobQueued, "", 0, time.Time{}, time.Now().UTC()
	q.saveLocked()
	q.signal()
	return nil
}

// Cancel removes a job, stopping its upload if it is running (what was
// already sent stays on the Hub, uncommitted).
func (q *Queue) Cancel(id string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.jobs[id] == nil {
		return fmt.Errorf("%w: %s", ErrJobNotFound, id)
	}
	if q.active == id && q.cancelFn != nil {
		q.cancelFn(errJobCancelled)
	}
	delete(q.jobs, id)
	q.saveLocked()
	return nil
}

// next returns the job to upload now, or how long to wait for one.
func (q *Queue) next(now time.Time) (*Job, time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	wait := time.Duration(-1)
	for _, j := range q.sortedLocked() {
		if j.State != JobQueued {
			continue
		}
		if !j.NextAttempt.After(now) {
			return j, 0
		}
		if d := j.NextAttempt.Sub(now); wait < 0 || d < wait {
			wait = d
		}
	}
	return nil, wait
}

// Run uploads queued jobs, one at a time, until ctx ends; it then stops
// the running upload (it resumes at the next Run) and returns nil.
func (q *Queue) Run(ctx context.Context) error {
	q.log.Info("hub: upload queue running", "dir", q.cfg.Dir, "jobs", len(q.Status().Jobs))
	for {
		if ctx.Err() != nil {
			return nil
		}
		j, wait := q.next(time.Now())
		if j == nil {
			if wait < 0 {
				wait = time.Hour
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-q.wake:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		q.runJob(ctx, j.ID)
	}
}

// runJob makes one upload attempt of a job.
func (q *Queue) runJob(ctx context.Context, id string) {
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	q.mu.Lock()
	j := q.jobs[id]
	if j == nil {
		q.mu.Unlock()
		return
	}
	j.State, j.Again, j.UpdatedAt, j.Progress = JobUploading, false, time.Now().UTC(), &Progress{Phase: PhasePrepare}
	q.active, q.cancelFn = id, cancel
	req := *j
	q.saveLocked()
	q.mu.Unlock()

	q.log.Info("hub: uploading in the background", "job", id, "dir", req.Dir, "repo", req.RepoID, "branch", req.Branch)
	res, err := q.upload(jctx, req)

	q.mu.Lock()
	defer q.mu.Unlock()
	q.active, q.cancelFn = "", nil
	j = q.jobs[id]
	if j == nil { // cancelled and removed
		q.log.Info("hub: upload cancelled", "job", id)
		return
	}
	now := time.Now().UTC()
	j.UpdatedAt, j.Progress = now, nil
	switch {
	case err == nil:
		j.State, j.Error, j.Attempts, j.Commit, j.CommitURL, j.NextAttempt = JobDone, "", 0, res.Commit, res.CommitURL, time.Time{}
		if j.Again {
			j.State, j.NextAttempt = JobQueued, now.Add(q.cfg.Settle)
		}
		q.log.Info("hub: background upload done", "job", id, "repo", j.RepoID, "commit", res.Commit,
			"committed", res.Committed, "bytes", res.BytesUploaded)
	case ctx.Err() != nil:
		// The daemon is stopping: the job resumes at the next start.
		j.State, j.NextAttempt = JobQueued, time.Time{}
		q.log.Info("hub: background upload interrupted; it resumes at the next start", "job", id)
	case IsTransient(err):
		j.Attempts++
		backoff := q.cfg.RetryMin << min(j.Attempts-1, 16)
		if backoff > q.cfg.RetryMax || backoff <= 0 {
			backoff = q.cfg.RetryMax
		}
		j.State, j.Error, j.NextAttempt = JobQueued, err.Error(), now.Add(backoff)
		if j.Again {
			j.NextAttempt = now.Add(q.cfg.Settle)
		}
		q.log.Warn("hub: background upload failed; will retry", "job", id, "in", backoff, "err", err)
	default:
		j.Attempts++
		j.State, j.Error = JobFailed, err.Error()
		q.log.Error("hub: background upload failed", "job", id, "err", err)
	}
	j.Again = false
	q.saveLocked()
}

func (q *Queue) upload(ctx context.Context, j Job) (*Result, error) {
	c, err := q.cfg.Connect()
	if err != nil {
		return nil, err
	}
	repo, err := ParseRepoID(j.RepoID)
	if err != nil {
		return nil, err
	}
	return c.Upload(ctx, j.Dir, Options{
		Repo: repo, Branch: j.Branch, Private: j.Private,
		StateDir:    filepath.Join(q.cfg.Dir, ".anther-uploads"),
		Concurrency: q.cfg.Concurrency, RateLimit: q.cfg.RateLimit,
		ProgressEvery: time.Second,
		OnProgress: func(p Progress) {
			q.mu.Lock()
			if jj := q.jobs[j.ID]; jj != nil && jj.State == JobUploading {
				jj.Progress = &p
			}
			q.mu.Unlock()
		},
	})
}
