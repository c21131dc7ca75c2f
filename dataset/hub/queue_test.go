package hub_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anther-robotics/anther/dataset/hub"
	"github.com/anther-robotics/anther/dataset/hub/hubtest"
)

// startQueue opens a queue on datasets with clients of srv and runs it
// until the returned stop is called (also at the end of the test).
func startQueue(t *testing.T, datasets string, srv *hubtest.Server, mod func(*hub.QueueConfig)) (*hub.Queue, func()) {
	t.Helper()
	cfg := hub.QueueConfig{Dir: datasets, Settle: time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond,
		Connect: func() (*hub.Client, error) { c, _ := newClient(t, srv); return c, nil }}
	if mod != nil {
		mod(&cfg)
	}
	q, err := hub.OpenQueue(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return q, stop
}

// waitJob waits until the job reaches state (and returns it).
func waitJob(t *testing.T, q *hub.Queue, id string, state hub.JobState) hub.Job {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, j := range q.Status().Jobs {
			if j.ID == id && j.State == state {
				return j
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("job %s never reached %s: %+v", id, state, q.Status())
	return hub.Job{}
}

func TestQueueUploadsInTheBackground(t *testing.T) {
	srv := hubtest.New(t, multipartOpts)
	datasets := t.TempDir()
	hubtest.WriteDataset(t, filepath.Join(datasets, "pick"), smallSpec)
	q, _ := startQueue(t, datasets, srv, nil)
	j, err := q.Enqueue(hub.PushRequest{Dir: "pick", RepoID: "alice/pick"})
	if err != nil {
		t.Fatal(err)
	}
	done := waitJob(t, q, j.ID, hub.JobDone)
	checkTree(t, srv, "alice/pick", "main", filepath.Join(datasets, "pick"))
	if srv.ClientCommits("alice/pick") != 1 || done.Commit == "" || srv.Tags("alice/pick")["v3.0"] != done.Commit {
		t.Errorf("job %+v, commits %d, tags %v", done, srv.ClientCommits("alice/pick"), srv.Tags("alice/pick"))
	}
	// A finished episode: enqueue again, one more commit with the changes.
	hubtest.WriteDataset(t, filepath.Join(datasets, "pick"), hubtest.DatasetSpec{Episodes: 4, DataBytes: smallSpec.DataBytes,
		DataFiles: 2, Videos: smallSpec.Videos})
	if _, err := q.Enqueue(hub.PushRequest{Dir: filepath.Join(datasets, "pick"), RepoID: "alice/pick"}); err != nil {
		t.Fatal(err)
	}
	waitJob(t, q, j.ID, hub.JobDone)
	for srv.ClientCommits("alice/pick") < 2 {
		time.Sleep(time.Millisecond)
	}
	waitJob(t, q, j.ID, hub.JobDone)
	checkTree(t, srv, "alice/pick", "main", filepath.Join(datasets, "pick"))
	if n := len(q.Status().Jobs); n != 1 {
		t.Errorf("%d jobs for one dataset", n)
	}
}

func TestQueueSurvivesRestart(t *testing.T) {
	datasets := t.TempDir()
	spec := smallSpec
	spec.DataFiles = 3
	hubtest.WriteDataset(t, filepath.Join(datasets, "long"), spec)
	stopped := make(chan struct{})
	var stopOnce sync.Once
	opts := multipartOpts
	opts.OnPutBytes = func(n int64) {
		if n > 1<<20 {
			stopOnce.Do(func() { close(stopped) })
		}
	}
	opts.Fault = func(r hubtest.Request) hubtest.Fault {
		if r.Kind == hubtest.KindPart {
			return hubtest.Fault{Delay: 5 * time.Millisecond}
		}
		return hubtest.Fault{}
	}
	srv := hubtest.New(t, opts)
	q, stop := startQueue(t, datasets, srv, nil)
	j, err := q.Enqueue(hub.PushRequest{Dir: "long", RepoID: "alice/long", Private: true})
	if err != nil {
		t.Fatal(err)
	}
	<-stopped
	stop() // the daemon stops mid-upload
	if srv.ClientCommits("alice/long") != 0 {
		t.Fatal("committed before the restart")
	}
	b, err := os.ReadFile(filepath.Join(datasets, hub.QueueFile))
	if err != nil || !strings.Contains(string(b), `"state": "queued"`) {
		t.Fatalf("journal after the stop: %s (%v)", b, err)
	}
	// The daemon starts again: a new queue from the journal.
	q2, _ := startQueue(t, datasets, srv, nil)
	done := waitJob(t, q2, j.ID, hub.JobDone)
	checkTree(t, srv, "alice/long", "main", filepath.Join(datasets, "long"))
	if n := srv.ClientCommits("alice/long"); n != 1 {
		t.Errorf("%d commits, want 1", n)
	}
	if _, private := srv.Exists("alice/long"); !private || done.Private != true {
		t.Errorf("private lost across the restart: %+v", done)
	}
	for oid, n := range srv.Uploads("alice/long") {
		if n != 1 {
			t.Errorf("object %s uploaded %d times", oid, n)
		}
	}
}

func TestQueueFailures(t *testing.T) {
	datasets := t.TempDir()
	hubtest.WriteDataset(t, filepath.Join(datasets, "a"), hubtest.DatasetSpec{})
	hubtest.WriteDataset(t, filepath.Join(datasets, "bad"), hubtest.DatasetSpec{CodebaseVersion: "v2.1"})
	failing := true
	var mu sync.Mutex
	srv := hubtest.New(t, hubtest.Options{Fault: func(r hubtest.Request) hubtest.Fault {
		mu.Lock()
		defer mu.Unlock()
		if failing && r.Kind == hubtest.KindPut {
			return hubtest.Fault{Status: 503}
		}
		return hubtest.Fault{}
	}})
	noToken := true
	emptyHome := t.TempDir()
	q, _ := startQueue(t, datasets, srv, func(c *hub.QueueConfig) {
		connect := c.Connect
		c.Connect = func() (*hub.Client, error) {
			mu.Lock()
			defer mu.Unlock()
			if noToken {
				_, err := hub.TokenFromEnv(env(map[string]string{"HOME": emptyHome}))
				return nil, err
			}
			return connect()
		}
	})

	// No token: failed, saying where it looked; Retry once it is there.
	j, err := q.Enqueue(hub.PushRequest{Dir: "a", RepoID: "alice/a"})
	if err != nil {
		t.Fatal(err)
	}
	failed := waitJob(t, q, j.ID, hub.JobFailed)
	if !strings.Contains(failed.Error, "HF_TOKEN") {
		t.Errorf("error %q does not say where the token was looked for", failed.Error)
	}
	mu.Lock()
	noToken = false
	mu.Unlock()
	// 503s: transient, queued again with a backoff and the error shown.
	if err := q.Retry(j.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := q.Status().Jobs[0]
		if st.State == hub.JobQueued && st.Attempts > 0 && strings.Contains(st.Error, "503") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job never backed off: %+v", st)
		}
		time.Sleep(2 * time.Millisecond)
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	waitJob(t, q, j.ID, hub.JobDone)

	// An invalid dataset fails for good, saying why.
	jb, err := q.Enqueue(hub.PushRequest{Dir: "bad", RepoID: "alice/bad"})
	if err != nil {
		t.Fatal(err)
	}
	if f := waitJob(t, q, jb.ID, hub.JobFailed); !strings.Contains(f.Error, `codebase_version is "v2.1"`) {
		t.Errorf("error %q", f.Error)
	}
	if err := q.Cancel(jb.ID); err != nil {
		t.Fatal(err)
	}
	if err := q.Cancel(jb.ID); !errors.Is(err, hub.ErrJobNotFound) {
		t.Errorf("second cancel: %v", err)
	}

	// Bad requests are refused at once.
	for _, req := range []hub.PushRequest{
		{Dir: "../elsewhere", RepoID: "alice/x"},
		{Dir: "/etc", RepoID: "alice/x"},
		{Dir: ".", RepoID: "alice/x"},
		{Dir: "a", RepoID: "not a repo"},
	} {
		if _, err := q.Enqueue(req); !errors.Is(err, hub.ErrOutsideDatasets) && !errors.Is(err, hub.ErrInvalidRepoID) {
			t.Errorf("Enqueue(%+v) = %v", req, err)
		}
	}
}

func TestQueueCancelStopsTheUpload(t *testing.T) {
	datasets := t.TempDir()
	hubtest.WriteDataset(t, filepath.Join(datasets, "c"), smallSpec)
	started := make(chan struct{})
	var once sync.Once
	opts := multipartOpts
	opts.Fault = func(r hubtest.Request) hubtest.Fault {
		if r.Kind == hubtest.KindPart {
			once.Do(func() { close(started) })
			return hubtest.Fault{Delay: 20 * time.Millisecond}
		}
		return hubtest.Fault{}
	}
	srv := hubtest.New(t, opts)
	q, _ := startQueue(t, datasets, srv, nil)
	j, err := q.Enqueue(hub.PushRequest{Dir: "c", RepoID: "alice/c"})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	if err := q.Cancel(j.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for q.Status().Active != "" {
		if time.Now().After(deadline) {
			t.Fatal("the cancelled upload kept running")
		}
		time.Sleep(time.Millisecond)
	}
	if len(q.Status().Jobs) != 0 || srv.ClientCommits("alice/c") != 0 {
		t.Errorf("after cancel: %+v, %d commits", q.Status(), srv.ClientCommits("alice/c"))
	}
}

func TestQueueCorruptJournalIsSetAside(t *testing.T) {
	datasets := t.TempDir()
	if err := os.WriteFile(filepath.Join(datasets, hub.QueueFile), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	q, err := hub.OpenQueue(hub.QueueConfig{Dir: datasets, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if len(q.Status().Jobs) != 0 {
		t.Error("jobs from a corrupt journal")
	}
	if _, err := os.Stat(filepath.Join(datasets, hub.QueueFile+".corrupt")); err != nil {
		t.Errorf("corrupt journal not kept: %v", err)
	}
}
