package policy

import (
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Futex operations (linux/futex.h; x/sys/unix does not export them).
const (
	futexWait        = 0
	futexWake        = 1
	futexPrivateFlag = 128
)

// wakeWord is a futex word: the loop thread bumps it and wakes the inference
// goroutine with one non-blocking system call (no lock, no allocation); the
// inference goroutine sleeps in the kernel while the word is unchanged.
type wakeWord struct{ v atomic.Uint32 }

// load reads the word (before checking for work, to close the lost-wake race).
func (w *wakeWord) load() uint32 { return w.v.Load() }

// wake bumps the word and wakes one sleeper.
func (w *wakeWord) wake() {
	w.v.Add(1)
	_, _, _ = unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(&w.v)),
		uintptr(futexWake|futexPrivateFlag), 1, 0, 0, 0)
}

// wait sleeps while the word still reads seen, at most d.
func (w *wakeWord) wait(seen uint32, d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	_, _, _ = unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(&w.v)),
		uintptr(futexWait|futexPrivateFlag), uintptr(seen), uintptr(unsafe.Pointer(&ts)), 0, 0)
}

// setThreadNice sets the calling OS thread's niceness.
func setThreadNice(nice int) error {
	return unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), nice)
}
