package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/anther-robotics/anther/dataset/hub/hubtest"
)

// pushEnv is a clean environment for `anther dataset push`: no HF_*
// variables from the caller, a private HOME, and extra.
func pushEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "HF_") || strings.HasPrefix(kv, "HUGGING_FACE_") || strings.HasPrefix(kv, "HOME=") ||
			strings.HasPrefix(kv, "XDG_CACHE_HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, append([]string{"HOME=" + t.TempDir()}, extra...)...)
}

func runPush(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(anther(t), append([]string{"dataset", "push"}, args...)...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

func TestDatasetPush(t *testing.T) {
	srv := hubtest.New(t, hubtest.Options{MultipartThreshold: 1 << 20, ChunkSize: 256 << 10})
	dir := t.TempDir()
	hubtest.WriteDataset(t, dir, hubtest.DatasetSpec{Videos: map[string]int64{"observation.images.front": 3 << 20}})
	env := pushEnv(t, "HF_ENDPOINT="+srv.URL, "HF_TOKEN="+srv.Token())
	state := t.TempDir()
	code, out, errOut := runPush(t, env, dir, "--repo-id", "alice/cli-push", "--private", "--state-dir", state,
		"--progress-every", "1ms")
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if !strings.Contains(out, "pushed "+dir+" to "+srv.URL+"/datasets/alice/cli-push (commit ") || !strings.Contains(out, "tagged v3.0") {
		t.Errorf("stdout: %s", out)
	}
	if !strings.Contains(errOut, "push progress") || !strings.Contains(errOut, "sent=") {
		t.Errorf("no progress lines on a non-terminal stderr:\n%s", errOut)
	}
	if strings.Contains(out+errOut, srv.Token()) {
		t.Error("the token was printed")
	}
	if _, private := srv.Exists("alice/cli-push"); !private || srv.ClientCommits("alice/cli-push") != 1 {
		t.Errorf("private %v, %d commits", private, srv.ClientCommits("alice/cli-push"))
	}
	remote, err := srv.Tree("alice/cli-push", "v3.0")
	if err != nil {
		t.Fatal(err)
	}
	for p, b := range hubtest.LocalTree(t, dir) {
		if !bytes.Equal(remote[p], b) {
			t.Errorf("%s differs on the Hub", p)
		}
	}

	// Again, as JSON: nothing to commit.
	code, out, errOut = runPush(t, env, dir, "--repo-id", "alice/cli-push", "--state-dir", state, "--json", "--no-progress")
	var res struct {
		Committed bool   `json:"committed"`
		Commit    string `json:"commit"`
		Tag       string `json:"tag"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Committed || res.Tag != "v3.0" || res.Commit == "" {
		t.Errorf("second push: exit %d, %+v\nstdout: %s\nstderr: %s", code, res, out, errOut)
	}
}

func TestDatasetPushBadInput(t *testing.T) {
	srv := hubtest.New(t, hubtest.Options{})
	dir := t.TempDir()
	hubtest.WriteDataset(t, dir, hubtest.DatasetSpec{})
	old := t.TempDir()
	hubtest.WriteDataset(t, old, hubtest.DatasetSpec{CodebaseVersion: "v2.1"})
	home := t.TempDir()
	cases := []struct {
		name string
		env  []string
		args []string
		want []string
	}{
		{"missing token", append(pushEnv(t, "HF_ENDPOINT="+srv.URL), "HOME="+home),
			[]string{dir, "--repo-id", "alice/x"},
			[]string{"no Hugging Face token", "HF_TOKEN is not set", filepath.Join(home, ".cache", "huggingface", "token")}},
		{"invalid repo id", pushEnv(t, "HF_ENDPOINT="+srv.URL, "HF_TOKEN="+srv.Token()),
			[]string{dir, "--repo-id", "alice/bad name"},
			[]string{`invalid repo id "alice/bad name"`, "name has ' '"}},
		{"repo id without namespace", pushEnv(t, "HF_ENDPOINT="+srv.URL, "HF_TOKEN="+srv.Token()),
			[]string{dir, "--repo-id", "so101"},
			[]string{"no namespace"}},
		{"invalid dataset", pushEnv(t, "HF_ENDPOINT="+srv.URL, "HF_TOKEN="+srv.Token()),
			[]string{old, "--repo-id", "alice/x"},
			[]string{"refusing to upload", `codebase_version is "v2.1", want "v3.0"`}},
		{"not a dataset", pushEnv(t, "HF_ENDPOINT="+srv.URL, "HF_TOKEN="+srv.Token()),
			[]string{t.TempDir(), "--repo-id", "alice/x"},
			[]string{"refusing to upload", "meta/ is missing", "meta/info.json is missing"}},
		{"wrong token", pushEnv(t, "HF_ENDPOINT="+srv.URL, "HF_TOKEN=hf_wrong"),
			[]string{dir, "--repo-id", "alice/x"},
			[]string{"401", "Invalid credentials"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runPush(t, tc.env, tc.args...)
			if code != 1 {
				t.Errorf("exit %d, want 1\nstdout: %s", code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			if strings.Contains(errOut, "hf_wrong") || strings.Contains(errOut, srv.Token()) {
				t.Error("the token was printed")
			}
		})
	}
	if n := srv.ClientCommits("alice/x"); n != 0 {
		t.Errorf("%d commits from bad input", n)
	}
}

func TestDatasetPushProgressBarOnTerminal(t *testing.T) {
	srv := hubtest.New(t, hubtest.Options{Fault: func(r hubtest.Request) hubtest.Fault {
		if r.Kind == hubtest.KindPut {
			return hubtest.Fault{Delay: 150 * time.Millisecond}
		}
		return hubtest.Fault{}
	}})
	dir := t.TempDir()
	hubtest.WriteDataset(t, dir, hubtest.DatasetSpec{DataBytes: 2 << 20})
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer ptmx.Close()
	cmd := exec.Command(anther(t), "dataset", "push", dir, "--repo-id", "alice/tty", "--state-dir", t.TempDir(), "--concurrency", "1")
	cmd.Env = pushEnv(t, "HF_ENDPOINT="+srv.URL, "HF_TOKEN="+srv.Token())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, tty
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	var screen bytes.Buffer
	copied := make(chan struct{})
	go func() { _, _ = io.Copy(&screen, ptmx); close(copied) }()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("push: %v\n%s", err, screen.String())
	}
	ptmx.Close()
	<-copied
	s := screen.String()
	if !strings.Contains(s, "B/s") || !strings.Contains(s, "%") || !strings.Contains(s, "files") {
		t.Errorf("no progress bar on the terminal:\n%q", s)
	}
	if strings.Contains(s, `msg="push progress"`) {
		t.Errorf("log lines instead of a bar on a terminal:\n%s", s)
	}
	if !strings.Contains(out.String(), "pushed ") {
		t.Errorf("stdout: %s", out.String())
	}
}

// record --push records on the simulator, then uploads the dataset it made.
func TestRecordPush(t *testing.T) {
	srv := hubtest.New(t, hubtest.Options{})
	dir := filepath.Join(t.TempDir(), "so101_push")
	cmd := exec.Command(anther(t), "record", "--robot", "so101-follower", "--sim", "--no-cameras", "--dataset", dir,
		"--repo-id", "alice/recorded", "--task", "wave", "--episodes", "1", "--episode-time", "1s", "--reset-time", "0s",
		"--display", "off", "--push")
	cmd.Env = append(pushEnv(t, "HF_ENDPOINT="+srv.URL, "HF_TOKEN="+srv.Token()), "ANTHER_TOKEN="+testToken, "XDG_CONFIG_HOME="+t.TempDir())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("record --push: %v\nstdout: %s\nstderr: %s", err, out.String(), errb.String())
	}
	if srv.ClientCommits("alice/recorded") != 1 {
		t.Fatalf("%d commits on the Hub\nstdout: %s\nstderr: %s", srv.ClientCommits("alice/recorded"), out.String(), errb.String())
	}
	remote, err := srv.Tree("alice/recorded", "v3.0")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"meta/info.json", "data/chunk-000/file-000.parquet", "meta/episodes/chunk-000/file-000.parquet"} {
		if len(remote[p]) == 0 {
			t.Errorf("%s missing on the Hub (have %d files)", p, len(remote))
		}
	}
}
