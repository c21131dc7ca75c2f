package hub

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

const journalVersion = 2

// journalData is the resume journal of one dataset directory: the sha256
// of every LFS file (keyed by path, size and modification time, so a file
// is hashed once, whatever repository or branch it goes to) and, per
// target (endpoint, repository and branch), the commit in flight.
type journalData struct {
	Version int                       `json:"version"`
	Dir     string                    `json:"dir"`
	Files   map[string]journalHash    `json:"files"`
	Targets map[string]*journalTarget `json:"targets"`
	Updated time.Time                 `json:"updated"`
}

type journalHash struct {
	Size   int64  `json:"size"`
	ModNS  int64  `json:"mtime_ns"`
	SHA256 string `json:"sha256"`
}

// journalTarget is the state of the uploads to one endpoint, repository
// and branch.
type journalTarget struct {
	Pending    *journalPending `json:"pending_commit,omitempty"`
	LastCommit string          `json:"last_commit,omitempty"`
}

// journalPending records a commit that was sent but whose outcome is not
// known yet.
type journalPending struct {
	Parent  string    `json:"parent"`
	Files   int       `json:"files"`
	Started time.Time `json:"started"`
}

// decodeJournal parses a journal file. Anything unreadable or of another
// version gives an error (the caller then starts afresh: the journal is
// only a cache of work already done); entries that make no sense are
// dropped.
func decodeJournal(b []byte) (journalData, error) {
	var d journalData
	if err := json.Unmarshal(b, &d); err != nil {
		return journalData{}, fmt.Errorf("hub: journal: %w", err)
	}
	if d.Version != journalVersion {
		return journalData{}, fmt.Errorf("hub: journal: version %d, want %d", d.Version, journalVersion)
	}
	for p, h := range d.Files {
		if h.Size < 0 || !isHex(h.SHA256, 64) {
			delete(d.Files, p)
		}
	}
	if d.Files == nil {
		d.Files = map[string]journalHash{}
	}
	for k, t := range d.Targets {
		switch {
		case t == nil:
			delete(d.Targets, k)
		case t.Pending != nil && !isHex(t.Pending.Parent, 40):
			t.Pending = nil
		}
	}
	if d.Targets == nil {
		d.Targets = map[string]*journalTarget{}
	}
	return d, nil
}

// journal is the on-disk resume state of one dataset directory, as seen
// by one upload (to target). Safe for concurrent use. Two processes
// uploading the same directory at once may lose each other's entries,
// which costs re-hashing, nothing more.
type journal struct {
	path   string
	target string
	mu     sync.Mutex
	d      journalData
}

// journalPath names the journal of a dataset directory in stateDir.
func journalPath(stateDir, datasetDir string) string {
	sum := sha256.Sum256([]byte(datasetDir))
	return filepath.Join(stateDir, "push-"+hex.EncodeToString(sum[:10])+".json")
}

// journalTargetKey names an upload target in the journal.
func journalTargetKey(endpoint, repo, revision string) string {
	return endpoint + " " + repo + "@" + revision
}

// openJournal loads the journal of dir from stateDir, or starts an empty
// one. A corrupt journal is discarded (reported through warn).
func openJournal(stateDir, dir, target string, warn func(error)) (*journal, error) {
	j := &journal{path: journalPath(stateDir, dir), target: target,
		d: journalData{Version: journalVersion, Dir: dir, Files: map[string]journalHash{}, Targets: map[string]*journalTarget{}}}
	b, err := os.ReadFile(j.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return j, nil
	case err != nil:
		return nil, fmt.Errorf("hub: journal: %w", err)
	}
	d, err := decodeJournal(b)
	if err != nil {
		warn(err)
		return j, nil
	}
	if d.Dir == dir {
		j.d = d
	}
	return j, nil
}

// hash returns the recorded sha256 of a file if its size and mtime match.
func (j *journal) hash(s *source) (string, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	h, ok := j.d.Files[s.rel]
	if !ok || h.Size != s.size || h.ModNS != s.mod.UnixNano() {
		return "", false
	}
	return h.SHA256, true
}

func (j *journal) setHash(s *source, sha string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.d.Files[s.rel] = journalHash{Size: s.size, ModNS: s.mod.UnixNano(), SHA256: sha}
}

// targetLocked returns the state of j's target; j.mu must be held.
func (j *journal) targetLocked() *journalTarget {
	t := j.d.Targets[j.target]
	if t == nil {
		t = &journalTarget{}
		j.d.Targets[j.target] = t
	}
	return t
}

func (j *journal) pending() *journalPending {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.targetLocked().Pending
}

func (j *journal) setPending(p *journalPending) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.targetLocked().Pending = p
}

func (j *journal) setCommitted(oid string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	t := j.targetLocked()
	t.Pending, t.LastCommit = nil, oid
}

// save writes the journal atomically (temporary file, rename). It does
// not fsync: after a power cut the journal may be lost, which costs only a
// re-hash (the Hub, not the journal, says what was uploaded and committed).
func (j *journal) save() error {
	j.mu.Lock()
	j.d.Updated = time.Now().UTC()
	b, err := json.MarshalIndent(j.d, "", " ")
	j.mu.Unlock()
	if err != nil {
		return fmt.Errorf("hub: journal: %w", err)
	}
	return writeFile(j.path, b, false)
}

// writeFileAtomic replaces path with b so that a crash, even a power cut,
// leaves either the old or the new content.
func writeFileAtomic(path string, b []byte) error { return writeFile(path, b, true) }

func writeFile(path string, b []byte, durable bool) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(b)
	if werr == nil && durable {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("hub: write %s: %w", path, werr)
	}
	if !durable {
		return nil
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
