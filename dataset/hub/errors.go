package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrNoToken means no Hugging Face token was found; the message names
	// every place that was looked at.
	ErrNoToken = errors.New("hub: no Hugging Face token")
	// ErrInvalidRepoID means a repo id is not "namespace/name" with the
	// Hub's allowed characters.
	ErrInvalidRepoID = errors.New("hub: invalid repo id")
	// ErrInvalidDataset means the directory failed validation; nothing was
	// uploaded.
	ErrInvalidDataset = errors.New("hub: dataset fails validation, refusing to upload")
	// ErrDatasetChanged means a file changed while it was being uploaded
	// (a recorder still writing); nothing was committed. Try again later.
	ErrDatasetChanged = errors.New("hub: dataset changed during upload")
	// ErrProtocol means the Hub answered something this client does not
	// understand (a malformed or inconsistent response).
	ErrProtocol = errors.New("hub: unexpected response from the Hub")
	// ErrTooLarge means the dataset exceeds what one commit may carry.
	ErrTooLarge = errors.New("hub: dataset too large for one commit")
)

// errStall is the cause of a transfer attempt cancelled because no byte
// moved for the stall timeout.
var errStall = errors.New("hub: transfer stalled")

// HTTPError is a response from the Hub (or the storage behind its presigned
// URLs) with an unexpected status.
type HTTPError struct {
	Op         string        // what the client was doing: "preupload", "commit", "upload part 3", ...
	Method     string        // HTTP method
	URL        string        // request URL without its query (presigned queries carry signatures)
	Status     int           // HTTP status code
	Message    string        // the server's error text, if any
	RequestID  string        // X-Request-Id, for support
	RetryAfter time.Duration // from a Retry-After header, 0 if none
}

// Error implements error.
func (e *HTTPError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "hub: %s: %s %s: %d %s", e.Op, e.Method, e.URL, e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request id %s)", e.RequestID)
	}
	return b.String()
}

// Transient reports whether the request may succeed if repeated: timeouts,
// rate limits and server errors.
func (e *HTTPError) Transient() bool { return retryableStatus(e.Status) }

func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// IsTransient reports whether err is worth retrying later as is: a network
// failure, a timeout, a stalled transfer, a 408/429/5xx answer, or a dataset
// that changed while it was uploaded. Cancellation, bad input, validation
// and authorisation failures are not transient.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) && !errors.Is(err, errStall) {
		return false
	}
	if errors.Is(err, ErrDatasetChanged) || errors.Is(err, errStall) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Transient()
	}
	if errors.Is(err, ErrNoToken) || errors.Is(err, ErrInvalidRepoID) || errors.Is(err, ErrInvalidDataset) ||
		errors.Is(err, ErrProtocol) || errors.Is(err, ErrTooLarge) {
		return false
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNREFUSED)
}
