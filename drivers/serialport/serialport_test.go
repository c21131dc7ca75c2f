package serialport

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair and returns the master and the
// slave's path.
func openPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no ptys here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	master := os.NewFile(uintptr(fd), "ptmx")
	t.Cleanup(func() { master.Close() })
	return master, "/dev/pts/" + strconv.Itoa(n)
}

func TestOpenErrors(t *testing.T) {
	_, err := Open("/dev/does-not-exist-anther", 1000000)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "/dev/does-not-exist-anther") {
		t.Errorf("missing device: %v", err)
	}
	f := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Open(f, 1000000)
	if !errors.Is(err, ErrNotSerial) || !strings.Contains(err.Error(), f) {
		t.Errorf("plain file: %v", err)
	}
	if _, err := Open(f, 0); err == nil {
		t.Error("baud 0 accepted")
	}
}

func TestOpenPTY(t *testing.T) {
	master, slave := openPTY(t)
	p, err := Open(slave, 1000000)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sp, ok := p.(*Port)
	if !ok || sp.Path() != slave || sp.Baud() != 1000000 {
		t.Fatalf("port %T %+v", p, p)
	}
	// Raw 8N1: every byte value passes unchanged both ways.
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	if _, err := master.Write(all); err != nil {
		t.Fatal(err)
	}
	if err := p.SetReadTimeout(200 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	var got []byte
	buf := make([]byte, 512)
	for len(got) < len(all) {
		n, err := p.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatalf("timeout after %d bytes", len(got))
		}
		got = append(got, buf[:n]...)
	}
	if !bytes.Equal(got, all) {
		t.Fatalf("bytes changed on the way: % x", got)
	}
	if _, err := p.Write([]byte{0xFF, 0xFF, 0xFD, 0x00, 0x0A, 0x0D}); err != nil {
		t.Fatal(err)
	}
	back := make([]byte, 6)
	if _, err := io.ReadFull(master, back); err != nil || !bytes.Equal(back, []byte{0xFF, 0xFF, 0xFD, 0x00, 0x0A, 0x0D}) {
		t.Fatalf("master read % x %v", back, err)
	}
	// A read with nothing to read times out with (0, nil).
	_ = p.SetReadTimeout(5 * time.Millisecond)
	if n, err := p.Read(buf); n != 0 || err != nil {
		t.Errorf("empty read: %d %v", n, err)
	}
	for _, b := range []int{57600, 4000000, 4500000} {
		if err := sp.SetBaud(b); err != nil {
			t.Errorf("SetBaud(%d) on a pty: %v", b, err)
		}
	}
	if os.Geteuid() != 0 {
		if _, err := Open(slave, 1000000); !errors.Is(err, ErrBusy) {
			t.Errorf("second open: %v", err)
		}
	}
}

func TestLatencyTimer(t *testing.T) {
	root := t.TempDir()
	dev := filepath.Join(root, "dev")
	if err := os.MkdirAll(filepath.Join(root, "sys", "ttyUSB3"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dev, 0o755); err != nil {
		t.Fatal(err)
	}
	timer := filepath.Join(root, "sys", "ttyUSB3", "latency_timer")
	if err := os.WriteFile(timer, []byte("16\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dev, "ttyUSB3"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dev, "usb-ROBOTIS_U2D2-if00-port0")
	if err := os.Symlink(filepath.Join(dev, "ttyUSB3"), link); err != nil {
		t.Fatal(err)
	}
	lt, w, ok := latency(filepath.Join(root, "sys"), link)
	if !ok || lt != 16*time.Millisecond || !w {
		t.Fatalf("latency %v writable %v ok %v", lt, w, ok)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	if got := tuneLatency(filepath.Join(root, "sys"), link, log); got != time.Millisecond {
		t.Errorf("tuned to %v", got)
	}
	if b, _ := os.ReadFile(timer); strings.TrimSpace(string(b)) != "1" {
		t.Errorf("latency_timer now %q", b)
	}
	if !strings.Contains(logs.String(), "lowered USB latency timer") {
		t.Errorf("log: %s", logs.String())
	}
	// Not writable: a warning with the fix (only meaningful without root).
	if os.Geteuid() != 0 {
		os.WriteFile(timer, []byte("16\n"), 0o644)
		os.Chmod(timer, 0o444)
		logs.Reset()
		if got := tuneLatency(filepath.Join(root, "sys"), link, log); got != 16*time.Millisecond {
			t.Errorf("unwritable: %v", got)
		}
		if !strings.Contains(logs.String(), "sudo tee") {
			t.Errorf("no warning: %s", logs.String())
		}
	}
	// ttyACM and ptys have no latency timer.
	if _, _, ok := latency(filepath.Join(root, "sys"), "/dev/ttyACM0"); ok {
		t.Error("ttyACM0 has a latency timer?")
	}
}

func TestList(t *testing.T) {
	ports, err := List()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ports {
		if strings.HasPrefix(p.Name, "/dev/pts/") {
			t.Errorf("pty listed: %s", p.Name)
		}
	}
}
