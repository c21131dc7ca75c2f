package main

import (
	"bufio"
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anther-robotics/anther/dataset"
)

// TestRecordCrashKill9 kills a real `anther record` with SIGKILL during
// its third episode: the dataset must validate with episodes 0 and 1
// intact, and the next run must remove the partial episode, say so, and
// record on.
func TestRecordCrashKill9(t *testing.T) {
	if err := dataset.FFmpegAvailable(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "anther")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	root := filepath.Join(t.TempDir(), "crash")
	args := func(episodes string) []string {
		return []string{"record", "--robot", "so101-follower", "--sim", "--dataset", root, "--repo-id", "anther/crash",
			"--task", "wave", "--episodes", episodes, "--episode-time", "1500ms", "--reset-time", "200ms", "--fps", "30",
			"--cameras", "2", "--camera-size", "320x240", "--codec", "h264", "--display", "off", "--rate", "200"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args("5")...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	var logged []string
	killed := false
	for sc.Scan() {
		line := sc.Text()
		logged = append(logged, line)
		if strings.Contains(line, "episode started") && strings.Contains(line, "episode=2") {
			time.Sleep(700 * time.Millisecond) // mid-episode: frames encoded, nothing saved
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
			break
		}
	}
	_ = cmd.Wait()
	if !killed {
		t.Fatalf("episode 2 never started:\n%s", strings.Join(logged, "\n"))
	}

	rep, err := dataset.Validate(ctx, root, dataset.ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Episodes != 2 {
		t.Fatalf("after kill -9: %d episodes, errors %v", rep.Episodes, rep.Errors)
	}
	if p := dataset.PendingRecovery(root); len(p) != 1 || !strings.Contains(p[0], "partial episode 2") {
		t.Errorf("pending after the kill: %q", p)
	}
	t.Logf("after kill -9: valid, 2 episodes, %d frames; warnings %q", rep.Frames, rep.Warnings)

	var out, errb bytes.Buffer
	again := exec.CommandContext(ctx, bin, args("1")...)
	again.Stdout, again.Stderr = &out, &errb
	if err := again.Run(); err != nil {
		t.Fatalf("restart: %v\n%s", err, errb.String())
	}
	if !strings.Contains(errb.String(), "removed partial episode 2") {
		t.Errorf("restart did not say it removed the partial episode:\n%s", errb.String())
	}
	rep, err = dataset.Validate(ctx, root, dataset.ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Episodes != 3 {
		t.Fatalf("after the restart: %d episodes, errors %v", rep.Episodes, rep.Errors)
	}
	t.Logf("restart: %s", strings.TrimSpace(out.String()))

	// The dataset tools read it.
	var buf bytes.Buffer
	a := &app{stdout: &buf, stderr: &buf, logLevel: "error"}
	for _, c := range a.datasetToolCmds() {
		buf.Reset()
		c.SetArgs([]string{root})
		c.SetOut(&buf)
		if err := c.ExecuteContext(ctx); err != nil {
			t.Errorf("dataset %s: %v\n%s", c.Name(), err, buf.String())
		}
		if buf.Len() == 0 {
			t.Errorf("dataset %s printed nothing", c.Name())
		}
	}
}
