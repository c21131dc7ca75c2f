// Package ort runs policies with ONNX Runtime (github.com/yalue/onnxruntime_go
// over the shared library scripts/ort.sh installs): it finds and loads the
// library, and opens sessions whose input and output tensors are allocated
// once, so that each Run allocates nothing in Go. A Session implements
// policy.Session.
//
// ONNX Runtime keeps one environment per process: open one Runtime, share it,
// and Close it last.
package ort

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	onnxrt "github.com/yalue/onnxruntime_go"
)

// The library scripts/ort.sh installs (keep in step with it).
const (
	// LibraryVersion is the ONNX Runtime release anther is tested with.
	LibraryVersion = "1.30.0"
	// LibrarySHA256 is the checksum of libonnxruntime.so.1 from
	// onnxruntime-node@1.30.0 (bin/napi-v6/linux/x64).
	LibrarySHA256 = "ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23"
	// EnvVar names the environment variable that points to the library.
	EnvVar = "ORT_LIB"
)

// ErrNoLibrary is wrapped when the ONNX Runtime library cannot be found.
var ErrNoLibrary = errors.New("policy: ONNX Runtime library not found")

// CachePath is where scripts/ort.sh keeps the library:
// $XDG_CACHE_HOME/anther/onnxruntime-VERSION/libonnxruntime.so.1 (XDG_CACHE_HOME
// defaults to ~/.cache).
func CachePath() (string, error) {
	dir := os.Getenv("XDG_CACHE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("policy: no cache folder: %w", err)
		}
		dir = filepath.Join(home, ".cache")
	}
	return filepath.Join(dir, "anther", "onnxruntime-"+LibraryVersion, "libonnxruntime.so.1"), nil
}

// FindLibrary returns the ONNX Runtime shared library to load and where the
// choice came from: explicit (a --ort-lib flag) if set, else $ORT_LIB, else
// the cache folder scripts/ort.sh fills. The file must exist.
func FindLibrary(explicit string) (path, source string, err error) {
	check := func(p, src string) (string, string, error) {
		if _, err := os.Stat(p); err != nil {
			return "", "", fmt.Errorf("%w: %s %s: %w", ErrNoLibrary, src, p, err)
		}
		return p, src, nil
	}
	if explicit != "" {
		return check(explicit, "flag")
	}
	if p := os.Getenv(EnvVar); p != "" {
		return check(p, "$"+EnvVar)
	}
	p, err := CachePath()
	if err != nil {
		return "", "", err
	}
	if _, err := os.Stat(p); err != nil {
		return "", "", fmt.Errorf("%w: not in the cache (%s); run scripts/ort.sh (make deps) or set %s", ErrNoLibrary, p, EnvVar)
	}
	return p, "cache", nil
}

// Runtime is the process's ONNX Runtime environment. Sessions opened from it
// must be closed before it.
type Runtime struct {
	lib, source string
	log         *slog.Logger
	mu          sync.Mutex
	closed      bool
}

// Open loads the ONNX Runtime library (found with FindLibrary(lib)) and
// creates the environment. Only one Runtime can be open in a process.
func Open(lib string, log *slog.Logger) (*Runtime, error) {
	if log == nil {
		log = slog.Default()
	}
	path, source, err := FindLibrary(lib)
	if err != nil {
		return nil, err
	}
	if onnxrt.IsInitialized() {
		return nil, errors.New("policy: ONNX Runtime is already open in this process (open one Runtime and share it)")
	}
	onnxrt.SetSharedLibraryPath(path)
	if err := onnxrt.InitializeEnvironment(onnxrt.WithLogLevelError()); err != nil {
		return nil, fmt.Errorf("policy: load ONNX Runtime from %s (%s): %w", path, source, err)
	}
	rt := &Runtime{lib: path, source: source, log: log}
	log.Debug("onnx runtime loaded", "lib", path, "from", source, "version", onnxrt.GetVersion())
	return rt, nil
}

// Library is the path of the loaded library and where it was found
// ("flag", "$ORT_LIB" or "cache").
func (rt *Runtime) Library() (path, source string) { return rt.lib, rt.source }

// Version is the loaded library's version string, e.g. "1.30.0".
func (rt *Runtime) Version() string { return onnxrt.GetVersion() }

// Close destroys the environment; idempotent.
func (rt *Runtime) Close() error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed {
		return nil
	}
	rt.closed = true
	if err := onnxrt.DestroyEnvironment(); err != nil {
		return fmt.Errorf("policy: close ONNX Runtime: %w", err)
	}
	return nil
}

func (rt *Runtime) check() error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed {
		return errors.New("policy: ONNX Runtime is closed")
	}
	return nil
}
