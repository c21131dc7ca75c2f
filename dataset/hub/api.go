package hub

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

const (
	lfsMediaType = "application/vnd.git-lfs+json"
	// PreuploadBatch is the most files one preupload call may carry.
	PreuploadBatch = 256
	// LFSBatchMax is the most objects one LFS batch call may carry.
	LFSBatchMax = 256
)

func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only plain structs of strings, numbers and slices get here.
		panic("hub: marshal: " + err.Error())
	}
	return b
}

// CreateRepo creates the dataset repository; an existing one is fine
// (its visibility is left alone). private=false leaves the visibility to
// the Hub's default for the namespace (public for users).
func (c *Client) CreateRepo(ctx context.Context, repo RepoID, private bool) error {
	body := map[string]any{"name": repo.Name, "organization": repo.Namespace, "type": "dataset"}
	if private {
		body["visibility"] = "private"
	}
	a := apiCall{op: "create repo", method: http.MethodPost, url: c.endpoint + "/api/repos/create",
		body: marshal(body), contentType: "application/json",
		ok: func(s int) bool { return is2xx(s) || s == http.StatusConflict }}
	for range 10 {
		status, b, err := c.doRetry(ctx, a)
		if err != nil {
			return err
		}
		if status != http.StatusConflict || !bytes.Contains(b, []byte("another conflicting operation is in progress")) {
			return nil
		}
		// The Hub serialises repo creation per user; wait and try again.
		if err := sleep(ctx, time.Second); err != nil {
			return fmt.Errorf("hub: create repo: %w", err)
		}
	}
	return fmt.Errorf("hub: create repo %s: the Hub kept answering \"another conflicting operation is in progress\"", repo)
}

// CreateBranch creates a branch, from startingPoint ("" for the head of
// main); an existing branch is fine.
func (c *Client) CreateBranch(ctx context.Context, repo RepoID, branch, startingPoint string) error {
	body := map[string]any{}
	if startingPoint != "" {
		body["startingPoint"] = startingPoint
	}
	_, _, err := c.doRetry(ctx, apiCall{op: "create branch", method: http.MethodPost,
		url: c.apiURL(repo, "branch", quote(branch)), body: marshal(body), contentType: "application/json",
		ok: func(s int) bool { return is2xx(s) || s == http.StatusConflict }})
	return err
}

// RevisionSHA returns the commit a revision (branch, tag or commit)
// points to.
func (c *Client) RevisionSHA(ctx context.Context, repo RepoID, revision string) (string, error) {
	_, b, err := c.doRetry(ctx, apiCall{op: "repo info", method: http.MethodGet, url: c.apiURL(repo, "revision", quote(revision))})
	if err != nil {
		return "", err
	}
	var info struct {
		SHA string `json:"sha"`
	}
	if err := json.Unmarshal(b, &info); err != nil || !isHex(info.SHA, 40) {
		return "", fmt.Errorf("%w: repo info for %s@%s has no commit sha", ErrProtocol, repo, revision)
	}
	return info.SHA, nil
}

// Ref is a branch or tag of a repository.
type Ref struct {
	Name         string `json:"name"`
	Ref          string `json:"ref"`
	TargetCommit string `json:"targetCommit"`
}

// Refs lists a repository's branches and tags.
type Refs struct {
	Branches []Ref `json:"branches"`
	Tags     []Ref `json:"tags"`
}

// ListRefs returns the repository's branches and tags (what LeRobot reads
// to choose the dataset version).
func (c *Client) ListRefs(ctx context.Context, repo RepoID) (Refs, error) {
	var r Refs
	_, b, err := c.doRetry(ctx, apiCall{op: "list refs", method: http.MethodGet, url: c.apiURL(repo, "refs")})
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%w: refs of %s: %w", ErrProtocol, repo, err)
	}
	return r, nil
}

// ErrTagExists is returned by CreateTag when the tag is already there.
var ErrTagExists = errors.New("hub: tag already exists")

// CreateTag tags revision (a branch or a commit sha). An existing tag of
// that name gives an error wrapping [ErrTagExists].
func (c *Client) CreateTag(ctx context.Context, repo RepoID, revision, tag, message string) error {
	body := map[string]any{"tag": tag}
	if message != "" {
		body["message"] = message
	}
	status, _, err := c.doRetry(ctx, apiCall{op: "create tag", method: http.MethodPost,
		url: c.apiURL(repo, "tag", quote(revision)), body: marshal(body), contentType: "application/json",
		ok: func(s int) bool { return is2xx(s) || s == http.StatusConflict }})
	if err != nil {
		return err
	}
	if status == http.StatusConflict {
		return fmt.Errorf("%w: %s on %s", ErrTagExists, tag, repo)
	}
	return nil
}

// DeleteTag deletes a tag; a missing tag is fine.
func (c *Client) DeleteTag(ctx context.Context, repo RepoID, tag string) error {
	_, _, err := c.doRetry(ctx, apiCall{op: "delete tag", method: http.MethodDelete, url: c.apiURL(repo, "tag", quote(tag)),
		ok: func(s int) bool { return is2xx(s) || s == http.StatusNotFound }})
	return err
}

// PreuploadFile describes one file to the preupload call.
type PreuploadFile struct {
	Path   string // path in the repository, slash-separated
	Size   int64  // bytes
	Sample []byte // the first 512 bytes (fewer for a smaller file)
}

// PreuploadResult is the Hub's answer for one file.
type PreuploadResult struct {
	Path         string `json:"path"`
	UploadMode   string `json:"uploadMode"` // "lfs" or "regular"
	ShouldIgnore bool   `json:"shouldIgnore"`
	// OID is the content id of the file already at that path on the
	// revision ("" if none): the sha256 of an LFS file, the git blob
	// sha1 of a regular one.
	OID string `json:"oid"`
}

// Preupload asks which of files go through LFS, in calls of at most
// [PreuploadBatch] files. The answers come back in the order of files.
// Empty files are always "regular" (storage refuses empty LFS objects).
func (c *Client) Preupload(ctx context.Context, repo RepoID, revision string, files []PreuploadFile) ([]PreuploadResult, error) {
	type item struct {
		Path   string `json:"path"`
		Sample string `json:"sample"`
		Size   int64  `json:"size"`
	}
	out := make([]PreuploadResult, 0, len(files))
	for start := 0; start < len(files); start += PreuploadBatch {
		chunk := files[start:min(start+PreuploadBatch, len(files))]
		req := struct {
			Files []item `json:"files"`
		}{Files: make([]item, len(chunk))}
		for i, f := range chunk {
			s := f.Sample
			if len(s) > 512 {
				s = s[:512]
			}
			req.Files[i] = item{Path: f.Path, Sample: base64.StdEncoding.EncodeToString(s), Size: f.Size}
		}
		_, b, err := c.doRetry(ctx, apiCall{op: "preupload", method: http.MethodPost,
			url: c.apiURL(repo, "preupload", quote(revision)), body: marshal(req), contentType: "application/json"})
		if err != nil {
			return nil, err
		}
		res, err := parsePreupload(b, chunk)
		if err != nil {
			return nil, err
		}
		out = append(out, res...)
	}
	return out, nil
}

// parsePreupload checks the preupload answer covers exactly the files
// asked about and orders it like them.
func parsePreupload(b []byte, asked []PreuploadFile) ([]PreuploadResult, error) {
	var resp struct {
		Files []struct {
			Path         string  `json:"path"`
			UploadMode   string  `json:"uploadMode"`
			ShouldIgnore bool    `json:"shouldIgnore"`
			OID          *string `json:"oid"`
		} `json:"files"`
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		return nil, fmt.Errorf("%w: preupload: %w", ErrProtocol, err)
	}
	byPath := make(map[string]PreuploadResult, len(resp.Files))
	for _, f := range resp.Files {
		if f.UploadMode != "lfs" && f.UploadMode != "regular" {
			return nil, fmt.Errorf("%w: preupload: %s: upload mode %q", ErrProtocol, f.Path, f.UploadMode)
		}
		r := PreuploadResult{Path: f.Path, UploadMode: f.UploadMode, ShouldIgnore: f.ShouldIgnore}
		if f.OID != nil {
			r.OID = strings.ToLower(*f.OID)
		}
		byPath[f.Path] = r
	}
	out := make([]PreuploadResult, len(asked))
	for i, f := range asked {
		r, ok := byPath[f.Path]
		if !ok {
			return nil, fmt.Errorf("%w: preupload: no answer for %s", ErrProtocol, f.Path)
		}
		if f.Size == 0 {
			r.UploadMode = "regular"
		}
		out[i] = r
	}
	return out, nil
}

// LFSObject names one LFS object: its sha256 (hex) and size.
type LFSObject struct {
	OID  string `json:"oid"`
	Size int64  `json:"size"`
}

// CommitOp adds or replaces one file in a commit: Content for a regular
// file (sent inline, base64), LFS for a file whose bytes were uploaded
// through LFS.
type CommitOp struct {
	Path    string
	Content []byte
	LFS     *LFSObject
}

// CommitRequest is one commit.
type CommitRequest struct {
	Summary     string
	Description string
	// ParentCommit, when set, makes the Hub refuse the commit if the
	// branch head moved (a concurrent commit, or this very commit made by
	// an attempt whose answer was lost).
	ParentCommit string
	Ops          []CommitOp
}

// CommitInfo is the Hub's answer to a commit.
type CommitInfo struct {
	CommitURL string `json:"commitUrl"`
	CommitOID string `json:"commitOid"`
}

// ndjson renders the commit body: a header line, then one line per file.
func (r CommitRequest) ndjson() []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	type header struct {
		Summary      string `json:"summary"`
		Description  string `json:"description"`
		ParentCommit string `json:"parentCommit,omitempty"`
	}
	type file struct {
		Content  string `json:"content"`
		Path     string `json:"path"`
		Encoding string `json:"encoding"`
	}
	type lfsFile struct {
		Path string `json:"path"`
		Algo string `json:"algo"`
		OID  string `json:"oid"`
		Size int64  `json:"size"`
	}
	type line struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	}
	must := func(err error) {
		if err != nil {
			panic("hub: encode commit: " + err.Error())
		}
	}
	must(enc.Encode(line{"header", header{r.Summary, r.Description, r.ParentCommit}}))
	for _, op := range r.Ops {
		if op.LFS != nil {
			must(enc.Encode(line{"lfsFile", lfsFile{Path: op.Path, Algo: "sha256", OID: op.LFS.OID, Size: op.LFS.Size}}))
			continue
		}
		must(enc.Encode(line{"file", file{Content: base64.StdEncoding.EncodeToString(op.Content), Path: op.Path, Encoding: "base64"}}))
	}
	return buf.Bytes()
}

// Commit sends one NDJSON commit to revision (a branch). It makes exactly
// one attempt: a commit whose answer was lost may still have landed, so
// blind retries could commit twice. [Client.Upload] retries safely by
// asking the Hub what it has first.
func (c *Client) Commit(ctx context.Context, repo RepoID, revision string, req CommitRequest) (CommitInfo, error) {
	var info CommitInfo
	_, b, err := c.do(ctx, apiCall{op: "commit", method: http.MethodPost, url: c.apiURL(repo, "commit", quote(revision)),
		body: req.ndjson(), contentType: "application/x-ndjson"})
	if err != nil {
		return info, err
	}
	if err := json.Unmarshal(b, &info); err != nil || info.CommitOID == "" {
		return info, fmt.Errorf("%w: commit answer has no commitOid: %.200s", ErrProtocol, b)
	}
	return info, nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
