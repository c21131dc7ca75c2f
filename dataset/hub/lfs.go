package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// lfsPlan is what the LFS batch endpoint says to do with one object.
type lfsPlan struct {
	LFSObject
	Present   bool     // no actions: the Hub already stores it
	Href      string   // basic: where to PUT; multipart: the completion URL
	ChunkSize int64    // > 0: multipart
	PartURLs  []string // multipart: presigned URL of part i+1
	VerifyURL string   // "" if no verify action
}

// parseBatch checks an LFS batch answer against the objects asked for and
// returns one plan per object, in the order asked. An object the Hub
// rejects (an "error" entry) fails the whole batch with its message.
func parseBatch(b []byte, asked []LFSObject) ([]lfsPlan, error) {
	type action struct {
		Href   string         `json:"href"`
		Header map[string]any `json:"header"`
	}
	var resp struct {
		Transfer string `json:"transfer"`
		Objects  []struct {
			OID     *string `json:"oid"`
			Size    *int64  `json:"size"`
			Actions *struct {
				Upload *action `json:"upload"`
				Verify *action `json:"verify"`
			} `json:"actions"`
			Error *struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		} `json:"objects"`
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		return nil, fmt.Errorf("%w: LFS batch: %w", ErrProtocol, err)
	}
	if resp.Objects == nil {
		return nil, fmt.Errorf("%w: LFS batch: no objects", ErrProtocol)
	}
	if resp.Transfer != "" && resp.Transfer != "basic" && resp.Transfer != "multipart" {
		return nil, fmt.Errorf("%w: LFS batch: transfer %q (this client speaks basic and multipart)", ErrProtocol, resp.Transfer)
	}
	plans := make(map[string]lfsPlan, len(resp.Objects))
	for _, o := range resp.Objects {
		if o.OID == nil || o.Size == nil {
			return nil, fmt.Errorf("%w: LFS batch: object without oid or size", ErrProtocol)
		}
		p := lfsPlan{LFSObject: LFSObject{OID: *o.OID, Size: *o.Size}}
		if o.Error != nil {
			return nil, fmt.Errorf("%w: LFS batch refused object %s (%d bytes): %d %s", ErrProtocol, p.OID, p.Size, o.Error.Code, o.Error.Message)
		}
		switch {
		case o.Actions == nil || o.Actions.Upload == nil && o.Actions.Verify == nil:
			p.Present = true
		case o.Actions.Upload == nil:
			// Only "verify": the bytes are there; verifying is harmless.
			p.Present = true
		default:
			up := o.Actions.Upload
			if up.Href == "" {
				return nil, fmt.Errorf("%w: LFS batch: object %s: upload action without href", ErrProtocol, p.OID)
			}
			p.Href = up.Href
			if cs, ok := up.Header["chunk_size"]; ok {
				n, err := headerInt(cs)
				if err != nil || n <= 0 {
					return nil, fmt.Errorf("%w: LFS batch: object %s: chunk_size %v", ErrProtocol, p.OID, cs)
				}
				p.ChunkSize = n
				urls, err := partURLs(up.Header, p.Size, n)
				if err != nil {
					return nil, fmt.Errorf("%w: LFS batch: object %s: %w", ErrProtocol, p.OID, err)
				}
				p.PartURLs = urls
			}
			if v := o.Actions.Verify; v != nil {
				if v.Href == "" {
					return nil, fmt.Errorf("%w: LFS batch: object %s: verify action without href", ErrProtocol, p.OID)
				}
				p.VerifyURL = v.Href
			}
		}
		plans[p.OID] = p
	}
	out := make([]lfsPlan, len(asked))
	for i, a := range asked {
		p, ok := plans[a.OID]
		if !ok {
			return nil, fmt.Errorf("%w: LFS batch: no answer for object %s", ErrProtocol, a.OID)
		}
		if p.Size != a.Size {
			return nil, fmt.Errorf("%w: LFS batch: object %s has size %d, asked %d", ErrProtocol, a.OID, p.Size, a.Size)
		}
		out[i] = p
	}
	return out, nil
}

func headerInt(v any) (int64, error) {
	switch x := v.(type) {
	case string:
		return strconv.ParseInt(x, 10, 64)
	case float64:
		if x != float64(int64(x)) {
			return 0, fmt.Errorf("not an integer: %v", x)
		}
		return int64(x), nil
	}
	return 0, fmt.Errorf("not an integer: %v", v)
}

// partURLs collects the numbered part URLs of a multipart action and
// checks there are exactly ceil(size/chunk) of them, numbered 1..n.
func partURLs(h map[string]any, size, chunk int64) ([]string, error) {
	type part struct {
		n   int
		url string
	}
	var parts []part
	for k, v := range h {
		if k == "" || strings.TrimLeft(k, "0123456789") != "" {
			continue
		}
		n, err := strconv.Atoi(k)
		if err != nil {
			return nil, fmt.Errorf("part number %q", k)
		}
		u, ok := v.(string)
		if !ok || u == "" {
			return nil, fmt.Errorf("part %d has no URL", n)
		}
		parts = append(parts, part{n, u})
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].n < parts[j].n })
	want := (size + chunk - 1) / chunk
	if int64(len(parts)) != want {
		return nil, fmt.Errorf("%d part URLs for %d bytes in chunks of %d (want %d)", len(parts), size, chunk, want)
	}
	urls := make([]string, len(parts))
	for i, p := range parts {
		if p.n != i+1 {
			return nil, fmt.Errorf("parts are not numbered 1..%d", want)
		}
		urls[i] = p.url
	}
	return urls, nil
}

// lfsBatch asks the batch endpoint what to do with objs (at most
// [LFSBatchMax]).
func (c *Client) lfsBatch(ctx context.Context, repo RepoID, revision string, objs []LFSObject) ([]lfsPlan, error) {
	req := struct {
		Operation string      `json:"operation"`
		Transfers []string    `json:"transfers"`
		Objects   []LFSObject `json:"objects"`
		HashAlgo  string      `json:"hash_algo"`
		Ref       struct {
			Name string `json:"name"`
		} `json:"ref"`
	}{Operation: "upload", Transfers: []string{"basic", "multipart"}, Objects: objs, HashAlgo: "sha256"}
	req.Ref.Name = revision
	_, b, err := c.doRetry(ctx, apiCall{op: "LFS batch", method: http.MethodPost,
		url:  c.endpoint + "/datasets/" + repo.String() + ".git/info/lfs/objects/batch",
		body: marshal(req), contentType: lfsMediaType, accept: lfsMediaType})
	if err != nil {
		return nil, err
	}
	return parseBatch(b, objs)
}

// put sends n bytes of src from off to a presigned URL, without the Hub
// token, retrying on failure, and returns the response's ETag.
func (c *Client) put(ctx context.Context, op, u string, src *source, off, n int64, m *meter) (string, error) {
	var etag string
	err := c.withRetry(ctx, op, func(ctx context.Context) error {
		var err error
		etag, err = c.putOnce(ctx, op, u, src, off, n, m)
		return err
	})
	return etag, err
}

func (c *Client) putOnce(ctx context.Context, op, u string, src *source, off, n int64, m *meter) (string, error) {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := time.AfterFunc(c.stall, func() { cancel(errStall) })
	defer stall.Stop()
	progress := func() { stall.Reset(c.stall) }
	var body putBody
	if f, err := src.file(); err != nil {
		return "", err
	} else if f != nil && m.lim == nil {
		defer f.Close()
		fb, err := newFileBody(f, off, n, m, progress)
		if err != nil {
			return "", err
		}
		body = fb
	} else {
		ra, closer, err := src.open()
		if err != nil {
			return "", err
		}
		defer closer.Close()
		if f != nil {
			f.Close()
		}
		body = &meterReader{r: io.NewSectionReader(ra, off, n), ctx: actx, m: m, onRead: func(int) { progress() }}
	}
	// Bytes of a failed attempt will be sent again: take them back.
	fail := func(err error) (string, error) {
		m.uploaded(-body.stop())
		if context.Cause(actx) == errStall && ctx.Err() == nil {
			return "", fmt.Errorf("%w: no byte moved for %v: %w", errStall, c.stall, err)
		}
		return "", err
	}
	req, err := http.NewRequestWithContext(actx, http.MethodPut, u, body)
	if err != nil {
		return fail(fmt.Errorf("hub: %s: %w", op, err))
	}
	req.ContentLength = n
	if n == 0 {
		req.Body = http.NoBody
	}
	req.Header.Set("User-Agent", c.ua)
	resp, err := c.hc.Do(req)
	if err != nil {
		return fail(c.wrapTransport(ctx, op, http.MethodPut, u, err))
	}
	defer resp.Body.Close()
	if !is2xx(resp.StatusCode) {
		return fail(httpError(op, http.MethodPut, u, resp))
	}
	if got := body.stop(); got != n {
		m.uploaded(-got)
		return "", fmt.Errorf("%w: %s: the server answered %d after %d of %d bytes", ErrProtocol, op, resp.StatusCode, got, n)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.Header.Get("ETag"), nil
}

// putBody is a PUT request body that counts what the transport took.
type putBody interface {
	io.Reader
	// stop ends the counting and returns the bytes counted.
	stop() int64
}

// fileBody is a section of a file as a request body. It implements
// syscall.Conn, so the transport sends it with sendfile(2) straight from
// the page cache; since no Read call then sees the bytes, progress is read
// from the file offset, which sendfile advances.
type fileBody struct {
	f        *os.File
	start    int64
	end      int64
	m        *meter
	progress func()
	done     chan struct{}

	mu      sync.Mutex
	counted int64
	stopped bool
}

func newFileBody(f *os.File, off, n int64, m *meter, progress func()) (*fileBody, error) {
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	b := &fileBody{f: f, start: off, end: off + n, m: m, progress: progress, done: make(chan struct{})}
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-b.done:
				return
			case <-t.C:
				b.update()
			}
		}
	}()
	return b, nil
}

// Read implements io.Reader (the transport's buffered first bytes, or the
// whole body when it cannot use sendfile).
func (b *fileBody) Read(p []byte) (int, error) {
	pos, err := b.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	if pos >= b.end {
		return 0, io.EOF
	}
	if int64(len(p)) > b.end-pos {
		p = p[:b.end-pos]
	}
	n, err := b.f.Read(p)
	b.update()
	return n, err
}

// Close implements io.Closer; it does nothing (the uploader closes the
// file). Being an io.ReadCloser keeps net/http from wrapping the body, so
// it can see SyscallConn.
func (b *fileBody) Close() error { return nil }

// SyscallConn implements syscall.Conn, letting the transport use sendfile.
func (b *fileBody) SyscallConn() (syscall.RawConn, error) { return b.f.SyscallConn() }

func (b *fileBody) update() {
	pos, err := b.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return
	}
	if d := pos - b.start - b.counted; d > 0 {
		b.counted += d
		b.m.uploaded(d)
		b.progress()
	}
}

func (b *fileBody) stop() int64 {
	b.update()
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.stopped {
		b.stopped = true
		close(b.done)
	}
	return b.counted
}

// complete finishes a multipart upload: it posts the parts' ETags to the
// completion URL the batch gave (with the LFS headers, as the reference
// client does).
func (c *Client) complete(ctx context.Context, p lfsPlan, etags []string) error {
	type part struct {
		PartNumber int    `json:"partNumber"`
		ETag       string `json:"etag"`
	}
	body := struct {
		OID   string `json:"oid"`
		Parts []part `json:"parts"`
	}{OID: p.OID, Parts: make([]part, len(etags))}
	for i, e := range etags {
		body.Parts[i] = part{i + 1, e}
	}
	_, _, err := c.doRetry(ctx, apiCall{op: "LFS multipart completion", method: http.MethodPost, url: p.Href,
		body: marshal(body), contentType: lfsMediaType, accept: lfsMediaType, noAuth: true})
	return err
}

// verify tells the Hub an object's upload is finished.
func (c *Client) verify(ctx context.Context, p lfsPlan) error {
	if p.VerifyURL == "" {
		return nil
	}
	_, _, err := c.doRetry(ctx, apiCall{op: "LFS verify", method: http.MethodPost, url: p.VerifyURL,
		body: marshal(p.LFSObject), contentType: "application/json"})
	return err
}
