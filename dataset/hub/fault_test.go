package hub_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anther-robotics/anther/dataset/hub"
	"github.com/anther-robotics/anther/dataset/hub/hubtest"
)

// onceAt returns a fault function that injects f into the n-th request of
// a kind, and answers every other request normally.
func onceAt(kind string, n int, f hubtest.Fault) func(hubtest.Request) hubtest.Fault {
	return func(r hubtest.Request) hubtest.Fault {
		if r.Kind == kind && r.N == n {
			return f
		}
		return hubtest.Fault{}
	}
}

// all combines fault functions: the first non-zero fault wins.
func all(fs ...func(hubtest.Request) hubtest.Fault) func(hubtest.Request) hubtest.Fault {
	return func(r hubtest.Request) hubtest.Fault {
		for _, f := range fs {
			if got := f(r); got != (hubtest.Fault{}) {
				return got
			}
		}
		return hubtest.Fault{}
	}
}

// TestFaults injects one kind of failure per case; every upload must end
// with the remote tree equal to the local dataset, in exactly one commit.
func TestFaults(t *testing.T) {
	drop := func(after int64) hubtest.Fault { return hubtest.Fault{Drop: true, DropAfter: after} }
	status := func(code int) hubtest.Fault { return hubtest.Fault{Status: code} }
	cases := []struct {
		name      string
		fault     func(hubtest.Request) hubtest.Fault
		minTime   time.Duration
		wantRetry int // extra requests of this kind the fault must cause
		kind      string
	}{
		{name: "connection dropped mid basic PUT", fault: onceAt(hubtest.KindPut, 2, drop(100<<10)), kind: hubtest.KindPut, wantRetry: 1},
		{name: "connection dropped mid part PUT", fault: onceAt(hubtest.KindPart, 3, drop(70<<10)), kind: hubtest.KindPart, wantRetry: 1},
		{name: "connection dropped before any byte", fault: onceAt(hubtest.KindPut, 1, drop(0)), kind: hubtest.KindPut, wantRetry: 1},
		{name: "500 on PUT", fault: onceAt(hubtest.KindPut, 1, status(500)), kind: hubtest.KindPut, wantRetry: 1},
		{name: "503 twice on a part", fault: all(onceAt(hubtest.KindPart, 1, status(503)), onceAt(hubtest.KindPart, 2, status(503))), kind: hubtest.KindPart, wantRetry: 2},
		{name: "502 on LFS batch", fault: onceAt(hubtest.KindBatch, 1, status(502)), kind: hubtest.KindBatch, wantRetry: 1},
		{name: "500 on preupload", fault: onceAt(hubtest.KindPreupload, 1, status(500)), kind: hubtest.KindPreupload, wantRetry: 1},
		{name: "504 on create repo", fault: onceAt(hubtest.KindCreateRepo, 1, status(504)), kind: hubtest.KindCreateRepo, wantRetry: 1},
		{name: "500 on completion", fault: onceAt(hubtest.KindComplete, 1, status(500)), kind: hubtest.KindComplete, wantRetry: 1},
		{name: "completion answer lost", fault: onceAt(hubtest.KindComplete, 1, hubtest.Fault{AfterApply: true}), kind: hubtest.KindComplete, wantRetry: 1},
		{name: "502 on verify", fault: onceAt(hubtest.KindVerify, 2, status(502)), kind: hubtest.KindVerify, wantRetry: 1},
		{name: "429 with Retry-After on a PUT", fault: onceAt(hubtest.KindPut, 1, hubtest.Fault{Status: 429, RetryAfter: "1"}),
			kind: hubtest.KindPut, wantRetry: 1, minTime: time.Second},
		{name: "429 with Retry-After on the commit", fault: onceAt(hubtest.KindCommit, 1, hubtest.Fault{Status: 429, RetryAfter: "1"}),
			kind: hubtest.KindCommit, wantRetry: 1, minTime: time.Second},
		{name: "500 on the commit", fault: onceAt(hubtest.KindCommit, 1, status(500)), kind: hubtest.KindCommit, wantRetry: 1},
		{name: "commit answer lost", fault: onceAt(hubtest.KindCommit, 1, hubtest.Fault{AfterApply: true}), kind: hubtest.KindCommit},
		{name: "commit connection dropped before it landed", fault: onceAt(hubtest.KindCommit, 1, drop(10)), kind: hubtest.KindCommit, wantRetry: 1},
		{name: "500 on tag", fault: onceAt(hubtest.KindTag, 1, status(500)), kind: hubtest.KindTag, wantRetry: 1},
		{name: "500 on refs", fault: onceAt(hubtest.KindRefs, 1, status(500)), kind: hubtest.KindRefs, wantRetry: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := multipartOpts
			opts.Fault = tc.fault
			srv := hubtest.New(t, opts)
			dir := t.TempDir()
			hubtest.WriteDataset(t, dir, smallSpec)
			c, logs := newClient(t, srv)
			start := time.Now()
			res, err := c.Upload(context.Background(), dir, hub.Options{Repo: mustRepo(t, "alice/faulty"), StateDir: t.TempDir()})
			if err != nil {
				t.Fatalf("upload: %v\n%s", err, logs)
			}
			if el := time.Since(start); el < tc.minTime {
				t.Errorf("took %v: Retry-After %v not honoured", el, tc.minTime)
			}
			checkTree(t, srv, "alice/faulty", "main", dir)
			if n := srv.ClientCommits("alice/faulty"); n != 1 {
				t.Errorf("%d commits, want exactly 1", n)
			}
			if srv.Tags("alice/faulty")["v3.0"] != res.Commit {
				t.Errorf("tag %v, commit %s", srv.Tags("alice/faulty"), res.Commit)
			}
			// Without the fault: 2 basic PUTs + 1 (4 LFS files, one multipart
			// with 9 parts), one of everything else except verifies.
			base := map[string]int{hubtest.KindPut: 3, hubtest.KindPart: 9, hubtest.KindComplete: 1, hubtest.KindVerify: 4,
				hubtest.KindBatch: -1, hubtest.KindPreupload: 1, hubtest.KindCreateRepo: 1, hubtest.KindCommit: 1,
				hubtest.KindTag: 1, hubtest.KindRefs: 1}
			if b := base[tc.kind]; b > 0 {
				if got := srv.Count(tc.kind); got != b+tc.wantRetry {
					t.Errorf("%d %s requests, want %d", got, tc.kind, b+tc.wantRetry)
				}
			}
		})
	}
}

func TestGivesUpAfterRetries(t *testing.T) {
	srv := hubtest.New(t, hubtest.Options{Fault: func(r hubtest.Request) hubtest.Fault {
		if r.Kind == hubtest.KindPut {
			return hubtest.Fault{Status: 503}
		}
		return hubtest.Fault{}
	}})
	dir := t.TempDir()
	hubtest.WriteDataset(t, dir, hubtest.DatasetSpec{})
	c, _ := newClient(t, srv)
	_, err := c.Upload(context.Background(), dir, hub.Options{Repo: mustRepo(t, "alice/down"), StateDir: t.TempDir(), Concurrency: 1})
	var he *hub.HTTPError
	if !errors.As(err, &he) || he.Status != 503 || !hub.IsTransient(err) {
		t.Fatalf("err = %v", err)
	}
	if n := srv.Count(hubtest.KindPut); n != 7 {
		t.Errorf("%d PUTs, want 1 + 6 retries", n)
	}
	if srv.ClientCommits("alice/down") != 0 {
		t.Error("committed after a failed upload")
	}
}

// TestInterruptedThenResumed cancels an upload midway (as a crash would
// stop it) and runs it again with the same journal.
func TestInterruptedThenResumed(t *testing.T) {
	dir := t.TempDir()
	spec := smallSpec
	spec.DataFiles = 3
	hubtest.WriteDataset(t, dir, spec)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Stop once everything is hashed and at least one object is on the
	// Hub, while the rest is still being sent.
	var hashed atomic.Bool
	var srv *hubtest.Server
	opts := multipartOpts
	opts.OnPutBytes = func(int64) {
		if hashed.Load() && len(srv.Uploads("alice/resumed")) > 0 {
			cancel()
		}
	}
	opts.Fault = func(r hubtest.Request) hubtest.Fault {
		if r.Kind == hubtest.KindPart {
			return hubtest.Fault{Delay: 5 * time.Millisecond} // the video goes slowly
		}
		return hubtest.Fault{}
	}
	srv = hubtest.New(t, opts)
	c, _ := newClient(t, srv)
	state := t.TempDir()
	opt := hub.Options{Repo: mustRepo(t, "alice/resumed"), StateDir: state, Concurrency: 2, ProgressEvery: time.Millisecond,
		OnProgress: func(p hub.Progress) { hashed.Store(p.HashDone == p.HashTotal && p.HashTotal > 0) }}
	_, err := c.Upload(ctx, dir, opt)
	if !errors.Is(err, context.Canceled) || hub.IsTransient(err) {
		t.Fatalf("interrupted upload: err = %v", err)
	}
	if srv.ClientCommits("alice/resumed") != 0 {
		t.Fatal("an interrupted upload committed")
	}
	before := srv.Uploads("alice/resumed")
	opt.OnProgress = nil
	res, err := c.Upload(context.Background(), dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	checkTree(t, srv, "alice/resumed", "main", dir)
	if n := srv.ClientCommits("alice/resumed"); n != 1 {
		t.Errorf("%d commits, want 1", n)
	}
	if res.BytesHashed != 0 {
		t.Errorf("resumed upload hashed %d bytes again", res.BytesHashed)
	}
	if res.LFSPresent < len(before) || len(before) == 0 {
		t.Errorf("resumed upload found %d objects on the Hub, %d were uploaded before", res.LFSPresent, len(before))
	}
	for oid, n := range srv.Uploads("alice/resumed") {
		if n != 1 {
			t.Errorf("object %s uploaded %d times", oid, n)
		}
	}
}

// Child process for TestKilledProcessResumes: uploads the dataset named by
// the environment, with the endpoint and token from HF_ENDPOINT/HF_TOKEN.
func TestHelperUploadProcess(t *testing.T) {
	dir := os.Getenv("HUBTEST_CHILD_DIR")
	if dir == "" {
		t.Skip("helper process for TestKilledProcessResumes")
	}
	tok, err := hub.TokenFromEnv(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	c, err := hub.NewClient(hub.Config{Endpoint: hub.EndpointFromEnv(os.Getenv), Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Upload(context.Background(), dir, hub.Options{Repo: mustRepo(t, os.Getenv("HUBTEST_CHILD_REPO")),
		StateDir: os.Getenv("HUBTEST_CHILD_STATE"), Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
}

// TestKilledProcessResumes kills (SIGKILL) an uploading process, midway
// through its transfers or while its commit is in flight, then uploads
// again from the same journal: the remote tree must equal the local
// dataset, with exactly one commit.
func TestKilledProcessResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, when := range []string{"mid-transfer", "during-commit"} {
		t.Run(when, func(t *testing.T) {
			dir := t.TempDir()
			spec := smallSpec
			spec.DataFiles = 3
			hubtest.WriteDataset(t, dir, spec)
			var cmd *exec.Cmd
			var mu sync.Mutex
			var killed atomic.Bool
			kill := func() {
				mu.Lock()
				defer mu.Unlock()
				if cmd != nil && cmd.Process != nil && killed.CompareAndSwap(false, true) {
					_ = cmd.Process.Kill()
				}
			}
			opts := multipartOpts
			switch when {
			case "mid-transfer":
				opts.OnPutBytes = func(n int64) {
					if n > 1<<20 {
						kill()
					}
				}
				// Slow the child's parts so the kill lands mid-transfer.
				opts.Fault = func(r hubtest.Request) hubtest.Fault {
					if r.Kind == hubtest.KindPart && !killed.Load() {
						return hubtest.Fault{Delay: 20 * time.Millisecond}
					}
					return hubtest.Fault{}
				}
			case "during-commit":
				// The first commit lands, then the process dies before it
				// hears the answer.
				opts.Fault = func(r hubtest.Request) hubtest.Fault {
					if r.Kind == hubtest.KindCommit && r.N == 1 {
						return hubtest.Fault{AfterApply: true, Hold: 10 * time.Second}
					}
					return hubtest.Fault{}
				}
			}
			srv := hubtest.New(t, opts)
			state := t.TempDir()
			repo := "alice/killed-" + when
			mu.Lock()
			cmd = exec.Command(exe, "-test.run=^TestHelperUploadProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), "HUBTEST_CHILD_DIR="+dir, "HUBTEST_CHILD_STATE="+state, "HUBTEST_CHILD_REPO="+repo,
				"HF_ENDPOINT="+srv.URL, "HF_TOKEN="+srv.Token())
			if when == "during-commit" {
				// Kill the child once its commit landed.
				go func() {
					for srv.ClientCommits(repo) == 0 {
						time.Sleep(time.Millisecond)
					}
					kill()
				}()
			}
			if err := cmd.Start(); err != nil {
				mu.Unlock()
				t.Fatal(err)
			}
			mu.Unlock()
			err := cmd.Wait()
			if !killed.Load() {
				t.Fatalf("the child finished before it was killed: %v", err)
			}
			if when == "mid-transfer" && srv.ClientCommits(repo) != 0 {
				t.Fatal("the killed child committed")
			}
			journals, _ := filepath.Glob(filepath.Join(state, "push-*.json"))
			if len(journals) != 1 {
				t.Fatalf("journals after the kill: %v", journals)
			}
			c, logs := newClient(t, srv)
			res, err := c.Upload(context.Background(), dir, hub.Options{Repo: mustRepo(t, repo), StateDir: state})
			if err != nil {
				t.Fatalf("resumed upload: %v\n%s", err, logs)
			}
			checkTree(t, srv, repo, "main", dir)
			if n := srv.ClientCommits(repo); n != 1 {
				t.Errorf("%d commits, want exactly 1", n)
			}
			if srv.Tags(repo)["v3.0"] != res.Commit {
				t.Errorf("tag %v, commit %s", srv.Tags(repo), res.Commit)
			}
			if when == "during-commit" && (res.Committed || res.BytesUploaded != 0) {
				t.Errorf("resume after a landed commit: %+v", res)
			}
			for oid, n := range srv.Uploads(repo) {
				if n != 1 {
					t.Errorf("object %s uploaded %d times", oid, n)
				}
			}
			t.Logf("%s: resumed run: %s", when, strconv.Quote(res.Commit))
		})
	}
}

// TestBranchMovedUnderTheCommit: another client commits between this
// upload's look at the branch head and its commit. The Hub refuses the
// stale parentCommit; the upload sees its files did not land, commits on
// the new head, and both commits survive.
func TestBranchMovedUnderTheCommit(t *testing.T) {
	ours, theirs := t.TempDir(), t.TempDir()
	hubtest.WriteDataset(t, ours, smallSpec)
	hubtest.WriteDataset(t, theirs, hubtest.DatasetSpec{DataFiles: 2, Seed: 7})
	var srv *hubtest.Server
	var other *hub.Client
	var theirCommit string
	srv = hubtest.New(t, hubtest.Options{Fault: func(r hubtest.Request) hubtest.Fault {
		if r.Kind == hubtest.KindCommit && r.N == 1 {
			res, err := other.Upload(context.Background(), theirs, hub.Options{Repo: mustRepo(t, "alice/shared"),
				StateDir: t.TempDir(), NoTag: true})
			if err != nil {
				t.Errorf("the other upload: %v", err)
			} else {
				theirCommit = res.Commit
			}
		}
		return hubtest.Fault{}
	}})
	c, logs := newClient(t, srv)
	other, _ = newClient(t, srv)
	res, err := c.Upload(context.Background(), ours, hub.Options{Repo: mustRepo(t, "alice/shared"), StateDir: t.TempDir()})
	if err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	cs := srv.Commits("alice/shared")
	if n := srv.ClientCommits("alice/shared"); n != 2 || cs[len(cs)-1].OID != res.Commit || cs[len(cs)-1].Parent != theirCommit {
		t.Fatalf("%d commits %+v; ours %s, theirs %s", n, cs, res.Commit, theirCommit)
	}
	remote, err := srv.Tree("alice/shared", "main")
	if err != nil {
		t.Fatal(err)
	}
	for p, b := range hubtest.LocalTree(t, ours) {
		if !bytes.Equal(remote[p], b) {
			t.Errorf("%s: not ours on the Hub", p)
		}
	}
	if _, ok := remote["data/chunk-000/file-001.parquet"]; !ok {
		t.Error("the other client's file was lost")
	}
	if !strings.Contains(logs.String(), "branch moved") {
		t.Errorf("no log of the rebase:\n%s", logs)
	}
}
