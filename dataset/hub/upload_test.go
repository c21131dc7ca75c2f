package hub_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anther-robotics/anther/dataset/hub"
	"github.com/anther-robotics/anther/dataset/hub/hubtest"
)

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newClient returns a client of srv with quick retries, and its log.
func newClient(t testing.TB, srv *hubtest.Server) (*hub.Client, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	c, err := hub.NewClient(hub.Config{
		Endpoint: srv.URL,
		Token:    hub.NewToken(srv.Token(), "test"),
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Retry:    hub.RetryPolicy{MaxRetries: 6, BaseDelay: time.Millisecond, MaxDelay: 20 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if strings.Contains(logs.String(), srv.Token()) {
			t.Errorf("the token appears in the log")
		}
	})
	return c, logs
}

func mustRepo(t testing.TB, s string) hub.RepoID {
	t.Helper()
	r, err := hub.ParseRepoID(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// smallSpec is a dataset with one basic-transfer data file and one video
// large enough for multipart under multipartOpts.
var smallSpec = hubtest.DatasetSpec{Episodes: 3, DataBytes: 300 << 10,
	Videos: map[string]int64{"observation.images.front": 2<<20 + 12345}}

var multipartOpts = hubtest.Options{MultipartThreshold: 1 << 20, ChunkSize: 256 << 10}

// checkTree compares the remote tree at rev with the local dataset byte
// for byte; README.md must be the generated card unless the dataset has
// its own.
func checkTree(t *testing.T, srv *hubtest.Server, repo, rev, dir string) {
	t.Helper()
	remote, err := srv.Tree(repo, rev)
	if err != nil {
		t.Fatal(err)
	}
	local := hubtest.LocalTree(t, dir)
	if _, ok := local["README.md"]; !ok {
		card, ok := remote["README.md"]
		if !ok {
			t.Fatalf("no README.md card on the Hub")
		}
		info := local["meta/info.json"]
		if want := hub.Card(mustRepo(t, repo), info, hub.CardOptions{}); !bytes.Equal(card, want) {
			t.Errorf("README.md on the Hub is not the generated card")
		}
		delete(remote, "README.md")
	}
	delete(remote, ".gitattributes")
	var diffs []string
	for p, b := range local {
		r, ok := remote[p]
		switch {
		case !ok:
			diffs = append(diffs, "missing on the Hub: "+p)
		case !bytes.Equal(r, b):
			diffs = append(diffs, fmt.Sprintf("%s differs: %d bytes on the Hub, %d local", p, len(r), len(b)))
		}
	}
	for p := range remote {
		if _, ok := local[p]; !ok {
			diffs = append(diffs, "extra on the Hub: "+p)
		}
	}
	sort.Strings(diffs)
	for _, d := range diffs {
		t.Error(d)
	}
}

func TestUploadFullProtocol(t *testing.T) {
	srv := hubtest.New(t, multipartOpts)
	dir := t.TempDir()
	paths := hubtest.WriteDataset(t, dir, smallSpec)
	c, logs := newClient(t, srv)
	var last hub.Progress
	var calls int
	res, err := c.Upload(context.Background(), dir, hub.Options{
		Repo: mustRepo(t, "alice/so101-pick"), StateDir: t.TempDir(),
		OnProgress: func(p hub.Progress) { last = p; calls++ }, ProgressEvery: time.Millisecond,
	})
	if err != nil {
		t.Fatalf("upload: %v\nlog:\n%s", err, logs)
	}
	checkTree(t, srv, "alice/so101-pick", "main", dir)
	if n := srv.ClientCommits("alice/so101-pick"); n != 1 {
		t.Errorf("%d commits, want 1", n)
	}
	commits := srv.Commits("alice/so101-pick")
	head := commits[len(commits)-1]
	if res.Commit != head.OID || !res.Committed || res.Tag != "v3.0" {
		t.Errorf("result %+v, head %s", res, head.OID)
	}
	if got := srv.Tags("alice/so101-pick")["v3.0"]; got != head.OID {
		t.Errorf("tag v3.0 → %q, want %s", got, head.OID)
	}
	if res.Files != len(paths)+1 || res.Changed != len(paths)+1 {
		t.Errorf("files %d changed %d, want %d (dataset + card)", res.Files, res.Changed, len(paths)+1)
	}
	// 4 parquet files and the MP4 go through LFS; the video in 9 parts.
	if res.LFSUploaded != 4 || srv.Count(hubtest.KindPut) != 3 || srv.Count(hubtest.KindPart) != 9 ||
		srv.Count(hubtest.KindComplete) != 1 || srv.Count(hubtest.KindVerify) != 4 {
		t.Errorf("lfs uploaded %d; puts %d, parts %d, completions %d, verifies %d",
			res.LFSUploaded, srv.Count(hubtest.KindPut), srv.Count(hubtest.KindPart),
			srv.Count(hubtest.KindComplete), srv.Count(hubtest.KindVerify))
	}
	for oid, n := range srv.Uploads("alice/so101-pick") {
		if n != 1 {
			t.Errorf("object %s uploaded %d times", oid, n)
		}
	}
	if exists, private := srv.Exists("alice/so101-pick"); !exists || private {
		t.Errorf("exists %v private %v", exists, private)
	}
	if calls == 0 || last.Phase != hub.PhaseDone && last.Phase != hub.PhaseTag || last.UploadDone != last.UploadTotal ||
		last.UploadTotal != res.BytesUploaded || last.HashDone != last.HashTotal {
		t.Errorf("last progress %+v (calls %d), result %+v", last, calls, res)
	}
	// The request sequence of huggingface_hub's upload_folder.
	var kinds []string
	for _, r := range srv.Requests() {
		if len(kinds) == 0 || kinds[len(kinds)-1] != r.Kind {
			kinds = append(kinds, r.Kind)
		}
	}
	got := strings.Join(kinds, " ")
	for _, want := range []string{"create-repo revision preupload", "commit refs tag"} {
		if !strings.Contains(got, want) {
			t.Errorf("request sequence %q lacks %q", got, want)
		}
	}
}

func TestUploadAgainMakesNoCommit(t *testing.T) {
	srv := hubtest.New(t, multipartOpts)
	dir := t.TempDir()
	hubtest.WriteDataset(t, dir, smallSpec)
	c, _ := newClient(t, srv)
	opt := hub.Options{Repo: mustRepo(t, "alice/again"), StateDir: t.TempDir()}
	first, err := c.Upload(context.Background(), dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	puts := srv.Count(hubtest.KindPut) + srv.Count(hubtest.KindPart)
	second, err := c.Upload(context.Background(), dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	if second.Committed || second.Commit != first.Commit || second.Changed != 0 || second.BytesHashed != 0 {
		t.Errorf("second upload %+v, first commit %s", second, first.Commit)
	}
	if n := srv.ClientCommits("alice/again"); n != 1 {
		t.Errorf("%d commits, want 1", n)
	}
	if p := srv.Count(hubtest.KindPut) + srv.Count(hubtest.KindPart); p != puts {
		t.Errorf("second upload sent %d PUTs", p-puts)
	}
	if srv.Count(hubtest.KindTag) != 1 {
		t.Errorf("tag created %d times, want once", srv.Count(hubtest.KindTag))
	}
	// A fresh state dir: everything is hashed again, nothing is sent.
	third, err := c.Upload(context.Background(), dir, hub.Options{Repo: opt.Repo, StateDir: t.TempDir()})
	if err != nil || third.Committed || third.BytesHashed == 0 || third.BytesUploaded != 0 {
		t.Errorf("third upload %+v, %v", third, err)
	}
}

func TestUploadNewEpisodesCommitsOnlyChanges(t *testing.T) {
	srv := hubtest.New(t, multipartOpts)
	dir := t.TempDir()
	hubtest.WriteDataset(t, dir, smallSpec)
	c, _ := newClient(t, srv)
	opt := hub.Options{Repo: mustRepo(t, "alice/grows"), StateDir: t.TempDir()}
	if _, err := c.Upload(context.Background(), dir, opt); err != nil {
		t.Fatal(err)
	}
	// Two more episodes: a second data file, and info.json changes.
	spec := smallSpec
	spec.Episodes, spec.DataFiles = 5, 2
	hubtest.WriteDataset(t, dir, spec)
	// Keep the first data file and video as they were uploaded.
	res, err := c.Upload(context.Background(), dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	checkTree(t, srv, "alice/grows", "main", dir)
	commits := srv.Commits("alice/grows")
	if len(commits) != 3 {
		t.Fatalf("%d commits, want initial + 2", len(commits))
	}
	if !res.Committed || res.Changed == 0 || res.Changed == res.Files {
		t.Errorf("second upload %+v: want only the changed files", res)
	}
	if got := srv.Tags("alice/grows")["v3.0"]; got != commits[2].OID {
		t.Errorf("tag v3.0 → %s, want the new head %s", got, commits[2].OID)
	}
}

func TestUploadPrivateBranch(t *testing.T) {
	srv := hubtest.New(t, hubtest.Options{})
	dir := t.TempDir()
	hubtest.WriteDataset(t, dir, hubtest.DatasetSpec{})
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("# my own card\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, _ := newClient(t, srv)
	res, err := c.Upload(context.Background(), dir, hub.Options{Repo: mustRepo(t, "lab/arm-data"), Private: true,
		Branch: "feature/v2", StateDir: t.TempDir(), Message: "first take"})
	if err != nil {
		t.Fatal(err)
	}
	if _, private := srv.Exists("lab/arm-data"); !private {
		t.Error("repo is not private")
	}
	br := srv.Branches("lab/arm-data")
	if br["feature/v2"] != res.Commit || br["main"] == res.Commit {
		t.Errorf("branches %v, commit %s", br, res.Commit)
	}
	checkTree(t, srv, "lab/arm-data", "feature/v2", dir)
	cs := srv.Commits("lab/arm-data")
	if cs[len(cs)-1].Summary != "first take" {
		t.Errorf("summary %q", cs[len(cs)-1].Summary)
	}
	if srv.Tags("lab/arm-data")["v3.0"] != res.Commit {
		t.Errorf("tags %v", srv.Tags("lab/arm-data"))
	}
	if !strings.HasSuffix(res.URL, "/datasets/lab/arm-data/tree/feature%2Fv2") {
		t.Errorf("url %s", res.URL)
	}
}

func TestUploadMovesAnExistingTag(t *testing.T) {
	srv := hubtest.New(t, hubtest.Options{})
	dir := t.TempDir()
	hubtest.WriteDataset(t, dir, hubtest.DatasetSpec{})
	c, _ := newClient(t, srv)
	opt := hub.Options{Repo: mustRepo(t, "alice/tagged"), StateDir: t.TempDir()}
	if _, err := c.Upload(context.Background(), dir, opt); err != nil {
		t.Fatal(err)
	}
	hubtest.WriteDataset(t, dir, hubtest.DatasetSpec{Episodes: 4, Seed: 9})
	res, err := c.Upload(context.Background(), dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	if srv.Tags("alice/tagged")["v3.0"] != res.Commit || srv.Count(hubtest.KindDeleteTag) != 1 {
		t.Errorf("tags %v, deletes %d, commit %s", srv.Tags("alice/tagged"), srv.Count(hubtest.KindDeleteTag), res.Commit)
	}
}

func TestUploadRefusesInvalidDataset(t *testing.T) {
	cases := []struct {
		name    string
		corrupt func(dir string) error
		why     string
	}{
		{"no info.json", func(d string) error { return os.Remove(filepath.Join(d, "meta", "info.json")) }, "meta/info.json is missing"},
		{"v2.1", func(d string) error { return rewriteInfo(d, `"v3.0"`, `"v2.1"`) }, `codebase_version is "v2.1", want "v3.0"`},
		{"no episodes", func(d string) error { return rewriteInfo(d, `"total_episodes": 2`, `"total_episodes": 0`) }, "total_episodes is 0"},
		{"broken json", func(d string) error { return rewriteInfo(d, `{`, `[`) }, "meta/info.json"},
		{"no data", func(d string) error { return os.RemoveAll(filepath.Join(d, "data")) }, "data/ is missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := hubtest.New(t, hubtest.Options{})
			dir := t.TempDir()
			hubtest.WriteDataset(t, dir, hubtest.DatasetSpec{})
			if err := tc.corrupt(dir); err != nil {
				t.Fatal(err)
			}
			c, _ := newClient(t, srv)
			_, err := c.Upload(context.Background(), dir, hub.Options{Repo: mustRepo(t, "alice/x"), StateDir: t.TempDir()})
			if !errors.Is(err, hub.ErrInvalidDataset) || !strings.Contains(err.Error(), tc.why) {
				t.Errorf("err = %v, want ErrInvalidDataset saying %q", err, tc.why)
			}
			if n := len(srv.Requests()); n != 0 {
				t.Errorf("%d requests made for an invalid dataset", n)
			}
		})
	}
	t.Run("validator", func(t *testing.T) {
		srv := hubtest.New(t, hubtest.Options{})
		dir := t.TempDir()
		hubtest.WriteDataset(t, dir, hubtest.DatasetSpec{})
		c, _ := newClient(t, srv)
		v := hub.ValidatorFunc(func(_ context.Context, d string) error {
			return fmt.Errorf("episode 1: 149 video frames for 150 rows")
		})
		_, err := c.Upload(context.Background(), dir, hub.Options{Repo: mustRepo(t, "alice/x"), StateDir: t.TempDir(), Validator: v})
		if !errors.Is(err, hub.ErrInvalidDataset) || !strings.Contains(err.Error(), "149 video frames") {
			t.Errorf("err = %v", err)
		}
		if n := len(srv.Requests()); n != 0 {
			t.Errorf("%d requests made", n)
		}
	})
}

func rewriteInfo(dir, old, new string) error {
	p := filepath.Join(dir, "meta", "info.json")
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if !bytes.Contains(b, []byte(old)) {
		return fmt.Errorf("%q not in info.json", old)
	}
	return os.WriteFile(p, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644)
}

func TestWrongTokenFailsFast(t *testing.T) {
	srv := hubtest.New(t, hubtest.Options{})
	dir := t.TempDir()
	hubtest.WriteDataset(t, dir, hubtest.DatasetSpec{})
	c, err := hub.NewClient(hub.Config{Endpoint: srv.URL, Token: hub.NewToken("hf_wrong", "HF_TOKEN")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Upload(context.Background(), dir, hub.Options{Repo: mustRepo(t, "alice/x"), StateDir: t.TempDir()})
	var he *hub.HTTPError
	if !errors.As(err, &he) || he.Status != 401 || hub.IsTransient(err) || !strings.Contains(err.Error(), "Invalid credentials") {
		t.Errorf("err = %v", err)
	}
	if strings.Contains(err.Error(), "hf_wrong") {
		t.Error("the error shows the token")
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("%d requests, want 1 (no retries of a 401)", n)
	}
}

func TestDatasetChangedDuringUpload(t *testing.T) {
	dir := t.TempDir()
	hubtest.WriteDataset(t, dir, smallSpec)
	var once sync.Once
	opts := multipartOpts
	opts.OnPutBytes = func(int64) {
		once.Do(func() {
			// A recorder rewrites info.json mid-upload.
			_ = rewriteInfo(dir, `"total_episodes": 3`, `"total_episodes": 4`)
			future := time.Now().Add(time.Hour)
			_ = os.Chtimes(filepath.Join(dir, "meta", "info.json"), future, future)
		})
	}
	srv := hubtest.New(t, opts)
	c, _ := newClient(t, srv)
	opt := hub.Options{Repo: mustRepo(t, "alice/live"), StateDir: t.TempDir()}
	_, err := c.Upload(context.Background(), dir, opt)
	if !errors.Is(err, hub.ErrDatasetChanged) || !hub.IsTransient(err) {
		t.Fatalf("err = %v, want ErrDatasetChanged", err)
	}
	if n := srv.ClientCommits("alice/live"); n != 0 {
		t.Fatalf("%d commits of a changing dataset", n)
	}
	if _, err := c.Upload(context.Background(), dir, opt); err != nil {
		t.Fatal(err)
	}
	checkTree(t, srv, "alice/live", "main", dir)
	if n := srv.ClientCommits("alice/live"); n != 1 {
		t.Errorf("%d commits, want 1", n)
	}
}
