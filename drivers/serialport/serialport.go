// Package serialport opens and tunes the real serial ports that motor buses
// run over, using go.bug.st/serial.
//
// Open sets raw 8N1 at the requested baud rate and leaves the modem lines
// (DTR, RTS) alone: their ioctls fail on the pseudo-terminals the simulator
// uses, and the servo adapters (U2D2, Reachy Mini's USB bridge) do not need
// them. On Linux it also checks the USB-serial latency timer of FTDI-style
// adapters, whose 16 ms default would add up to 16 ms to every bus reply, and
// lowers it to 1 ms when the file is writable.
//
// The port returned by Open also has a SetBaud method (see Port), so bus
// tools that search several baud rates can find it by type assertion.
package serialport

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.bug.st/serial"
	"go.bug.st/serial/enumerator"
)

// Errors returned by Open, wrapped with the port's path. Match them with
// errors.Is.
var (
	// ErrNotFound means the device file does not exist (unplugged, wrong
	// name, or the simulator is not running).
	ErrNotFound = errors.New("serialport: no such device")
	// ErrBusy means another process has the port open.
	ErrBusy = errors.New("serialport: port busy")
	// ErrPermission means the user may not open the device (on Debian, join
	// the dialout group).
	ErrPermission = errors.New("serialport: permission denied")
	// ErrNotSerial means the file exists but is not a serial port, or it
	// refused the requested settings (for example an unsupported baud rate).
	ErrNotSerial = errors.New("serialport: not a usable serial port")
)

// Port is the concrete type behind the serial.Port that Open returns: the
// go.bug.st/serial port plus its path and a way to change the baud rate
// while keeping 8N1.
type Port struct {
	serial.Port
	path string
	baud int
}

// Path is the device path the port was opened with.
func (p *Port) Path() string { return p.path }

// Baud is the current baud rate.
func (p *Port) Baud() int { return p.baud }

// SetBaud switches the port to baud bits per second, 8N1, without touching
// the modem lines. Pending input is discarded: bytes received at the old
// rate are garbage at the new one.
func (p *Port) SetBaud(baud int) error {
	if err := p.Port.SetMode(mode(baud)); err != nil {
		return fmt.Errorf("%w: %s: set baud %d: %w", ErrNotSerial, p.path, baud, err)
	}
	p.baud = baud
	_ = p.Port.ResetInputBuffer()
	return nil
}

// mode is 8N1 at baud with the modem lines left as they are
// (InitialStatusBits nil: setting them fails on ptys).
func mode(baud int) *serial.Mode {
	return &serial.Mode{BaudRate: baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit}
}

// Open opens the serial device at path in raw 8N1 at baud bits per second,
// without touching DTR/RTS, and discards any stale input. The returned
// port's dynamic type is *Port. Errors name the path and wrap ErrNotFound,
// ErrBusy, ErrPermission or ErrNotSerial. On Linux, for a USB-serial adapter
// with a latency timer above 1 ms, Open lowers it to 1 ms if it can and logs
// a warning through slog.Default if it cannot (see TuneLatency).
func Open(path string, baud int) (serial.Port, error) {
	if baud <= 0 {
		return nil, fmt.Errorf("serialport: %s: invalid baud rate %d", path, baud)
	}
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s (is the adapter plugged in? `anther bus ports` lists candidates)", ErrNotFound, path)
		}
		if errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("%w: %s (add the user to the dialout group)", ErrPermission, path)
		}
		return nil, fmt.Errorf("serialport: %s: %w", path, err)
	}
	sp, err := serial.Open(path, mode(baud))
	if err != nil {
		return nil, classify(path, err)
	}
	p := &Port{Port: sp, path: path, baud: baud}
	_ = sp.ResetInputBuffer()
	TuneLatency(path, slog.Default())
	return p, nil
}

// classify turns a go.bug.st/serial open error into one of this package's.
func classify(path string, err error) error {
	var pe *serial.PortError
	if errors.As(err, &pe) {
		switch pe.Code() {
		case serial.PortBusy:
			return fmt.Errorf("%w: %s (another process has it open; stop it first): %w", ErrBusy, path, err)
		case serial.PermissionDenied:
			return fmt.Errorf("%w: %s (add the user to the dialout group): %w", ErrPermission, path, err)
		case serial.PortNotFound:
			return fmt.Errorf("%w: %s: %w", ErrNotFound, path, err)
		default:
			return fmt.Errorf("%w: %s: %w", ErrNotSerial, path, err)
		}
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %s: %w", ErrNotFound, path, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: %s: %w", ErrPermission, path, err)
	}
	return fmt.Errorf("serialport: %s: %w", path, err)
}

// PortInfo describes a candidate serial port.
type PortInfo struct {
	Name    string `json:"name"`              // device path, e.g. /dev/ttyACM0
	USB     bool   `json:"usb"`               // a USB-serial adapter
	VID     string `json:"vid,omitempty"`     // USB vendor ID (hex), e.g. 1a86
	PID     string `json:"pid,omitempty"`     // USB product ID (hex), e.g. 55d3
	Serial  string `json:"serial,omitempty"`  // USB serial number
	Product string `json:"product,omitempty"` // USB product string, when the OS has it
	Hint    string `json:"hint,omitempty"`    // what the adapter probably is, e.g. "Reachy Mini Lite"
}

// knownAdapters names the USB-serial adapters seen on supported robots.
var knownAdapters = map[string]string{
	"1a86:55d3": "Reachy Mini Lite (WCH USB serial)",
	"0403:6014": "ROBOTIS U2D2 (FTDI FT232H)",
	"0403:6001": "FTDI FT232R",
	"1a86:7523": "CH340 USB serial (Feetech boards)",
}

// List returns the serial ports that may hold a motor bus, sorted by name,
// with USB details where the OS provides them. Pseudo-terminals (/dev/pts/N,
// the simulator's buses) are not listed.
func List() ([]PortInfo, error) {
	details, err := enumerator.GetDetailedPortsList()
	if err != nil {
		names, err2 := serial.GetPortsList()
		if err2 != nil {
			return nil, fmt.Errorf("serialport: list ports: %w", errors.Join(err, err2))
		}
		out := make([]PortInfo, 0, len(names))
		for _, n := range names {
			out = append(out, PortInfo{Name: n})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out, nil
	}
	out := make([]PortInfo, 0, len(details))
	for _, d := range details {
		pi := PortInfo{Name: d.Name, USB: d.IsUSB, VID: strings.ToLower(d.VID), PID: strings.ToLower(d.PID),
			Serial: d.SerialNumber, Product: d.Product}
		pi.Hint = knownAdapters[pi.VID+":"+pi.PID]
		out = append(out, pi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// sysfsUSBSerial is where Linux exposes USB-serial adapters' settings.
const sysfsUSBSerial = "/sys/bus/usb-serial/devices"

// Latency reports the USB latency timer of the adapter behind path (FTDI
// and other usb-serial drivers on Linux) and whether this process may
// change it. ok is false when the port has no latency timer (ttyACM, UARTs,
// ptys, other systems).
func Latency(path string) (timer time.Duration, writable, ok bool) {
	return latency(sysfsUSBSerial, path)
}

func latency(root, path string) (time.Duration, bool, bool) {
	f := latencyFile(root, path)
	if f == "" {
		return 0, false, false
	}
	b, err := os.ReadFile(f)
	if err != nil {
		return 0, false, false
	}
	ms, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, false, false
	}
	w, err := os.OpenFile(f, os.O_WRONLY, 0)
	writable := err == nil
	if writable {
		w.Close()
	}
	return time.Duration(ms) * time.Millisecond, writable, true
}

// latencyFile is the latency_timer file for the device at path (following
// symlinks such as /dev/serial/by-id/…), or "" if it has none.
func latencyFile(root, path string) string {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	name := filepath.Base(path)
	if !strings.HasPrefix(name, "ttyUSB") {
		return ""
	}
	f := filepath.Join(root, name, "latency_timer")
	if _, err := os.Stat(f); err != nil {
		return ""
	}
	return f
}

// TuneLatency lowers the USB latency timer of the adapter behind path to
// 1 ms when it is higher and the sysfs file is writable, and logs what it
// did; when it is not writable it logs a warning with the command that fixes
// it. It returns the timer in effect (0 if the port has none). Ports without
// a latency timer are left alone silently.
func TuneLatency(path string, log *slog.Logger) time.Duration {
	return tuneLatency(sysfsUSBSerial, path, log)
}

func tuneLatency(root, path string, log *slog.Logger) time.Duration {
	if log == nil {
		log = slog.Default()
	}
	timer, writable, ok := latency(root, path)
	if !ok || timer <= time.Millisecond {
		return timer
	}
	f := latencyFile(root, path)
	if writable {
		if err := os.WriteFile(f, []byte("1\n"), 0); err == nil {
			log.Info("serialport: lowered USB latency timer", "port", path, "from", timer, "to", time.Millisecond)
			return time.Millisecond
		}
	}
	log.Warn("serialport: USB latency timer is high and not writable; every bus reply may wait this long",
		"port", path, "latency_timer", timer, "fix", "echo 1 | sudo tee "+f)
	return timer
}
