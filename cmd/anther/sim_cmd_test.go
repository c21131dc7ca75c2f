package main

import (
	"bufio"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"

	"go.bug.st/serial"

	"github.com/anther-robotics/anther/drivers/dynamixel"
)

// TestSimServe runs `anther sim serve`, reads the pty of Reachy Mini's bus
// from its output, and pings every motor through it as a host would.
func TestSimServe(t *testing.T) {
	cmd := exec.Command(anther(t), "sim", "serve", "--robot", "reachy-mini")
	cmd.Env = testEnv(t)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line <- sc.Text()
		}
		close(line)
	}()
	var path string
	select {
	case l := <-line:
		m := regexp.MustCompile(`^bus main: (/dev/pts/[0-9]+)$`).FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("first line %q", l)
		}
		path = m[1]
	case <-time.After(10 * time.Second):
		t.Fatal("no bus line")
	}
	port, err := serial.Open(path, &serial.Mode{BaudRate: 1000000})
	if err != nil {
		t.Fatal(err)
	}
	defer port.Close()
	port.SetReadTimeout(100 * time.Millisecond)
	var dec dynamixel.Decoder
	var rx [256]byte
	for id := byte(10); id <= 18; id++ {
		port.Write(dynamixel.AppendPing(nil, id))
		var got *dynamixel.Packet
		for got == nil {
			n, err := port.Read(rx[:])
			if err != nil || n == 0 {
				t.Fatalf("PING %d: n %d, err %v", id, n, err)
			}
			dec.Write(rx[:n])
			if p, err := dec.Next(); err == nil {
				got = &p
			}
		}
		if got.ID != id || got.ErrNum() != 0 {
			t.Fatalf("PING %d: %+v", id, got)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("did not stop on SIGTERM")
	}
}
