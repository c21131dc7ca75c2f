package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config configures a [Client]. Only Token is required.
type Config struct {
	// Endpoint is the Hub's base URL; default [DefaultEndpoint]
	// (use [EndpointFromEnv] to honour HF_ENDPOINT).
	Endpoint string
	// Token authorises every Hub API call. It is never sent to the
	// presigned storage URLs the Hub hands out.
	Token Token
	// HTTPClient carries every request; default: a dedicated transport
	// with no overall timeout (transfers are bounded by StallTimeout).
	HTTPClient *http.Client
	// UserAgent is sent with every request; default "anther-hub".
	UserAgent string
	// Logger receives retries and progress at debug level; default
	// slog.Default().
	Logger *slog.Logger
	// Retry bounds the retries of failed requests.
	Retry RetryPolicy
	// RequestTimeout bounds each attempt of an API call; default 2 min.
	RequestTimeout time.Duration
	// StallTimeout cancels (and retries) a transfer attempt during which
	// no byte moved for this long; default 2 min.
	StallTimeout time.Duration
}

// RetryPolicy is the exponential backoff applied to requests that fail
// with a timeout, a dropped connection, 408, 429 or 5xx.
type RetryPolicy struct {
	// MaxRetries is the number of retries after the first attempt;
	// 0 means the default (8), a negative value means none.
	MaxRetries int
	// BaseDelay is the first wait; default 1 s. Each retry doubles it
	// (with jitter) up to MaxDelay.
	BaseDelay time.Duration
	// MaxDelay caps the backoff; default 30 s.
	MaxDelay time.Duration
	// MaxRetryAfter caps how long a Retry-After header may make the
	// client wait; default 10 min.
	MaxRetryAfter time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	switch {
	case p.MaxRetries == 0:
		p.MaxRetries = 8
	case p.MaxRetries < 0:
		p.MaxRetries = 0
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = time.Second
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 30 * time.Second
	}
	if p.MaxDelay < p.BaseDelay {
		p.MaxDelay = p.BaseDelay
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = 10 * time.Minute
	}
	return p
}

// Client talks to one Hub endpoint with one token. It is safe for
// concurrent use.
type Client struct {
	endpoint   string
	token      Token
	hc         *http.Client
	ua         string
	log        *slog.Logger
	retry      RetryPolicy
	reqTimeout time.Duration
	stall      time.Duration
}

// NewClient checks cfg and returns a client. It makes no request.
func NewClient(cfg Config) (*Client, error) {
	if cfg.Token.IsZero() {
		return nil, fmt.Errorf("%w: Config.Token is empty", ErrNoToken)
	}
	ep := strings.TrimRight(cfg.Endpoint, "/")
	if ep == "" {
		ep = DefaultEndpoint
	}
	if !strings.HasPrefix(ep, "http://") && !strings.HasPrefix(ep, "https://") {
		return nil, fmt.Errorf("hub: endpoint %q is not an http(s) URL", ep)
	}
	c := &Client{
		endpoint: ep, token: cfg.Token, hc: cfg.HTTPClient, ua: cfg.UserAgent, log: cfg.Logger,
		retry: cfg.Retry.withDefaults(), reqTimeout: cfg.RequestTimeout, stall: cfg.StallTimeout,
	}
	if c.hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 16
		tr.WriteBufferSize = 256 << 10
		tr.ReadBufferSize = 64 << 10
		c.hc = &http.Client{Transport: tr}
	}
	if c.ua == "" {
		c.ua = "anther-hub"
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.reqTimeout <= 0 {
		c.reqTimeout = 2 * time.Minute
	}
	if c.stall <= 0 {
		c.stall = 2 * time.Minute
	}
	return c, nil
}

// Endpoint returns the Hub base URL the client talks to.
func (c *Client) Endpoint() string { return c.endpoint }

// RepoURL returns the web address of a dataset repository.
func (c *Client) RepoURL(repo RepoID) string { return c.endpoint + "/datasets/" + repo.String() }

func (c *Client) apiURL(repo RepoID, parts ...string) string {
	var b strings.Builder
	b.WriteString(c.endpoint)
	b.WriteString("/api/datasets/")
	b.WriteString(repo.String())
	for _, p := range parts {
		b.WriteByte('/')
		b.WriteString(p)
	}
	return b.String()
}

// quote percent-encodes every byte but the unreserved ones, as Python's
// urllib.parse.quote(s, safe="") does for revisions in URL paths.
func quote(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// stripQuery drops the query of a URL for messages: presigned storage
// URLs carry their signature there.
func stripQuery(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}

// transportError is a request that got no HTTP answer (connection refused,
// dropped, reset, timed out). Its message names the URL without the query.
type transportError struct {
	op, method, url string
	err             error
}

func (e *transportError) Error() string {
	return fmt.Sprintf("hub: %s: %s %s: %v", e.op, e.method, e.url, e.err)
}

func (e *transportError) Unwrap() error { return e.err }

// apiCall is one HTTP request to the Hub's API.
type apiCall struct {
	op          string
	method      string
	url         string
	body        []byte // nil: no body
	contentType string
	accept      string
	noAuth      bool
	ok          func(status int) bool // default: 2xx
}

// do performs a once and returns the status and body of an accepted
// response (the body is read fully, at most 64 MiB).
func (c *Client) do(ctx context.Context, a apiCall) (int, []byte, error) {
	actx, cancel := context.WithTimeout(ctx, c.reqTimeout)
	defer cancel()
	var body io.Reader
	if a.body != nil {
		body = bytes.NewReader(a.body)
	}
	req, err := http.NewRequestWithContext(actx, a.method, a.url, body)
	if err != nil {
		return 0, nil, fmt.Errorf("hub: %s: %w", a.op, err)
	}
	req.Header.Set("User-Agent", c.ua)
	if !a.noAuth {
		req.Header.Set("Authorization", "Bearer "+c.token.value)
	}
	if a.contentType != "" {
		req.Header.Set("Content-Type", a.contentType)
	}
	if a.accept != "" {
		req.Header.Set("Accept", a.accept)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, c.wrapTransport(ctx, a.op, a.method, a.url, err)
	}
	defer resp.Body.Close()
	ok := a.ok
	if ok == nil {
		ok = is2xx
	}
	if !ok(resp.StatusCode) {
		return resp.StatusCode, nil, httpError(a.op, a.method, a.url, resp)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, nil, c.wrapTransport(ctx, a.op, a.method, a.url, err)
	}
	return resp.StatusCode, b, nil
}

// doRetry is do with retries of transient failures.
func (c *Client) doRetry(ctx context.Context, a apiCall) (status int, body []byte, err error) {
	err = c.withRetry(ctx, a.op, func(ctx context.Context) error {
		status, body, err = c.do(ctx, a)
		return err
	})
	return status, body, err
}

func is2xx(code int) bool { return code >= 200 && code < 300 }

func (c *Client) wrapTransport(ctx context.Context, op, method, u string, err error) error {
	if ctx.Err() != nil {
		// The caller's context ended: report that, not a network error.
		return fmt.Errorf("hub: %s: %w", op, context.Cause(ctx))
	}
	// *url.Error repeats the full URL (with any presigned query): keep
	// only what went wrong.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &transportError{op: op, method: method, url: stripQuery(u), err: err}
}

// httpError reads the error text of a failed response.
func httpError(op, method, u string, resp *http.Response) error {
	e := &HTTPError{Op: op, Method: method, URL: stripQuery(u), Status: resp.StatusCode,
		RequestID: resp.Header.Get("X-Request-Id")}
	if ra, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
		e.RetryAfter = ra
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	var j struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	switch {
	case resp.Header.Get("X-Error-Message") != "":
		e.Message = resp.Header.Get("X-Error-Message")
	case json.Unmarshal(b, &j) == nil && (j.Error != "" || j.Message != ""):
		e.Message = j.Error
		if e.Message == "" {
			e.Message = j.Message
		}
	default:
		e.Message = strings.TrimSpace(string(b))
		if len(e.Message) > 300 {
			e.Message = e.Message[:300] + "…"
		}
	}
	return e
}

// withRetry runs f until it succeeds, fails for good, or the retries are
// spent, waiting with exponential backoff (or the server's Retry-After)
// in between.
func (c *Client) withRetry(ctx context.Context, op string, f func(context.Context) error) error {
	delay := c.retry.BaseDelay
	for attempt := 0; ; attempt++ {
		err := f(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || !IsTransient(err) || attempt >= c.retry.MaxRetries {
			return err
		}
		wait := delay/2 + rand.N(delay/2+1)
		var he *HTTPError
		if errors.As(err, &he) && he.RetryAfter > 0 {
			wait = min(he.RetryAfter, c.retry.MaxRetryAfter)
		}
		c.log.Warn("hub: retrying", "op", op, "retry", attempt+1, "of", c.retry.MaxRetries, "in", wait, "err", err)
		if serr := sleep(ctx, wait); serr != nil {
			return fmt.Errorf("%w (gave up waiting to retry: %w)", err, serr)
		}
		delay = min(2*delay, c.retry.MaxDelay)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// ParseRetryAfter reads a Retry-After header value: delay-seconds or an
// HTTP date (relative to now). It reports false for an empty or malformed
// value; negative delays and dates in the past give 0.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}
