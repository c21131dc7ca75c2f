package hub

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Limits of one commit, from huggingface_hub's create_commit.
const (
	maxLFSFilesPerCommit = 25_000
	maxRegularBytes      = 1 << 30
	maxRegularFile       = 64 << 20
)

// Options configures [Client.Upload].
type Options struct {
	// Repo is the dataset repository; required.
	Repo RepoID
	// Branch to commit to; default "main". Another branch is created from
	// main's head if it does not exist.
	Branch string
	// Private creates the repository private (an existing repository keeps
	// its visibility).
	Private bool
	// Message is the commit summary; default names the episode count.
	Message string
	// Description is the commit description.
	Description string
	// Tag is put on the commit; default [CodebaseVersion] ("v3.0"), which
	// LeRobot needs to load the dataset. An existing tag of that name is
	// moved.
	Tag string
	// NoTag skips tagging.
	NoTag bool
	// Card shapes the README.md generated when the directory has none.
	Card CardOptions
	// Validator runs after [CheckStructure]; nil runs only that.
	Validator Validator
	// StateDir holds the resume journal; default
	// <user cache dir>/anther/hub.
	StateDir string
	// Concurrency is the number of parallel transfers; default 4. With
	// 1, hashing also uses a single core (for background uploads).
	Concurrency int
	// RateLimit caps reading (hashing and sending) in bytes per second;
	// 0 means no cap.
	RateLimit int64
	// OnProgress, if set, is called from one goroutine every
	// ProgressEvery and once at the end.
	OnProgress func(Progress)
	// ProgressEvery is the interval of OnProgress calls; default 500 ms.
	ProgressEvery time.Duration
}

// Result reports what [Client.Upload] did.
type Result struct {
	Repo     RepoID `json:"repo_id"`
	Revision string `json:"revision"`
	URL      string `json:"url"`
	// Commit holds the dataset: the new commit, or the branch head when
	// the Hub already had every file.
	Commit    string `json:"commit"`
	CommitURL string `json:"commit_url,omitempty"`
	Committed bool   `json:"committed"`
	Tag       string `json:"tag,omitempty"`
	// Files counts the files of the dataset (with the card); Changed those
	// the commit added or replaced.
	Files         int           `json:"files"`
	Changed       int           `json:"changed"`
	LFSUploaded   int           `json:"lfs_uploaded"`
	LFSPresent    int           `json:"lfs_present"` // the Hub already stored them
	BytesUploaded int64         `json:"bytes_uploaded"`
	BytesHashed   int64         `json:"bytes_hashed"` // this run; the rest came from the journal
	Elapsed       time.Duration `json:"elapsed_ns"`
}

// Upload pushes the LeRobot v3.0 dataset in dir to opt.Repo and tags the
// commit "v3.0". It validates first (refusing an invalid dataset before
// any request), then creates the repository if needed, asks the Hub which
// files it lacks, uploads those, commits them once, and tags.
//
// Upload is resumable and idempotent: hashes and the commit in flight are
// journaled in opt.StateDir, objects the Hub already stores are skipped,
// and running it again on an uploaded dataset makes no commit. Files under
// .git/, .cache/ and the top-level images/ are not uploaded.
func (c *Client) Upload(ctx context.Context, dir string, opt Options) (*Result, error) {
	start := time.Now()
	if opt.Repo.IsZero() {
		return nil, fmt.Errorf("%w: no repo id given", ErrInvalidRepoID)
	}
	if _, err := ParseRepoID(opt.Repo.String()); err != nil {
		return nil, err
	}
	u := &uploadRun{c: c, opt: opt, repo: opt.Repo, rev: opt.Branch}
	if u.rev == "" {
		u.rev = "main"
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	if err := CheckStructure(abs); err != nil {
		return nil, err
	}
	if opt.Validator != nil {
		if err := opt.Validator.Validate(ctx, abs); err != nil {
			if errors.Is(err, ErrInvalidDataset) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalidDataset, abs, err)
		}
	}
	if u.files, err = scan(abs); err != nil {
		return nil, err
	}
	infoJSON, err := os.ReadFile(filepath.Join(abs, "meta", "info.json"))
	if err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	u.info, _ = ParseInfo(infoJSON)
	if !u.has("README.md") {
		u.files = append(u.files, memSource("README.md", Card(opt.Repo, infoJSON, opt.Card)))
		sort.Slice(u.files, func(i, j int) bool { return u.files[i].rel < u.files[j].rel })
	}
	for _, f := range u.files {
		if err := relOK(f.rel); err != nil {
			return nil, err
		}
	}
	stateDir := opt.StateDir
	if stateDir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("hub: no place for the resume journal (set Options.StateDir): %w", err)
		}
		stateDir = filepath.Join(cache, "anther", "hub")
	}
	u.j, err = openJournal(stateDir, abs, journalTargetKey(c.endpoint, u.repo.String(), u.rev),
		func(err error) { c.log.Warn("hub: discarding unreadable resume journal", "err", err) })
	if err != nil {
		return nil, err
	}
	u.m = newMeter(opt.RateLimit)
	u.m.files.Store(int64(len(u.files)))
	every := opt.ProgressEvery
	if every <= 0 {
		every = 500 * time.Millisecond
	}
	stop := u.m.report(opt.OnProgress, every)
	defer stop()

	res, err := u.run(ctx)
	if res != nil {
		res.Elapsed = time.Since(start)
	}
	if err != nil {
		if serr := u.j.save(); serr != nil {
			c.log.Warn("hub: saving resume journal", "err", serr)
		}
		return nil, err
	}
	u.m.setPhase(PhaseDone)
	return res, nil
}

// uploadRun is the state of one Upload call.
type uploadRun struct {
	c     *Client
	opt   Options
	repo  RepoID
	rev   string
	files []*source
	info  Info
	j     *journal
	m     *meter

	lfsUploaded, lfsPresent atomic.Int64
	bytesUploaded           atomic.Int64
	bytesHashed             atomic.Int64
}

// saveJournal writes the journal; failing to is worth a warning, not an
// abort (it only saves work on a later run).
func (u *uploadRun) saveJournal() {
	if err := u.j.save(); err != nil {
		u.c.log.Warn("hub: saving resume journal", "err", err)
	}
}

func (u *uploadRun) has(rel string) bool {
	for _, f := range u.files {
		if f.rel == rel {
			return true
		}
	}
	return false
}

// change is one file the commit adds or replaces.
type change struct {
	src     *source
	content []byte // regular file
	oid     string // sha256 (LFS) or git blob sha1 (regular)
	lfs     bool
}

func (u *uploadRun) run(ctx context.Context) (*Result, error) {
	c, log := u.c, u.c.log
	res := &Result{Repo: u.repo, Revision: u.rev, URL: c.RepoURL(u.repo), Files: len(u.files)}
	if u.rev != "main" {
		res.URL += "/tree/" + quote(u.rev)
	}
	log.Info("hub: uploading", "repo", u.repo.String(), "revision", u.rev, "files", len(u.files), "endpoint", c.endpoint)
	if p := u.j.pending(); p != nil {
		log.Info("hub: the previous upload stopped during its commit; the Hub decides whether it landed",
			"parent", p.Parent, "started", p.Started)
	}

	// Repository, branch, head, and what the Hub already has.
	if err := c.CreateRepo(ctx, u.repo, u.opt.Private); err != nil {
		return nil, err
	}
	if u.rev != "main" {
		if err := c.CreateBranch(ctx, u.repo, u.rev, ""); err != nil {
			return nil, err
		}
	}
	head, err := c.RevisionSHA(ctx, u.repo, u.rev)
	if err != nil {
		return nil, err
	}
	pre := make([]PreuploadFile, len(u.files))
	for i, f := range u.files {
		pre[i] = PreuploadFile{Path: f.rel, Size: f.size, Sample: f.sample}
	}
	modes, err := c.Preupload(ctx, u.repo, u.rev, pre)
	if err != nil {
		return nil, err
	}

	var changes []*change
	var lfs []*lfsItem
	var regularBytes int64
	for i, f := range u.files {
		r := modes[i]
		if r.ShouldIgnore {
			log.Debug("hub: ignored by the repository's .gitignore", "path", f.rel)
			u.m.filesDone.Add(1)
			continue
		}
		if r.UploadMode == "lfs" {
			lfs = append(lfs, &lfsItem{src: f, remote: r.OID})
			u.m.hashTotal.Add(f.size)
			continue
		}
		if f.size > maxRegularFile {
			return nil, fmt.Errorf("%w: the Hub wants %s (%d bytes) inline as a regular file", ErrProtocol, f.rel, f.size)
		}
		b, err := f.readAll()
		if err != nil {
			return nil, err
		}
		oid := gitBlobOID(b)
		u.m.filesDone.Add(1)
		if oid == r.OID {
			continue
		}
		regularBytes += f.size
		changes = append(changes, &change{src: f, content: b, oid: oid})
	}
	if len(lfs) > maxLFSFilesPerCommit || regularBytes > maxRegularBytes {
		return nil, fmt.Errorf("%w: %d LFS files and %d bytes of regular files (at most %d and %d)",
			ErrTooLarge, len(lfs), regularBytes, maxLFSFilesPerCommit, maxRegularBytes)
	}

	// Hash and send what the Hub lacks.
	u.m.setPhase(PhaseUpload)
	sent, err := u.transfer(ctx, lfs)
	res.LFSUploaded, res.LFSPresent = int(u.lfsUploaded.Load()), int(u.lfsPresent.Load())
	res.BytesUploaded, res.BytesHashed = u.bytesUploaded.Load(), u.bytesHashed.Load()
	if err != nil {
		return res, err
	}
	for _, it := range sent {
		changes = append(changes, &change{src: it.src, oid: it.sha, lfs: true})
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].src.rel < changes[j].src.rel })
	u.saveJournal()
	// A recorder may have written to the dataset meanwhile: commit only a
	// consistent snapshot.
	for _, f := range u.files {
		if err := f.unchanged(); err != nil {
			return res, err
		}
	}

	// Commit, exactly once.
	u.m.setPhase(PhaseCommit)
	res.Changed = len(changes)
	res.Commit = head
	if len(changes) == 0 {
		log.Info("hub: the Hub already has every file; no commit", "head", head)
		u.j.setCommitted(head)
	} else {
		info, err := u.commit(ctx, head, changes)
		if err != nil {
			return res, err
		}
		res.Commit, res.CommitURL, res.Committed = info.CommitOID, info.CommitURL, true
	}
	u.saveJournal()

	// Tag.
	u.m.setPhase(PhaseTag)
	if !u.opt.NoTag {
		res.Tag = u.opt.Tag
		if res.Tag == "" {
			res.Tag = CodebaseVersion
		}
		if err := u.ensureTag(ctx, res.Tag, res.Commit); err != nil {
			return res, err
		}
	}
	log.Info("hub: uploaded", "repo", u.repo.String(), "revision", u.rev, "commit", res.Commit, "committed", res.Committed,
		"changed", res.Changed, "lfs_uploaded", res.LFSUploaded, "lfs_present", res.LFSPresent,
		"bytes_uploaded", res.BytesUploaded, "tag", res.Tag)
	return res, nil
}

// lfsItem is one file the Hub stores through LFS.
type lfsItem struct {
	src    *source
	remote string // oid at that path on the Hub now
	sha    string // local sha256
}

// transfer hashes the LFS files (once; the journal remembers), skips
// those already at their path on the Hub, asks the batch endpoint about
// the rest and sends what it lacks with opt.Concurrency transfers in
// flight. Hashing, batching and sending overlap. It returns the files the
// commit must reference.
func (u *uploadRun) transfer(ctx context.Context, items []*lfsItem) ([]*lfsItem, error) {
	sort.SliceStable(items, func(i, j int) bool { return items[i].src.size > items[j].src.size })
	conc := u.opt.Concurrency
	if conc <= 0 {
		conc = 4
	}
	g, gctx := newGroup(ctx)
	hashed := make(chan *lfsItem, 64)
	jobs := make(chan func(context.Context) error, 4*conc)
	var (
		mu      sync.Mutex
		changed []*lfsItem
	)

	// Hash with two goroutines when there are two cores (one for a
	// background upload: rate-limited or with one transfer), biggest files
	// first: the hashers keep both cores busy at the start, the parallel
	// sends at the end.
	hashers := 1
	if runtime.GOMAXPROCS(0) > 1 && u.m.lim == nil && conc > 1 {
		hashers = 2
	}
	todo := make(chan *lfsItem, len(items))
	for _, it := range items {
		todo <- it
	}
	close(todo)
	var hashing sync.WaitGroup
	var saveMu sync.Mutex
	lastSave := time.Now()
	for range hashers {
		hashing.Add(1)
		g.run(func() error { // hash
			defer hashing.Done()
			buf := make([]byte, 1<<20)
			for it := range todo {
				sha, ok := u.j.hash(it.src)
				if ok {
					u.m.hashDone.Add(it.src.size)
				} else {
					var err error
					if sha, err = hashFile(gctx, it.src, u.m, buf); err != nil {
						return err
					}
					u.bytesHashed.Add(it.src.size)
					u.j.setHash(it.src, sha)
					// Journal big hashes at once, small ones at most once a second.
					saveMu.Lock()
					if it.src.size >= 32<<20 || time.Since(lastSave) > time.Second {
						lastSave = time.Now()
						u.saveJournal()
					}
					saveMu.Unlock()
				}
				it.sha = sha
				if sha == it.remote {
					u.m.filesDone.Add(1)
					continue
				}
				mu.Lock()
				changed = append(changed, it)
				mu.Unlock()
				select {
				case hashed <- it:
				case <-gctx.Done():
					return context.Cause(gctx)
				}
			}
			return nil
		})
	}
	g.run(func() error {
		hashing.Wait()
		close(hashed)
		u.saveJournal()
		return nil
	})

	g.run(func() error { // batch
		defer close(jobs)
		scheduled := map[string]bool{}
		for it := range hashed {
			batch := []*lfsItem{it}
		drain:
			for len(batch) < LFSBatchMax {
				select {
				case more, ok := <-hashed:
					if !ok {
						break drain
					}
					batch = append(batch, more)
				default:
					break drain
				}
			}
			var objs []LFSObject
			var owners []*lfsItem
			for _, b := range batch {
				if scheduled[b.sha] { // same content at two paths: send it once
					u.m.filesDone.Add(1)
					continue
				}
				scheduled[b.sha] = true
				objs = append(objs, LFSObject{OID: b.sha, Size: b.src.size})
				owners = append(owners, b)
			}
			if len(objs) == 0 {
				continue
			}
			plans, err := u.c.lfsBatch(gctx, u.repo, u.rev, objs)
			if err != nil {
				return err
			}
			for i, p := range plans {
				if p.Present {
					u.lfsPresent.Add(1)
					u.m.filesDone.Add(1)
					continue
				}
				u.m.uploadTotal.Add(p.Size)
				for _, job := range u.jobsFor(owners[i], p) {
					select {
					case jobs <- job:
					case <-gctx.Done():
						return context.Cause(gctx)
					}
				}
			}
		}
		return nil
	})

	for range conc {
		g.run(func() error { // send
			for job := range jobs {
				if err := job(gctx); err != nil {
					return err
				}
			}
			return nil
		})
	}
	err := g.wait()
	sort.Slice(changed, func(i, j int) bool { return changed[i].src.rel < changed[j].src.rel })
	return changed, err
}

// jobsFor turns one batch plan into transfer jobs: one basic PUT, or one
// PUT per part with the last finished part completing the upload.
func (u *uploadRun) jobsFor(it *lfsItem, p lfsPlan) []func(context.Context) error {
	finish := func(ctx context.Context) error {
		if err := u.c.verify(ctx, p); err != nil {
			return err
		}
		u.lfsUploaded.Add(1)
		u.bytesUploaded.Add(p.Size)
		u.m.filesDone.Add(1)
		u.c.log.Debug("hub: uploaded", "path", it.src.rel, "bytes", p.Size)
		return nil
	}
	if p.ChunkSize == 0 {
		return []func(context.Context) error{func(ctx context.Context) error {
			if _, err := u.c.put(ctx, "upload "+it.src.rel, p.Href, it.src, 0, p.Size, u.m); err != nil {
				return err
			}
			return finish(ctx)
		}}
	}
	n := len(p.PartURLs)
	etags := make([]string, n)
	var left atomic.Int64
	left.Store(int64(n))
	jobs := make([]func(context.Context) error, n)
	for i := range n {
		off := int64(i) * p.ChunkSize
		size := min(p.ChunkSize, p.Size-off)
		jobs[i] = func(ctx context.Context) error {
			op := fmt.Sprintf("upload %s part %d/%d", it.src.rel, i+1, n)
			etag, err := u.c.put(ctx, op, p.PartURLs[i], it.src, off, size, u.m)
			if err != nil {
				return err
			}
			if etag == "" {
				return fmt.Errorf("%w: %s: no ETag in the answer", ErrProtocol, op)
			}
			etags[i] = etag
			if left.Add(-1) > 0 {
				return nil
			}
			if err := u.c.complete(ctx, p, etags); err != nil {
				return u.recoverCompletion(ctx, p, err, finish)
			}
			return finish(ctx)
		}
	}
	return jobs
}

// recoverCompletion handles a failed multipart completion: if the Hub
// stores the object after all (an earlier attempt completed it but its
// answer was lost), carry on.
func (u *uploadRun) recoverCompletion(ctx context.Context, p lfsPlan, cerr error, finish func(context.Context) error) error {
	plans, err := u.c.lfsBatch(ctx, u.repo, u.rev, []LFSObject{p.LFSObject})
	if err != nil || !plans[0].Present {
		return cerr
	}
	return finish(ctx)
}

// commit sends the commit once. After a failure whose outcome is unknown
// (no answer, 5xx) or a conflict (the branch moved), it asks the Hub
// whether every changed file is now there; only if not does it commit
// again, so a commit is made once, never twice and never half.
func (u *uploadRun) commit(ctx context.Context, parent string, changes []*change) (CommitInfo, error) {
	c := u.c
	summary := u.opt.Message
	if summary == "" {
		summary = fmt.Sprintf("Upload LeRobot %s dataset: %d episodes, %d frames", CodebaseVersion, u.info.TotalEpisodes, u.info.TotalFrames)
	}
	ops := make([]CommitOp, len(changes))
	for i, ch := range changes {
		if ch.lfs {
			ops[i] = CommitOp{Path: ch.src.rel, LFS: &LFSObject{OID: ch.oid, Size: ch.src.size}}
		} else {
			ops[i] = CommitOp{Path: ch.src.rel, Content: ch.content}
		}
	}
	delay := c.retry.BaseDelay
	for attempt := 0; ; attempt++ {
		u.j.setPending(&journalPending{Parent: parent, Files: len(ops), Started: time.Now().UTC()})
		if err := u.j.save(); err != nil {
			return CommitInfo{}, err
		}
		info, err := c.Commit(ctx, u.repo, u.rev, CommitRequest{Summary: summary, Description: u.opt.Description,
			ParentCommit: parent, Ops: ops})
		if err == nil {
			u.j.setCommitted(info.CommitOID)
			c.log.Info("hub: committed", "commit", info.CommitOID, "files", len(ops))
			return info, nil
		}
		if ctx.Err() != nil {
			return info, err
		}
		var he *HTTPError
		conflict := errors.As(err, &he) && (he.Status == http.StatusConflict || he.Status == http.StatusPreconditionFailed)
		if !conflict && !IsTransient(err) {
			u.j.setPending(nil)
			return info, err
		}
		landed, head, cerr := u.landed(ctx, changes)
		if cerr != nil {
			return info, fmt.Errorf("%w (and checking whether the commit landed failed: %w)", err, cerr)
		}
		if landed {
			c.log.Info("hub: the commit had landed; its answer was lost", "commit", head, "err", err)
			u.j.setCommitted(head)
			return CommitInfo{CommitOID: head, CommitURL: c.RepoURL(u.repo) + "/commit/" + head}, nil
		}
		if attempt >= c.retry.MaxRetries {
			return info, err
		}
		if conflict && head != parent {
			c.log.Warn("hub: the branch moved under the commit; committing on its new head", "old", parent, "new", head)
			parent = head
		}
		wait := delay
		if he != nil && he.RetryAfter > 0 {
			wait = min(he.RetryAfter, c.retry.MaxRetryAfter)
		}
		c.log.Warn("hub: commit failed and did not land; retrying", "retry", attempt+1, "in", wait, "err", err)
		if serr := sleep(ctx, wait); serr != nil {
			return info, fmt.Errorf("%w (gave up waiting to retry: %w)", err, serr)
		}
		delay = min(2*delay, c.retry.MaxDelay)
	}
}

// landed reports whether every change is at its path on the branch, and
// the branch head.
func (u *uploadRun) landed(ctx context.Context, changes []*change) (bool, string, error) {
	pre := make([]PreuploadFile, len(changes))
	for i, ch := range changes {
		pre[i] = PreuploadFile{Path: ch.src.rel, Size: ch.src.size, Sample: ch.src.sample}
	}
	res, err := u.c.Preupload(ctx, u.repo, u.rev, pre)
	if err != nil {
		return false, "", err
	}
	head, err := u.c.RevisionSHA(ctx, u.repo, u.rev)
	if err != nil {
		return false, "", err
	}
	for i, ch := range changes {
		if res[i].OID != ch.oid {
			return false, head, nil
		}
	}
	return true, head, nil
}

// ensureTag points tag at commit: nothing to do if it already does,
// otherwise the old tag is deleted and a new one created (as LeRobot's
// push_to_hub does).
func (u *uploadRun) ensureTag(ctx context.Context, tag, commit string) error {
	c := u.c
	for range 3 {
		refs, err := c.ListRefs(ctx, u.repo)
		if err != nil {
			return err
		}
		exists := false
		for _, t := range refs.Tags {
			if t.Name == tag {
				if t.TargetCommit == commit {
					return nil
				}
				exists = true
			}
		}
		if exists {
			if err := c.DeleteTag(ctx, u.repo, tag); err != nil {
				return err
			}
		}
		err = c.CreateTag(ctx, u.repo, commit, tag, "")
		if err == nil {
			c.log.Info("hub: tagged", "tag", tag, "commit", commit)
			return nil
		}
		if !errors.Is(err, ErrTagExists) {
			return err
		}
		// Someone else tagged meanwhile: look again.
	}
	return fmt.Errorf("hub: tag %s on %s keeps changing under this client", tag, u.repo)
}

// group runs functions in goroutines; the first error cancels the rest.
type group struct {
	wg     sync.WaitGroup
	cancel context.CancelCauseFunc
	once   sync.Once
	err    error
}

func newGroup(ctx context.Context) (*group, context.Context) {
	ctx, cancel := context.WithCancelCause(ctx)
	return &group{cancel: cancel}, ctx
}

func (g *group) run(f func() error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := f(); err != nil {
			g.once.Do(func() {
				g.err = err
				g.cancel(err)
			})
		}
	}()
}

func (g *group) wait() error {
	g.wg.Wait()
	g.cancel(nil)
	return g.err
}
