package hub

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Phase names a stage of an upload.
type Phase string

// The phases of [Client.Upload], in order.
const (
	PhasePrepare Phase = "prepare" // validate, scan, create repo, preupload
	PhaseUpload  Phase = "upload"  // hash (streamed, once) and send LFS objects
	PhaseCommit  Phase = "commit"
	PhaseTag     Phase = "tag"
	PhaseDone    Phase = "done"
)

// Progress is a snapshot of an upload. Totals grow as the upload learns
// what it has to do (the bytes to send are known once the Hub says which
// objects it lacks).
type Progress struct {
	Phase       Phase         `json:"phase"`
	Files       int           `json:"files"`        // files in the dataset (with the card)
	FilesDone   int           `json:"files_done"`   // settled: unchanged, already stored, or sent
	HashTotal   int64         `json:"hash_total"`   // bytes of LFS files
	HashDone    int64         `json:"hash_done"`    // of which hashed (or found in the journal)
	UploadTotal int64         `json:"upload_total"` // bytes the Hub lacks
	UploadDone  int64         `json:"upload_done"`  // of which sent
	Elapsed     time.Duration `json:"elapsed_ns"`
}

// meter counts an upload's progress (safe for concurrent use) and applies
// the optional rate limit.
type meter struct {
	start                   time.Time
	phase                   atomic.Value // Phase
	files, filesDone        atomic.Int64
	hashTotal, hashDone     atomic.Int64
	uploadTotal, uploadDone atomic.Int64
	lim                     *limiter
}

func newMeter(bytesPerSec int64) *meter {
	m := &meter{start: time.Now()}
	m.phase.Store(PhasePrepare)
	if bytesPerSec > 0 {
		m.lim = &limiter{rate: float64(bytesPerSec), burst: float64(max(bytesPerSec/4, 256<<10)), last: time.Now()}
		m.lim.tokens = m.lim.burst
	}
	return m
}

func (m *meter) setPhase(p Phase) { m.phase.Store(p) }

func (m *meter) uploaded(n int64) { m.uploadDone.Add(n) }

func (m *meter) snapshot() Progress {
	return Progress{
		Phase: m.phase.Load().(Phase), Files: int(m.files.Load()), FilesDone: int(m.filesDone.Load()),
		HashTotal: m.hashTotal.Load(), HashDone: m.hashDone.Load(),
		UploadTotal: m.uploadTotal.Load(), UploadDone: m.uploadDone.Load(), Elapsed: time.Since(m.start),
	}
}

// report calls fn with a snapshot every interval until the returned stop
// function is called; stop makes one last call and waits for the
// reporter to end.
func (m *meter) report(fn func(Progress), every time.Duration) (stop func()) {
	if fn == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				fn(m.snapshot())
				return
			case <-t.C:
				fn(m.snapshot())
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-finished
		})
	}
}

// limiter is a token bucket shared by every reader of one upload.
type limiter struct {
	mu     sync.Mutex
	rate   float64 // bytes per second
	burst  float64
	tokens float64
	last   time.Time
}

// wait takes n tokens, sleeping until they are there.
func (l *limiter) wait(ctx context.Context, n int) error {
	l.mu.Lock()
	now := time.Now()
	l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	l.tokens -= float64(n)
	var d time.Duration
	if l.tokens < 0 {
		d = time.Duration(-l.tokens / l.rate * float64(time.Second))
	}
	l.mu.Unlock()
	if d <= 0 {
		return nil
	}
	return sleep(ctx, d)
}

// errReaderStopped is returned by a meterReader read after stop.
var errReaderStopped = errors.New("hub: request body abandoned")

// meterReader counts (and rate-limits) the bytes read through it. After
// stop, reads fail and no longer count, so a transport still draining an
// abandoned request body cannot skew the totals.
type meterReader struct {
	r      io.Reader
	ctx    context.Context
	m      *meter
	onRead func(n int) // may be nil

	mu      sync.Mutex
	n       int64
	stopped bool
}

// Read implements io.Reader.
func (r *meterReader) Read(p []byte) (int, error) {
	if r.m != nil && r.m.lim != nil && len(p) > 64<<10 {
		p = p[:64<<10]
	}
	n, err := r.r.Read(p)
	if n > 0 && r.m != nil && r.m.lim != nil {
		if werr := r.m.lim.wait(r.ctx, n); werr != nil {
			return 0, werr
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return 0, errReaderStopped
	}
	r.n += int64(n)
	if n > 0 {
		if r.m != nil {
			r.m.uploaded(int64(n))
		}
		if r.onRead != nil {
			r.onRead(n)
		}
	}
	return n, err
}

// stop ends counting and returns how many bytes were read.
func (r *meterReader) stop() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	return r.n
}
