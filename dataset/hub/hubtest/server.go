// Package hubtest is a strict, in-memory Hugging Face Hub for tests. It
// serves the part of the Hub's HTTP API that package hub uses (create
// repo, branches, revision info, preupload, LFS batch with basic and
// multipart transfers, presigned PUTs, completion, verify, NDJSON commit,
// refs and tags) on a loopback httptest server, checks every request the
// way the Hub and its object storage would, and keeps what it receives so
// a test can compare the uploaded tree with the local files byte for byte.
//
// A request that breaks the protocol (a missing token, the token sent to
// a presigned URL, a wrong sha256 or size, a malformed JSON or NDJSON body,
// a part of the wrong size, a commit naming an object never uploaded...) is
// answered 4xx and reported as a violation, which fails the test unless
// Options.OnViolation says otherwise. Faults (statuses, 429 with
// Retry-After, dropped connections, lost answers) are injected per request
// through Options.Fault.
package hubtest

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultToken is the token the server accepts unless Options.Token says
// otherwise.
const DefaultToken = "hf_hubtest_0123456789abcdef"

// Request kinds, as passed to Options.Fault and recorded in the log.
const (
	KindCreateRepo = "create-repo"
	KindBranch     = "branch"
	KindRevision   = "revision"
	KindPreupload  = "preupload"
	KindBatch      = "batch"
	KindPut        = "put"      // basic transfer PUT to a presigned URL
	KindPart       = "part"     // multipart part PUT to a presigned URL
	KindComplete   = "complete" // multipart completion
	KindVerify     = "verify"
	KindCommit     = "commit"
	KindRefs       = "refs"
	KindTag        = "tag"
	KindDeleteTag  = "delete-tag"
	KindBench      = "bench" // PUT /_bench/NAME: hash and count, for throughput comparisons
)

// Options configures a Server.
type Options struct {
	// Token is the only bearer token accepted; default DefaultToken.
	Token string
	// MultipartThreshold: LFS objects of at least this size get a
	// multipart upload action; 0 means never.
	MultipartThreshold int64
	// ChunkSize is the multipart part size; default 5 MiB.
	ChunkSize int64
	// NoVerify leaves the verify action out of batch answers.
	NoVerify bool
	// Fault, if set, is asked before each request is handled.
	Fault func(Request) Fault
	// OnPutBytes, if set, is called with the running total of body bytes
	// received by presigned PUTs (from the handler goroutines).
	OnPutBytes func(total int64)
	// OnViolation receives each protocol violation; default t.Errorf.
	OnViolation func(msg string)
	// DiscardBlobs hashes and counts uploaded bytes without keeping them
	// (for benchmarks); Tree then fails for LFS files.
	DiscardBlobs bool
}

// Request describes a request to Options.Fault.
type Request struct {
	Kind   string
	N      int // 1 for the first request of this kind, 2 for the second...
	Method string
	Path   string // URL path, without the query
	Repo   string // "namespace/name" when the request names one
}

// Fault is what to do instead of (or besides) answering a request
// normally. The zero Fault means answer normally.
type Fault struct {
	// Status, if non-zero, answers with this status and an error body.
	Status int
	// RetryAfter, if set, is sent as the Retry-After header with Status.
	RetryAfter string
	// Drop closes the connection without an answer, after reading
	// DropAfter bytes of the request body (if it has one).
	Drop      bool
	DropAfter int64
	// AfterApply handles the request fully (a commit lands, a completion
	// stores the object), then, after Hold, drops the connection: the
	// answer is lost.
	AfterApply bool
	Hold       time.Duration
	// Delay waits before handling.
	Delay time.Duration
}

// Logged is one request as the server saw it.
type Logged struct {
	Kind   string
	Method string
	Path   string
	Status int // 0 if the connection was dropped
	Auth   bool
}

// Commit is one commit of a repository.
type Commit struct {
	OID         string
	Parent      string
	Summary     string
	Description string
	ByClient    bool     // false for the repository's initial commit
	Files       []string // paths added or replaced
}

type entry struct {
	lfs     bool
	oid     string // sha256 (LFS) or git blob sha1
	size    int64
	content []byte // regular files
}

type commitRec struct {
	Commit
	tree map[string]entry
}

type blob struct {
	size int64
	data []byte
}

type repo struct {
	id       string
	private  bool
	branches map[string]string
	tags     map[string]string
	commits  map[string]*commitRec
	order    []string
	objects  map[string]blob
	uploads  map[string]int  // oid → completed uploads
	samples  map[string]bool // rev, path and sample of every preuploaded file
}

type upload struct {
	repo  string
	oid   string
	size  int64
	chunk int64
	parts map[int][]byte
	etags map[int]string
}

// Server is a strict fake Hub on a loopback port.
type Server struct {
	// URL is the base URL, to use as the client's endpoint (HF_ENDPOINT).
	URL string

	tb   testing.TB
	opt  Options
	srv  *httptest.Server
	mu   sync.Mutex
	n    map[string]int
	log  []Logged
	viol []string

	repos    map[string]*repo
	uploads  map[string]*upload
	nextID   int
	putBytes int64
	bench    map[string]string // name → sha256 of the last body
}

// New starts a server; it is closed when the test ends.
func New(tb testing.TB, opt Options) *Server {
	tb.Helper()
	if opt.Token == "" {
		opt.Token = DefaultToken
	}
	if opt.ChunkSize <= 0 {
		opt.ChunkSize = 5 << 20
	}
	s := &Server{tb: tb, opt: opt, n: map[string]int{}, repos: map[string]*repo{}, uploads: map[string]*upload{},
		bench: map[string]string{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	tb.Cleanup(s.srv.Close)
	return s
}

// Token returns the accepted token.
func (s *Server) Token() string { return s.opt.Token }

// Close stops the server (also done at the end of the test).
func (s *Server) Close() { s.srv.Close() }

// Requests returns every request so far.
func (s *Server) Requests() []Logged {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Logged(nil), s.log...)
}

// Count returns how many requests of a kind were made.
func (s *Server) Count(kind string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[kind]
}

// Violations returns the protocol violations seen so far.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.viol...)
}

// PutBytes returns the body bytes received by presigned PUTs so far
// (including bodies cut short).
func (s *Server) PutBytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.putBytes
}

// BenchSHA256 returns the sha256 of the last body PUT to /_bench/name.
func (s *Server) BenchSHA256(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bench[name]
}

// Exists reports whether a repository exists, and whether it is private.
func (s *Server) Exists(repoID string) (exists, private bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[repoID]
	return r != nil, r != nil && r.private
}

// Commits returns a repository's commits, oldest first.
func (s *Server) Commits(repoID string) []Commit {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[repoID]
	if r == nil {
		return nil
	}
	out := make([]Commit, 0, len(r.order))
	for _, oid := range r.order {
		c := r.commits[oid].Commit
		c.Files = append([]string(nil), c.Files...)
		out = append(out, c)
	}
	return out
}

// ClientCommits counts the commits made through the API (not the initial
// one).
func (s *Server) ClientCommits(repoID string) int {
	n := 0
	for _, c := range s.Commits(repoID) {
		if c.ByClient {
			n++
		}
	}
	return n
}

// Tags returns a repository's tags (name → commit).
func (s *Server) Tags(repoID string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneMap(s.repoOrNil(repoID, func(r *repo) map[string]string { return r.tags }))
}

// Branches returns a repository's branches (name → commit).
func (s *Server) Branches(repoID string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneMap(s.repoOrNil(repoID, func(r *repo) map[string]string { return r.branches }))
}

// Uploads returns how many times each LFS object (by sha256) was
// completely uploaded.
func (s *Server) Uploads(repoID string) map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[repoID]
	if r == nil {
		return nil
	}
	out := make(map[string]int, len(r.uploads))
	for k, v := range r.uploads {
		out[k] = v
	}
	return out
}

func (s *Server) repoOrNil(id string, f func(*repo) map[string]string) map[string]string {
	if r := s.repos[id]; r != nil {
		return f(r)
	}
	return nil
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Tree returns the files at a revision (branch, tag or commit), LFS files
// resolved to their content.
func (s *Server) Tree(repoID, rev string) (map[string][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[repoID]
	if r == nil {
		return nil, fmt.Errorf("hubtest: no repo %s", repoID)
	}
	c := r.resolve(rev)
	if c == nil {
		return nil, fmt.Errorf("hubtest: %s has no revision %s", repoID, rev)
	}
	out := make(map[string][]byte, len(c.tree))
	for p, e := range c.tree {
		if !e.lfs {
			out[p] = e.content
			continue
		}
		b, ok := r.objects[e.oid]
		if !ok || b.data == nil && b.size > 0 {
			return nil, fmt.Errorf("hubtest: %s: LFS object %s not kept", p, e.oid)
		}
		out[p] = b.data
	}
	return out, nil
}

func (r *repo) resolve(rev string) *commitRec {
	if oid, ok := r.branches[rev]; ok {
		return r.commits[oid]
	}
	if oid, ok := r.tags[rev]; ok {
		return r.commits[oid]
	}
	return r.commits[rev]
}

// ---- plumbing ----

func (s *Server) violate(w http.ResponseWriter, status int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	s.viol = append(s.viol, msg)
	s.mu.Unlock()
	if s.opt.OnViolation != nil {
		s.opt.OnViolation(msg)
	} else {
		s.tb.Errorf("hubtest: protocol violation: %s", msg)
	}
	writeErr(w, status, msg)
}

func writeErr(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Request-Id", "hubtest-req")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// base is the server's URL as the client reached it (read from the
// request, not from s.URL, which New sets after the server started).
func base(r *http.Request) string { return "http://" + r.Host }

// drop closes the connection without answering.
func drop(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("hubtest: cannot hijack the connection")
	}
	conn, _, err := hj.Hijack()
	if err == nil {
		conn.Close()
	}
}

// decodeStrict decodes one JSON value, refusing unknown fields and
// trailing data.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON value")
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}

var (
	hex40 = regexp.MustCompile(`^[0-9a-f]{40}$`)
	hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)
	part  = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
)

func validRepoPart(p string) bool {
	return part.MatchString(p) && len(p) <= 96 && !strings.HasPrefix(p, "-") && !strings.HasPrefix(p, ".") &&
		!strings.HasSuffix(p, "-") && !strings.HasSuffix(p, ".") && !strings.Contains(p, "--") && !strings.Contains(p, "..")
}

func cleanRepoPath(p string) bool {
	return p != "" && !strings.HasPrefix(p, "/") && path.Clean(p) == p && !strings.HasPrefix(p, "../") &&
		!strings.Contains(p, "\\") && p != "." && !strings.HasPrefix(p, ".git/")
}

func gitBlobOID(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

func (s *Server) newID() string {
	s.nextID++
	return strconv.Itoa(s.nextID)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	segs := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	for i, sg := range segs {
		if u, err := unescape(sg); err == nil {
			segs[i] = u
		}
	}
	kind, repoID, route := s.route(r.Method, segs)
	s.mu.Lock()
	s.n[kind]++
	n := s.n[kind]
	s.log = append(s.log, Logged{Kind: kind, Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization") != ""})
	idx := len(s.log) - 1
	s.mu.Unlock()
	rec := &statusRecorder{ResponseWriter: w}
	defer func() {
		s.mu.Lock()
		s.log[idx].Status = rec.status
		s.mu.Unlock()
	}()
	if route == nil {
		s.violate(rec, http.StatusNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path)
		return
	}
	var f Fault
	if s.opt.Fault != nil {
		f = s.opt.Fault(Request{Kind: kind, N: n, Method: r.Method, Path: r.URL.Path, Repo: repoID})
	}
	if f.Delay > 0 {
		time.Sleep(f.Delay)
	}
	if f.Drop {
		if f.DropAfter > 0 && r.Body != nil {
			got, _ := io.CopyN(io.Discard, r.Body, f.DropAfter)
			if kind == KindPut || kind == KindPart {
				s.countPut(got)
			}
		}
		drop(rec)
		return
	}
	if f.Status != 0 {
		if r.Body != nil {
			_, _ = io.Copy(io.Discard, r.Body)
		}
		if f.RetryAfter != "" {
			rec.Header().Set("Retry-After", f.RetryAfter)
		}
		writeErr(rec, f.Status, "hubtest: injected "+strconv.Itoa(f.Status))
		return
	}
	if f.AfterApply {
		route(&discardWriter{h: http.Header{}}, r)
		if f.Hold > 0 {
			select {
			case <-time.After(f.Hold):
			case <-r.Context().Done():
			}
		}
		drop(rec)
		return
	}
	route(rec, r)
}

func unescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("bad escape")
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", err
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), nil
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Hijack implements http.Hijacker.
func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return s.ResponseWriter.(http.Hijacker).Hijack()
}

type discardWriter struct {
	h http.Header
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// route maps a request to its kind, repository and handler.
func (s *Server) route(method string, sg []string) (string, string, http.HandlerFunc) {
	at := func(i int) string {
		if i < len(sg) {
			return sg[i]
		}
		return ""
	}
	switch {
	case method == http.MethodPost && len(sg) == 3 && sg[0] == "api" && sg[1] == "repos" && sg[2] == "create":
		return KindCreateRepo, "", s.createRepo
	case len(sg) == 6 && sg[0] == "api" && sg[1] == "datasets":
		id := sg[2] + "/" + sg[3]
		arg := sg[5]
		switch {
		case method == http.MethodPost && sg[4] == "preupload":
			return KindPreupload, id, s.api(id, func(w http.ResponseWriter, r *http.Request, rp *repo) { s.preupload(w, r, rp, arg) })
		case method == http.MethodPost && sg[4] == "commit":
			return KindCommit, id, s.api(id, func(w http.ResponseWriter, r *http.Request, rp *repo) { s.commit(w, r, rp, arg) })
		case method == http.MethodGet && sg[4] == "revision":
			return KindRevision, id, s.api(id, func(w http.ResponseWriter, r *http.Request, rp *repo) { s.revision(w, rp, arg) })
		case method == http.MethodPost && sg[4] == "branch":
			return KindBranch, id, s.api(id, func(w http.ResponseWriter, r *http.Request, rp *repo) { s.branch(w, r, rp, arg) })
		case method == http.MethodPost && sg[4] == "tag":
			return KindTag, id, s.api(id, func(w http.ResponseWriter, r *http.Request, rp *repo) { s.tag(w, r, rp, arg) })
		case method == http.MethodDelete && sg[4] == "tag":
			return KindDeleteTag, id, s.api(id, func(w http.ResponseWriter, r *http.Request, rp *repo) { s.deleteTag(w, rp, arg) })
		}
	case method == http.MethodGet && len(sg) == 5 && sg[0] == "api" && sg[1] == "datasets" && sg[4] == "refs":
		id := sg[2] + "/" + sg[3]
		return KindRefs, id, s.api(id, func(w http.ResponseWriter, r *http.Request, rp *repo) { s.refs(w, rp) })
	case method == http.MethodPost && len(sg) == 7 && sg[0] == "datasets" && strings.HasSuffix(sg[2], ".git") &&
		sg[3] == "info" && sg[4] == "lfs" && sg[5] == "objects" && sg[6] == "batch":
		id := sg[1] + "/" + strings.TrimSuffix(sg[2], ".git")
		return KindBatch, id, s.api(id, s.batch)
	case method == http.MethodPost && len(sg) == 7 && sg[0] == "datasets" && sg[6] == "verify":
		id := sg[1] + "/" + strings.TrimSuffix(sg[2], ".git")
		return KindVerify, id, s.api(id, s.verify)
	case method == http.MethodPut && at(0) == "_s3" && at(1) == "put" && len(sg) == 3:
		return KindPut, "", func(w http.ResponseWriter, r *http.Request) { s.put(w, r, sg[2], 0) }
	case method == http.MethodPut && at(0) == "_s3" && at(1) == "part" && len(sg) == 4:
		n, err := strconv.Atoi(sg[3])
		if err != nil || n < 1 {
			return KindPart, "", nil
		}
		return KindPart, "", func(w http.ResponseWriter, r *http.Request) { s.put(w, r, sg[2], n) }
	case method == http.MethodPost && at(0) == "_lfs" && at(1) == "complete" && len(sg) == 3:
		return KindComplete, "", func(w http.ResponseWriter, r *http.Request) { s.complete(w, r, sg[2]) }
	case method == http.MethodPut && at(0) == "_bench" && len(sg) >= 2:
		return KindBench, "", func(w http.ResponseWriter, r *http.Request) { s.benchPut(w, r, strings.Join(sg[1:], "/")) }
	}
	return "unknown", "", nil
}

// api checks the token and finds the repository.
func (s *Server) api(id string, h func(http.ResponseWriter, *http.Request, *repo)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.authOK(w, r) {
			return
		}
		s.mu.Lock()
		rp := s.repos[id]
		s.mu.Unlock()
		if rp == nil {
			writeErr(w, http.StatusNotFound, "Repository not found")
			return
		}
		h(w, r, rp)
	}
}

func (s *Server) authOK(w http.ResponseWriter, r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if r.Header.Get("User-Agent") == "" {
		s.violate(w, http.StatusBadRequest, "%s %s: no User-Agent", r.Method, r.URL.Path)
		return false
	}
	switch {
	case h == "":
		s.violate(w, http.StatusUnauthorized, "%s %s: no Authorization header", r.Method, r.URL.Path)
		return false
	case h != "Bearer "+s.opt.Token:
		writeErr(w, http.StatusUnauthorized, "Invalid credentials in Authorization header")
		return false
	}
	return true
}

func (s *Server) readBody(w http.ResponseWriter, r *http.Request, contentType string) ([]byte, bool) {
	if ct := r.Header.Get("Content-Type"); ct != contentType {
		s.violate(w, http.StatusBadRequest, "%s %s: Content-Type %q, want %q", r.Method, r.URL.Path, ct, contentType)
		return nil, false
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, false
	}
	return b, true
}

// ---- repository API ----

func (s *Server) createRepo(w http.ResponseWriter, r *http.Request) {
	if !s.authOK(w, r) {
		return
	}
	b, ok := s.readBody(w, r, "application/json")
	if !ok {
		return
	}
	var req struct {
		Name         string  `json:"name"`
		Organization *string `json:"organization"`
		Type         string  `json:"type"`
		Visibility   *string `json:"visibility"`
		Private      *bool   `json:"private"`
	}
	if err := decodeStrict(b, &req); err != nil {
		s.violate(w, http.StatusBadRequest, "create repo: %v: %s", err, b)
		return
	}
	if req.Type != "dataset" {
		s.violate(w, http.StatusBadRequest, "create repo: type %q, want dataset", req.Type)
		return
	}
	if req.Organization == nil || !validRepoPart(*req.Organization) || !validRepoPart(req.Name) {
		s.violate(w, http.StatusBadRequest, "create repo: bad name/organization in %s", b)
		return
	}
	private := false
	if req.Visibility != nil {
		switch *req.Visibility {
		case "private":
			private = true
		case "public":
		default:
			s.violate(w, http.StatusBadRequest, "create repo: visibility %q", *req.Visibility)
			return
		}
	}
	if req.Private != nil {
		private = *req.Private
	}
	id := *req.Organization + "/" + req.Name
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.repos[id] != nil {
		writeErr(w, http.StatusConflict, "You already created this dataset repo")
		return
	}
	rp := &repo{id: id, private: private, branches: map[string]string{}, tags: map[string]string{},
		commits: map[string]*commitRec{}, objects: map[string]blob{}, uploads: map[string]int{}, samples: map[string]bool{}}
	ga := []byte("*.parquet filter=lfs diff=lfs merge=lfs -text\n*.mp4 filter=lfs diff=lfs merge=lfs -text\n")
	first := &commitRec{Commit: Commit{Summary: "initial commit", Files: []string{".gitattributes"}},
		tree: map[string]entry{".gitattributes": {oid: gitBlobOID(ga), size: int64(len(ga)), content: ga}}}
	first.OID = s.commitOID(id)
	rp.commits[first.OID] = first
	rp.order = append(rp.order, first.OID)
	rp.branches["main"] = first.OID
	s.repos[id] = rp
	writeJSON(w, map[string]string{"url": base(r) + "/datasets/" + id, "name": id})
}

func (s *Server) commitOID(salt string) string {
	sum := sha1.Sum([]byte(salt + "\x00" + s.newID()))
	return hex.EncodeToString(sum[:])
}

func (s *Server) revision(w http.ResponseWriter, rp *repo, rev string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := rp.resolve(rev)
	if c == nil {
		writeErr(w, http.StatusNotFound, "Invalid rev id: "+rev)
		return
	}
	sib := []map[string]string{}
	for p := range c.tree {
		sib = append(sib, map[string]string{"rfilename": p})
	}
	sort.Slice(sib, func(i, j int) bool { return sib[i]["rfilename"] < sib[j]["rfilename"] })
	writeJSON(w, map[string]any{"id": rp.id, "sha": c.OID, "private": rp.private, "siblings": sib})
}

func (s *Server) branch(w http.ResponseWriter, r *http.Request, rp *repo, name string) {
	b, ok := s.readBody(w, r, "application/json")
	if !ok {
		return
	}
	var req struct {
		StartingPoint *string `json:"startingPoint"`
	}
	if err := decodeStrict(b, &req); err != nil {
		s.violate(w, http.StatusBadRequest, "create branch: %v", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := rp.branches[name]; ok {
		writeErr(w, http.StatusConflict, "Reference already exists")
		return
	}
	from := rp.branches["main"]
	if req.StartingPoint != nil {
		c := rp.resolve(*req.StartingPoint)
		if c == nil {
			writeErr(w, http.StatusNotFound, "Invalid startingPoint")
			return
		}
		from = c.OID
	}
	rp.branches[name] = from
	writeJSON(w, map[string]any{})
}

func (s *Server) refs(w http.ResponseWriter, rp *repo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := func(m map[string]string, prefix string) []map[string]string {
		out := []map[string]string{}
		for n, oid := range m {
			out = append(out, map[string]string{"name": n, "ref": prefix + n, "targetCommit": oid})
		}
		sort.Slice(out, func(i, j int) bool { return out[i]["name"] < out[j]["name"] })
		return out
	}
	writeJSON(w, map[string]any{"branches": list(rp.branches, "refs/heads/"), "converts": []any{},
		"tags": list(rp.tags, "refs/tags/")})
}

func (s *Server) tag(w http.ResponseWriter, r *http.Request, rp *repo, rev string) {
	b, ok := s.readBody(w, r, "application/json")
	if !ok {
		return
	}
	var req struct {
		Tag     string  `json:"tag"`
		Message *string `json:"message"`
	}
	if err := decodeStrict(b, &req); err != nil || req.Tag == "" {
		s.violate(w, http.StatusBadRequest, "create tag: %v: %s", err, b)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := rp.resolve(rev)
	if c == nil {
		writeErr(w, http.StatusNotFound, "Invalid rev id: "+rev)
		return
	}
	if _, ok := rp.tags[req.Tag]; ok {
		writeErr(w, http.StatusConflict, "Tag "+req.Tag+" already exists")
		return
	}
	rp.tags[req.Tag] = c.OID
	writeJSON(w, map[string]any{})
}

func (s *Server) deleteTag(w http.ResponseWriter, rp *repo, tag string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := rp.tags[tag]; !ok {
		writeErr(w, http.StatusNotFound, "Invalid tag: "+tag)
		return
	}
	delete(rp.tags, tag)
	writeJSON(w, map[string]any{})
}

// ---- preupload ----

var lfsExt = map[string]bool{".parquet": true, ".mp4": true, ".arrow": true, ".png": true, ".jpg": true,
	".jpeg": true, ".bin": true, ".safetensors": true, ".zip": true, ".gz": true, ".tar": true, ".npy": true}

func uploadMode(p string, size int64, sample []byte) string {
	switch {
	case size == 0:
		return "regular"
	case lfsExt[strings.ToLower(path.Ext(p))]:
		return "lfs"
	case size > 10<<20:
		return "lfs"
	case size > 1<<20 && bytes.IndexByte(sample, 0) >= 0:
		return "lfs"
	}
	return "regular"
}

func (s *Server) preupload(w http.ResponseWriter, r *http.Request, rp *repo, rev string) {
	b, ok := s.readBody(w, r, "application/json")
	if !ok {
		return
	}
	var req struct {
		Files []struct {
			Path   string `json:"path"`
			Sample string `json:"sample"`
			Size   *int64 `json:"size"`
		} `json:"files"`
		GitIgnore *string `json:"gitIgnore"`
	}
	if err := decodeStrict(b, &req); err != nil {
		s.violate(w, http.StatusBadRequest, "preupload: %v", err)
		return
	}
	if len(req.Files) == 0 || len(req.Files) > 256 {
		s.violate(w, http.StatusBadRequest, "preupload: %d files (1 to 256 per call)", len(req.Files))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	head := rp.resolve(rev)
	if head == nil || rp.branches[rev] == "" {
		writeErr(w, http.StatusNotFound, "Invalid rev id: "+rev)
		return
	}
	seen := map[string]bool{}
	type out struct {
		Path         string  `json:"path"`
		UploadMode   string  `json:"uploadMode"`
		ShouldIgnore bool    `json:"shouldIgnore"`
		OID          *string `json:"oid"`
	}
	var res []out
	for _, f := range req.Files {
		if !cleanRepoPath(f.Path) || seen[f.Path] || f.Size == nil || *f.Size < 0 {
			s.mu.Unlock()
			s.violate(w, http.StatusBadRequest, "preupload: bad or repeated file entry %q", f.Path)
			s.mu.Lock()
			return
		}
		seen[f.Path] = true
		sample, err := base64.StdEncoding.DecodeString(f.Sample)
		if err != nil || int64(len(sample)) != min(*f.Size, 512) {
			s.mu.Unlock()
			s.violate(w, http.StatusBadRequest, "preupload: %s: sample is %d bytes (%v), want the first %d", f.Path, len(sample), err, min(*f.Size, 512))
			s.mu.Lock()
			return
		}
		rp.samples[rev+"\x00"+f.Path+"\x00"+string(sample)] = true
		o := out{Path: f.Path, UploadMode: uploadMode(f.Path, *f.Size, sample)}
		if e, ok := head.tree[f.Path]; ok {
			oid := e.oid
			o.OID = &oid
		}
		res = append(res, o)
	}
	writeJSON(w, map[string]any{"files": res, "commitOid": head.OID})
}

// ---- LFS ----

func (s *Server) batch(w http.ResponseWriter, r *http.Request, rp *repo) {
	if a := r.Header.Get("Accept"); a != "application/vnd.git-lfs+json" {
		s.violate(w, http.StatusBadRequest, "LFS batch: Accept %q", a)
		return
	}
	b, ok := s.readBody(w, r, "application/vnd.git-lfs+json")
	if !ok {
		return
	}
	var req struct {
		Operation string   `json:"operation"`
		Transfers []string `json:"transfers"`
		Objects   []struct {
			OID  string `json:"oid"`
			Size int64  `json:"size"`
		} `json:"objects"`
		HashAlgo string `json:"hash_algo"`
		Ref      *struct {
			Name string `json:"name"`
		} `json:"ref"`
	}
	if err := decodeStrict(b, &req); err != nil {
		s.violate(w, http.StatusBadRequest, "LFS batch: %v", err)
		return
	}
	hasBasic, hasMulti := false, false
	for _, t := range req.Transfers {
		hasBasic = hasBasic || t == "basic"
		hasMulti = hasMulti || t == "multipart"
	}
	if req.Operation != "upload" || !hasBasic || req.HashAlgo != "sha256" || len(req.Objects) == 0 || len(req.Objects) > 256 {
		s.violate(w, http.StatusBadRequest, "LFS batch: bad request %s", b)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.Ref == nil || rp.branches[req.Ref.Name] == "" {
		s.mu.Unlock()
		s.violate(w, http.StatusBadRequest, "LFS batch: ref %v is not a branch", req.Ref)
		s.mu.Lock()
		return
	}
	transfer := "basic"
	seen := map[string]bool{}
	var objs []map[string]any
	for _, o := range req.Objects {
		if !hex64.MatchString(o.OID) || o.Size <= 0 || seen[o.OID] {
			s.mu.Unlock()
			s.violate(w, http.StatusBadRequest, "LFS batch: bad or repeated object %q size %d", o.OID, o.Size)
			s.mu.Lock()
			return
		}
		seen[o.OID] = true
		obj := map[string]any{"oid": o.OID, "size": o.Size}
		if bl, ok := rp.objects[o.OID]; ok && bl.size == o.Size {
			objs = append(objs, obj) // stored: no actions
			continue
		}
		id := s.newID()
		up := &upload{repo: rp.id, oid: o.OID, size: o.Size}
		sig := "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=" + id
		actions := map[string]any{}
		if hasMulti && s.opt.MultipartThreshold > 0 && o.Size >= s.opt.MultipartThreshold {
			transfer = "multipart"
			up.chunk = s.opt.ChunkSize
			up.parts, up.etags = map[int][]byte{}, map[int]string{}
			h := map[string]any{"chunk_size": strconv.FormatInt(up.chunk, 10)}
			nparts := (o.Size + up.chunk - 1) / up.chunk
			for i := int64(1); i <= nparts; i++ {
				h[strconv.FormatInt(i, 10)] = base(r) + "/_s3/part/" + id + "/" + strconv.FormatInt(i, 10) + sig
			}
			actions["upload"] = map[string]any{"href": base(r) + "/_lfs/complete/" + id, "header": h}
		} else {
			actions["upload"] = map[string]any{"href": base(r) + "/_s3/put/" + id + sig}
		}
		if !s.opt.NoVerify {
			actions["verify"] = map[string]any{"href": base(r) + "/datasets/" + rp.id + ".git/info/lfs/objects/verify"}
		}
		s.uploads[id] = up
		obj["actions"] = actions
		objs = append(objs, obj)
	}
	w.Header().Set("Content-Type", "application/vnd.git-lfs+json")
	_ = json.NewEncoder(w).Encode(map[string]any{"transfer": transfer, "objects": objs})
}

func (s *Server) countPut(n int64) {
	s.mu.Lock()
	s.putBytes += n
	total := s.putBytes
	s.mu.Unlock()
	if s.opt.OnPutBytes != nil {
		s.opt.OnPutBytes(total)
	}
}

// put receives a basic upload (partNo 0) or one part of a multipart upload.
func (s *Server) put(w http.ResponseWriter, r *http.Request, id string, partNo int) {
	what := "basic PUT"
	if partNo > 0 {
		what = fmt.Sprintf("part %d PUT", partNo)
	}
	if r.Header.Get("Authorization") != "" {
		s.violate(w, http.StatusBadRequest, "%s: the Hub token was sent to a presigned storage URL", what)
		return
	}
	if r.URL.Query().Get("X-Amz-Signature") != id {
		s.violate(w, http.StatusForbidden, "%s: presigned query lost", what)
		return
	}
	s.mu.Lock()
	up := s.uploads[id]
	s.mu.Unlock()
	if up == nil {
		s.violate(w, http.StatusNotFound, "%s: no upload %s", what, id)
		return
	}
	want := up.size
	if partNo > 0 {
		nparts := int((up.size + up.chunk - 1) / up.chunk)
		if up.chunk == 0 || partNo > nparts {
			s.violate(w, http.StatusBadRequest, "%s: no such part", what)
			return
		}
		want = min(up.chunk, up.size-int64(partNo-1)*up.chunk)
	} else if up.chunk != 0 {
		s.violate(w, http.StatusBadRequest, "%s: object %s was given a multipart action", what, up.oid)
		return
	}
	if len(r.TransferEncoding) > 0 || r.ContentLength != want {
		s.violate(w, http.StatusBadRequest, "%s: Content-Length %d (transfer encoding %v), want %d", what, r.ContentLength, r.TransferEncoding, want)
		return
	}
	// Storage computes an MD5 ETag per part; a basic PUT is checked
	// against its sha256 (the Hub's verify step does that).
	var sum hash.Hash
	if partNo > 0 {
		sum = md5.New()
	} else {
		sum = sha256.New()
	}
	var keep bytes.Buffer
	var dst io.Writer = sum
	if !s.opt.DiscardBlobs || partNo > 0 {
		keep.Grow(int(want))
		dst = io.MultiWriter(sum, &keep)
	}
	got, err := copyCounting(dst, r.Body, s.countPut)
	if err != nil || got != want {
		return // connection cut: the client will try again
	}
	if partNo > 0 {
		etag := `"` + hex.EncodeToString(sum.Sum(nil)) + `"`
		s.mu.Lock()
		up.parts[partNo] = keep.Bytes()
		up.etags[partNo] = etag
		s.mu.Unlock()
		w.Header().Set("ETag", etag)
		w.WriteHeader(http.StatusOK)
		return
	}
	got256 := hex.EncodeToString(sum.Sum(nil))
	if got256 != up.oid {
		s.violate(w, http.StatusBadRequest, "%s: body sha256 %s, want %s", what, got256, up.oid)
		return
	}
	s.store(up, keep.Bytes())
	w.Header().Set("ETag", `"`+got256[:32]+`"`)
	w.WriteHeader(http.StatusOK)
}

func copyCounting(dst io.Writer, src io.Reader, count func(int64)) (int64, error) {
	buf := make([]byte, 256<<10)
	var total int64
	for {
		n, err := src.Read(buf)
		if n > 0 {
			dst.Write(buf[:n])
			total += int64(n)
			count(int64(n))
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

func (s *Server) store(up *upload, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repos[up.repo]
	if s.opt.DiscardBlobs {
		data = nil
	}
	rp.objects[up.oid] = blob{size: up.size, data: data}
	rp.uploads[up.oid]++
}

func (s *Server) complete(w http.ResponseWriter, r *http.Request, id string) {
	if a := r.Header.Get("Accept"); a != "application/vnd.git-lfs+json" {
		s.violate(w, http.StatusBadRequest, "completion: Accept %q", a)
		return
	}
	b, ok := s.readBody(w, r, "application/vnd.git-lfs+json")
	if !ok {
		return
	}
	var req struct {
		OID   string `json:"oid"`
		Parts []struct {
			PartNumber int    `json:"partNumber"`
			ETag       string `json:"etag"`
		} `json:"parts"`
	}
	if err := decodeStrict(b, &req); err != nil {
		s.violate(w, http.StatusBadRequest, "completion: %v: %s", err, b)
		return
	}
	s.mu.Lock()
	up := s.uploads[id]
	s.mu.Unlock()
	if up == nil || up.chunk == 0 {
		s.violate(w, http.StatusNotFound, "completion: no multipart upload %s", id)
		return
	}
	nparts := int((up.size + up.chunk - 1) / up.chunk)
	if req.OID != up.oid || len(req.Parts) != nparts {
		s.violate(w, http.StatusBadRequest, "completion: oid %s with %d parts, want %s with %d", req.OID, len(req.Parts), up.oid, nparts)
		return
	}
	var all bytes.Buffer
	s.mu.Lock()
	for i, p := range req.Parts {
		if p.PartNumber != i+1 || p.ETag == "" || up.etags[i+1] != p.ETag {
			s.mu.Unlock()
			s.violate(w, http.StatusBadRequest, "completion: part %d: number %d etag %q, want %d %q", i+1, p.PartNumber, p.ETag, i+1, up.etags[i+1])
			return
		}
		all.Write(up.parts[i+1])
	}
	s.mu.Unlock()
	sum := sha256.Sum256(all.Bytes())
	if hex.EncodeToString(sum[:]) != up.oid || int64(all.Len()) != up.size {
		s.violate(w, http.StatusBadRequest, "completion: assembled object has sha256 %x and %d bytes, want %s and %d", sum, all.Len(), up.oid, up.size)
		return
	}
	s.store(up, all.Bytes())
	writeJSON(w, map[string]any{})
}

func (s *Server) verify(w http.ResponseWriter, r *http.Request, rp *repo) {
	b, ok := s.readBody(w, r, "application/json")
	if !ok {
		return
	}
	var req struct {
		OID  string `json:"oid"`
		Size int64  `json:"size"`
	}
	if err := decodeStrict(b, &req); err != nil {
		s.violate(w, http.StatusBadRequest, "verify: %v", err)
		return
	}
	s.mu.Lock()
	bl, ok := rp.objects[req.OID]
	s.mu.Unlock()
	if !ok || bl.size != req.Size {
		s.violate(w, http.StatusNotFound, "verify: object %s (%d bytes) was never uploaded", req.OID, req.Size)
		return
	}
	writeJSON(w, map[string]any{"message": "Everything good"})
}

func (s *Server) benchPut(w http.ResponseWriter, r *http.Request, name string) {
	h := sha256.New()
	var dst io.Writer = h
	var keep bytes.Buffer
	if !s.opt.DiscardBlobs {
		if r.ContentLength > 0 {
			keep.Grow(int(r.ContentLength))
		}
		dst = io.MultiWriter(h, &keep)
	}
	if _, err := copyCounting(dst, r.Body, s.countPut); err != nil {
		return
	}
	s.mu.Lock()
	s.bench[name] = hex.EncodeToString(h.Sum(nil))
	s.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
}

// ---- commit ----

func (s *Server) commit(w http.ResponseWriter, r *http.Request, rp *repo, rev string) {
	b, ok := s.readBody(w, r, "application/x-ndjson")
	if !ok {
		return
	}
	lines := bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
	type line struct {
		Key   string          `json:"key"`
		Value json.RawMessage `json:"value"`
	}
	var hdr struct {
		Summary      *string `json:"summary"`
		Description  *string `json:"description"`
		ParentCommit *string `json:"parentCommit"`
	}
	var first line
	if err := decodeStrict(lines[0], &first); err != nil || first.Key != "header" {
		s.violate(w, http.StatusBadRequest, "commit: first NDJSON line is not a header: %v: %.200s", err, lines[0])
		return
	}
	if err := decodeStrict(first.Value, &hdr); err != nil || hdr.Summary == nil || *hdr.Summary == "" || hdr.Description == nil {
		s.violate(w, http.StatusBadRequest, "commit: bad header %s (%v)", first.Value, err)
		return
	}
	if hdr.ParentCommit != nil && !hex40.MatchString(*hdr.ParentCommit) {
		s.violate(w, http.StatusBadRequest, "commit: parentCommit %q", *hdr.ParentCommit)
		return
	}
	type change struct {
		path string
		e    entry
	}
	var changes []change
	seen := map[string]bool{}
	for i, raw := range lines[1:] {
		var l line
		if err := decodeStrict(raw, &l); err != nil {
			s.violate(w, http.StatusBadRequest, "commit: line %d: %v", i+2, err)
			return
		}
		var c change
		switch l.Key {
		case "file":
			var v struct {
				Content  *string `json:"content"`
				Path     string  `json:"path"`
				Encoding string  `json:"encoding"`
			}
			if err := decodeStrict(l.Value, &v); err != nil || v.Content == nil || v.Encoding != "base64" {
				s.violate(w, http.StatusBadRequest, "commit: line %d: bad file entry (%v)", i+2, err)
				return
			}
			content, err := base64.StdEncoding.DecodeString(*v.Content)
			if err != nil {
				s.violate(w, http.StatusBadRequest, "commit: line %d: content is not base64: %v", i+2, err)
				return
			}
			if len(content) > 10<<20 {
				s.violate(w, http.StatusBadRequest, "commit: %s: regular file of %d bytes (over 10 MiB)", v.Path, len(content))
				return
			}
			c = change{path: v.Path, e: entry{oid: gitBlobOID(content), size: int64(len(content)), content: content}}
		case "lfsFile":
			var v struct {
				Path string `json:"path"`
				Algo string `json:"algo"`
				OID  string `json:"oid"`
				Size *int64 `json:"size"`
			}
			if err := decodeStrict(l.Value, &v); err != nil || v.Algo != "sha256" || !hex64.MatchString(v.OID) || v.Size == nil {
				s.violate(w, http.StatusBadRequest, "commit: line %d: bad lfsFile entry %s (%v)", i+2, l.Value, err)
				return
			}
			s.mu.Lock()
			bl, ok := rp.objects[v.OID]
			s.mu.Unlock()
			if !ok || bl.size != *v.Size {
				s.violate(w, http.StatusUnprocessableEntity, "commit: %s: LFS object %s (%d bytes) was never uploaded", v.Path, v.OID, *v.Size)
				return
			}
			c = change{path: v.Path, e: entry{lfs: true, oid: v.OID, size: *v.Size}}
		default:
			s.violate(w, http.StatusBadRequest, "commit: line %d: key %q", i+2, l.Key)
			return
		}
		if !cleanRepoPath(c.path) || seen[c.path] {
			s.violate(w, http.StatusBadRequest, "commit: bad or repeated path %q", c.path)
			return
		}
		seen[c.path] = true
		changes = append(changes, c)
	}
	if len(changes) == 0 {
		s.violate(w, http.StatusBadRequest, "commit: no files")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	headOID, ok := rp.branches[rev]
	if !ok {
		writeErr(w, http.StatusNotFound, "Invalid rev id: "+rev)
		return
	}
	// Each file must have been preuploaded, with a sample that matches.
	for _, c := range changes {
		var prefix []byte
		if c.e.lfs {
			prefix = rp.objects[c.e.oid].data
		} else {
			prefix = c.e.content
		}
		prefix = prefix[:min(len(prefix), 512)]
		ok := rp.samples[rev+"\x00"+c.path+"\x00"+string(prefix)]
		if c.e.lfs && s.opt.DiscardBlobs {
			ok = true // content not kept: nothing to compare
		}
		if !ok {
			s.mu.Unlock()
			s.violate(w, http.StatusBadRequest, "commit: %s was not preuploaded, or its preupload sample differs from its content", c.path)
			s.mu.Lock()
			return
		}
	}
	if hdr.ParentCommit != nil && *hdr.ParentCommit != headOID {
		writeErr(w, http.StatusPreconditionFailed, "A commit has happened since. Please refresh and try again.")
		return
	}
	nc := &commitRec{Commit: Commit{Parent: headOID, Summary: *hdr.Summary, Description: *hdr.Description, ByClient: true},
		tree: map[string]entry{}}
	for p, e := range rp.commits[headOID].tree {
		nc.tree[p] = e
	}
	for _, c := range changes {
		nc.tree[c.path] = c.e
		nc.Files = append(nc.Files, c.path)
	}
	nc.OID = s.commitOID(rp.id)
	rp.commits[nc.OID] = nc
	rp.order = append(rp.order, nc.OID)
	rp.branches[rev] = nc.OID
	writeJSON(w, map[string]any{"success": true, "commitOid": nc.OID,
		"commitUrl": base(r) + "/datasets/" + rp.id + "/commit/" + nc.OID})
}
