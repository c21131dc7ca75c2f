//go:build linux

package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serveSim starts `anther sim serve --robot reachy-mini` and returns the
// pty of its bus.
func serveSim(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(anther(t), "sim", "serve", "--robot", "reachy-mini")
	cmd.Env = testEnv(t)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	re := regexp.MustCompile(`^bus main: (\S+)$`)
	path := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				path <- m[1]
			}
		}
	}()
	select {
	case p := <-path:
		return p
	case <-time.After(30 * time.Second):
		t.Fatal("sim serve printed no bus")
	}
	return ""
}

// busCLI runs `anther bus ARGS…` and returns its stdout.
func busCLI(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(anther(t), append([]string{"bus"}, args...)...)
	cmd.Env = testEnv(t)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("anther bus %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func TestBusCLIOnSimulator(t *testing.T) {
	pts := serveSim(t)
	port := []string{"--port", pts, "--log-level", "warn"}

	var devs []struct {
		ID    int    `json:"id"`
		Model string `json:"model"`
		Num   int    `json:"model_number"`
		Baud  int    `json:"baud"`
	}
	out := busCLI(t, append([]string{"scan", "--baud", "1000000", "--json"}, port...)...)
	if err := json.Unmarshal([]byte(out), &devs); err != nil {
		t.Fatalf("scan --json: %v\n%s", err, out)
	}
	if len(devs) != 9 || devs[0].ID != 10 || devs[0].Num != 1240 || devs[8].ID != 18 || devs[8].Model != "XL330-M077-T" {
		t.Fatalf("scan: %+v", devs)
	}
	table := busCLI(t, append([]string{"scan", "--baud", "1000000", "--ids", "10-12"}, port...)...)
	if !strings.Contains(table, "ID  MODEL") || !strings.Contains(table, "11  XL330-M288-T  1200") {
		t.Errorf("scan table:\n%s", table)
	}

	read := func(id, addr, size string) string {
		return strings.TrimSpace(busCLI(t, append([]string{"read", "--id", id, "--addr", addr, "--size", size}, port...)...))
	}
	if v := read("12", "7", "1"); v != "12" {
		t.Errorf("ID register of 12 reads %q", v)
	}
	if v := read("13", "0", "2"); v != "1200" {
		t.Errorf("model number of 13 reads %q", v)
	}
	busCLI(t, append([]string{"torque", "on", "--id", "12"}, port...)...)
	if v := read("12", "64", "1"); v != "1" {
		t.Errorf("torque enable after `torque on`: %q", v)
	}
	busCLI(t, append([]string{"write", "--id", "12", "--addr", "65", "--size", "1", "1"}, port...)...)
	if v := read("12", "65", "1"); v != "1" {
		t.Errorf("LED after write: %q", v)
	}
	busCLI(t, append([]string{"reboot", "--id", "12"}, port...)...)
	if v := read("12", "64", "1"); v != "0" {
		t.Errorf("torque after reboot: %q", v)
	}
	busCLI(t, append([]string{"set-id", "--id", "18", "--new-id", "40"}, port...)...)
	if v := read("40", "7", "1"); v != "40" {
		t.Errorf("ID after set-id: %q", v)
	}
	busCLI(t, append([]string{"set-id", "--id", "40", "--new-id", "18"}, port...)...)

	// A missing motor is a clear error.
	cmd := exec.Command(anther(t), append([]string{"bus", "read", "--id", "99", "--addr", "7", "--size", "1"}, port...)...)
	cmd.Env = testEnv(t)
	if msg, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(msg), "id 99") || !strings.Contains(string(msg), "no reply") {
		t.Errorf("read of a missing motor: %v: %s", err, msg)
	}

	// The daemon on the same pty through the real-hardware path.
	d := startDaemon(t, "--robot", "reachy-mini", "--port", pts)
	state := func() (st struct {
		Lifecycle string `json:"lifecycle"`
		Joints    []struct {
			Name     string  `json:"name"`
			Position float64 `json:"position"`
		} `json:"joints"`
	}) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+d.addr+"/api/state", nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusServiceUnavailable {
			return st // the loop has not ticked yet
		}
		if err := json.Unmarshal(body, &st); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/state: %d %v: %s", resp.StatusCode, err, body)
		}
		return st
	}
	// Activate and move (on a busy machine the bus watchdog may trip:
	// reset and try again).
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := state()
		pos := -1.0
		for _, j := range st.Joints {
			if j.Name == "body_rotation" {
				pos = j.Position
			}
		}
		if len(st.Joints) != 9 && st.Lifecycle != "" {
			t.Fatalf("state has %d joints", len(st.Joints))
		}
		if st.Lifecycle == "active" && pos > 0.45 && pos < 0.55 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("body_rotation never reached 0.5 rad over the pty (lifecycle %s, at %.3f); log:\n%s", st.Lifecycle, pos, d.logText())
		}
		switch st.Lifecycle {
		case "fault", "holding", "estopped":
			d.post(t, "/api/lifecycle/reset", "")
		case "inactive":
			d.post(t, "/api/lifecycle/activate", "")
		case "active":
			d.post(t, "/api/joints/targets", `{"targets":{"body_rotation":0.5}}`)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.done:
		if err != nil {
			t.Fatalf("daemon exit: %v; log:\n%s", err, d.logText())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("daemon did not stop")
	}
	if !strings.Contains(d.logText(), "actuators halted") {
		t.Errorf("daemon did not halt the actuators; log:\n%s", d.logText())
	}
	if v := read("10", "64", "1"); v != "0" {
		t.Errorf("torque of 10 after the daemon stopped: %q", v)
	}
}
