package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// antherBin is the binary built once by TestMain.
var antherBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "anther-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	antherBin = filepath.Join(dir, "anther")
	if out, err := exec.Command("go", "build", "-o", antherBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building anther: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func anther(t *testing.T) string { return antherBin }

// daemon is a running `anther run` process.
type daemon struct {
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	log  bytes.Buffer
	done chan error
}

func (d *daemon) logText() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

var listenRE = regexp.MustCompile(`listening on https?://([0-9.:\[\]]+)`)

func startDaemon(t *testing.T, args ...string) *daemon {
	t.Helper()
	cmd := exec.Command(anther(t), append([]string{"run", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = testEnv(t)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			d.log.WriteString(line + "\n")
			d.mu.Unlock()
			if m := listenRE.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		d.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	select {
	case d.addr = <-addr:
	case <-time.After(30 * time.Second):
		t.Fatalf("daemon did not print its address; log:\n%s", d.logText())
	}
	return d
}

func (d *daemon) get(t *testing.T, path string, v any) int {
	t.Helper()
	resp, err := http.Get("http://" + d.addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, body)
		}
	}
	return resp.StatusCode
}

// testToken is the API token of the daemons started by tests.
const testToken = "test-token-0123456789abcdef"

// testEnv is the environment for anther subprocesses: a private config dir
// and a known token.
func testEnv(t *testing.T) []string {
	return append(os.Environ(), "ANTHER_TOKEN="+testToken, "XDG_CONFIG_HOME="+t.TempDir())
}

func (d *daemon) post(t *testing.T, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+d.addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

type apiState struct {
	Lifecycle string `json:"lifecycle"`
	Joints    []struct {
		Name     string  `json:"name"`
		Position float64 `json:"position"`
		Target   float64 `json:"target"`
	} `json:"joints"`
	Timing struct {
		Ticks uint64 `json:"ticks"`
	} `json:"timing"`
}

func TestDaemonEndToEnd(t *testing.T) {
	d := startDaemon(t, "--robot", "reachy-mini", "--sim")

	var st apiState
	deadline := time.Now().Add(10 * time.Second)
	for {
		code := d.get(t, "/api/state", &st)
		if code == http.StatusOK && st.Lifecycle == "active" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("state never became active (code %d, %+v)", code, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(st.Joints) != 9 {
		t.Fatalf("reachy-mini has %d joints in /api/state, want 9", len(st.Joints))
	}

	// Writes need the token.
	resp, err := http.Post("http://"+d.addr+"/api/estop", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("POST /api/estop without a token: %d, want 401", resp.StatusCode)
	}

	// Bad requests are refused with a message.
	for _, tc := range []struct{ body, want string }{
		{`{"targets":{"nose":0.1}}`, "unknown joint"},
		{`{"targets":{"stewart_1":3.0}}`, "outside"},
		{`{"targets":`, "bad JSON"},
		{`{"targets":{}}`, "no targets"},
	} {
		code, body := d.post(t, "/api/joints/targets", tc.body)
		if code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("POST %s: %d %s, want 400 with %q", tc.body, code, body, tc.want)
		}
	}

	code, body := d.post(t, "/api/joints/targets", `{"targets":{"body_rotation":0.6,"left_antenna":-0.4}}`)
	if code != http.StatusOK {
		t.Fatalf("POST targets: %d %s", code, body)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		d.get(t, "/api/state", &st)
		pos := map[string]float64{}
		for _, j := range st.Joints {
			pos[j.Name] = j.Position
		}
		if math.Abs(pos["body_rotation"]-0.6) < 0.01 && math.Abs(pos["left_antenna"]+0.4) < 0.01 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("joints did not converge: body_rotation %.3f left_antenna %.3f", pos["body_rotation"], pos["left_antenna"])
		}
		time.Sleep(20 * time.Millisecond)
	}

	var metrics []byte
	resp, err = http.Get("http://" + d.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(metrics, []byte("anther_loop_ticks_total")) {
		t.Fatalf("/metrics lacks anther_loop_ticks_total")
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
		t.Fatal("daemon did not exit within 10 s of SIGTERM")
	}
	log := d.logText()
	for _, want := range []string{"halting actuators", "actuators halted", "stopped cleanly"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Index(log, "actuators halted") > strings.Index(log, "stopped cleanly") {
		t.Error("actuators were not halted before the clean stop")
	}
}

func TestEStopOverHTTP(t *testing.T) {
	d := startDaemon(t, "--robot", "so101-follower", "--sim")
	var st apiState
	for deadline := time.Now().Add(10 * time.Second); st.Lifecycle != "active"; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("never active")
		}
		d.get(t, "/api/state", &st)
	}
	// The CLI reaches the daemon like an operator would.
	estop := exec.Command(anther(t), "estop", "--addr", d.addr)
	estop.Env = testEnv(t)
	out, err := estop.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "estopped") {
		t.Fatalf("anther estop: %v: %s", err, out)
	}
	// /api/state comes from the monitor, which drains the loop every 10 ms.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		d.get(t, "/api/state", &st)
		if st.Lifecycle == "estopped" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after anther estop the daemon is %s", st.Lifecycle)
		}
	}
	code, body := d.post(t, "/api/joints/targets", `{"targets":{"gripper":0.5}}`)
	if code != http.StatusConflict {
		t.Fatalf("targets while e-stopped: %d %s, want 409", code, body)
	}
	if code, body = d.post(t, "/api/lifecycle/activate", ""); code != http.StatusConflict {
		t.Fatalf("activate while e-stopped: %d %s, want 409", code, body)
	}
	if code, body = d.post(t, "/api/lifecycle/reset", ""); code != http.StatusOK {
		t.Fatalf("reset: %d %s", code, body)
	}
	act := exec.Command(anther(t), "activate", "--addr", d.addr)
	act.Env = testEnv(t)
	if out, err := act.CombinedOutput(); err != nil || !strings.Contains(string(out), "active") {
		t.Fatalf("anther activate: %v: %s", err, out)
	}
	_ = d.cmd.Process.Signal(syscall.SIGINT)
	if err := <-d.done; err != nil {
		t.Fatalf("exit after SIGINT: %v", err)
	}
}

func TestDaemonHTTPS(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	d := startDaemon(t, "--robot", "so101-follower", "--sim", "--no-cameras", "--mqtt", "off", "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.Contains(d.logText(), "listening on https://") {
		t.Fatalf("no https listen line:\n%s", d.logText())
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 5 * time.Second}
	resp, err := client.Get("https://" + d.addr + "/api/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/health over HTTPS: %d", resp.StatusCode)
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	<-d.done
}
