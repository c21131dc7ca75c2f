package hub

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// DefaultEndpoint is the public Hub.
const DefaultEndpoint = "https://huggingface.co"

// Token is a Hugging Face access token. Its value never leaves through
// fmt, slog or encoding: every representation is redacted, and only the
// client's Authorization header carries it.
type Token struct {
	value  string
	source string
}

// NewToken wraps a token value; source says where it came from (for
// messages, e.g. "HF_TOKEN").
func NewToken(value, source string) Token {
	return Token{value: strings.TrimSpace(value), source: source}
}

// IsZero reports whether the token is empty.
func (t Token) IsZero() bool { return t.value == "" }

// Source says where the token was found: an environment variable name or a
// file path.
func (t Token) Source() string { return t.source }

// String implements fmt.Stringer without revealing the value.
func (t Token) String() string {
	if t.value == "" {
		return "<no token>"
	}
	if t.source == "" {
		return "<redacted token>"
	}
	return "<redacted token from " + t.source + ">"
}

// GoString implements fmt.GoStringer without revealing the value.
func (t Token) GoString() string { return t.String() }

// Format implements fmt.Formatter so that no verb reveals the value.
func (t Token) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, t.String()) }

// LogValue implements slog.LogValuer without revealing the value.
func (t Token) LogValue() slog.Value { return slog.StringValue(t.String()) }

// MarshalText implements encoding.TextMarshaler without revealing the value.
func (t Token) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// TokenFile is the token file huggingface_hub reads and `hf auth login`
// writes: $HF_TOKEN_PATH, else $HF_HOME/token, else
// $XDG_CACHE_HOME/huggingface/token, else ~/.cache/huggingface/token.
func TokenFile(getenv func(string) string) string {
	if p := getenv("HF_TOKEN_PATH"); p != "" {
		return expandHome(p, getenv)
	}
	return filepath.Join(hfHome(getenv), "token")
}

func hfHome(getenv func(string) string) string {
	if h := getenv("HF_HOME"); h != "" {
		return expandHome(h, getenv)
	}
	if x := getenv("XDG_CACHE_HOME"); x != "" {
		return filepath.Join(expandHome(x, getenv), "huggingface")
	}
	return filepath.Join(homeDir(getenv), ".cache", "huggingface")
}

func homeDir(getenv func(string) string) string {
	if h := getenv("HOME"); h != "" {
		return h
	}
	if h, err := os.UserHomeDir(); err == nil {
		return h
	}
	return "~"
}

func expandHome(p string, getenv func(string) string) string {
	if p == "~" {
		return homeDir(getenv)
	}
	if strings.HasPrefix(p, "~/") {
		return filepath.Join(homeDir(getenv), p[2:])
	}
	return p
}

// TokenFromEnv finds the token the way huggingface_hub does: the HF_TOKEN
// environment variable (or the legacy HUGGING_FACE_HUB_TOKEN), then the
// token file (see [TokenFile]). getenv is usually os.Getenv. When there is
// none the error wraps [ErrNoToken] and names where it looked.
func TokenFromEnv(getenv func(string) string) (Token, error) {
	for _, name := range []string{"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"} {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return NewToken(v, name), nil
		}
	}
	path := TokenFile(getenv)
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Token{}, fmt.Errorf("%w: HF_TOKEN is not set and the token file %s does not exist "+
			"(create a write token at https://huggingface.co/settings/tokens, then set HF_TOKEN or run `hf auth login`)",
			ErrNoToken, path)
	case err != nil:
		return Token{}, fmt.Errorf("%w: HF_TOKEN is not set and the token file %s cannot be read: %w", ErrNoToken, path, err)
	}
	tok := NewToken(string(b), path)
	if tok.IsZero() {
		return Token{}, fmt.Errorf("%w: HF_TOKEN is not set and the token file %s is empty "+
			"(set HF_TOKEN or run `hf auth login`)", ErrNoToken, path)
	}
	return tok, nil
}

// EndpointFromEnv returns $HF_ENDPOINT without a trailing slash, or
// [DefaultEndpoint].
func EndpointFromEnv(getenv func(string) string) string {
	if e := strings.TrimRight(strings.TrimSpace(getenv("HF_ENDPOINT")), "/"); e != "" {
		return e
	}
	return DefaultEndpoint
}
