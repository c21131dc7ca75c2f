package hub_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anther-robotics/anther/dataset/hub"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestTokenFromEnv(t *testing.T) {
	home := t.TempDir()
	hfHome := t.TempDir()
	if err := os.WriteFile(filepath.Join(hfHome, "token"), []byte("hf_from_file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	custom := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(custom, []byte("  hf_custom  "), 0o600); err != nil {
		t.Fatal(err)
	}
	defaultDir := filepath.Join(home, ".cache", "huggingface")
	if err := os.MkdirAll(defaultDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(defaultDir, "token"), []byte("hf_default"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		env        map[string]string
		wantSource string
	}{
		{map[string]string{"HF_TOKEN": "hf_env", "HF_HOME": hfHome, "HOME": home}, "HF_TOKEN"},
		{map[string]string{"HUGGING_FACE_HUB_TOKEN": "hf_legacy", "HOME": home}, "HUGGING_FACE_HUB_TOKEN"},
		{map[string]string{"HF_TOKEN": "  ", "HF_HOME": hfHome, "HOME": home}, filepath.Join(hfHome, "token")},
		{map[string]string{"HF_TOKEN_PATH": custom, "HF_HOME": hfHome, "HOME": home}, custom},
		{map[string]string{"HOME": home}, filepath.Join(defaultDir, "token")},
		{map[string]string{"XDG_CACHE_HOME": filepath.Join(home, ".cache"), "HOME": "/nonexistent"}, filepath.Join(defaultDir, "token")},
	}
	for _, tc := range cases {
		tok, err := hub.TokenFromEnv(env(tc.env))
		if err != nil || tok.Source() != tc.wantSource || tok.IsZero() {
			t.Errorf("%v: token from %q, err %v; want from %q", tc.env, tok.Source(), err, tc.wantSource)
		}
	}
}

func TestMissingTokenSaysWhereItLooked(t *testing.T) {
	home := t.TempDir()
	_, err := hub.TokenFromEnv(env(map[string]string{"HOME": home}))
	want := filepath.Join(home, ".cache", "huggingface", "token")
	if !errors.Is(err, hub.ErrNoToken) || !strings.Contains(err.Error(), "HF_TOKEN") || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v; want ErrNoToken naming HF_TOKEN and %s", err, want)
	}
	hfHome := t.TempDir()
	if err := os.WriteFile(filepath.Join(hfHome, "token"), []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = hub.TokenFromEnv(env(map[string]string{"HF_HOME": hfHome}))
	if !errors.Is(err, hub.ErrNoToken) || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("empty token file: err = %v", err)
	}
	if _, err := hub.NewClient(hub.Config{}); !errors.Is(err, hub.ErrNoToken) {
		t.Errorf("NewClient without a token: %v", err)
	}
}

func TestTokenNeverPrinted(t *testing.T) {
	const secret = "hf_SECRETsecretSECRET"
	tok := hub.NewToken(secret, "HF_TOKEN")
	type holder struct {
		Tok hub.Token
		P   *hub.Token
	}
	h := holder{tok, &tok}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
		out = append(out, fmt.Sprintf(verb, tok), fmt.Sprintf(verb, h), fmt.Sprintf(verb, &tok))
	}
	out = append(out, fmt.Sprint(tok), fmt.Sprintln(tok))
	j, _ := json.Marshal(h)
	out = append(out, string(j))
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "token", tok, "h", h)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "token", tok, "h", h)
	out = append(out, logs.String())
	for _, s := range out {
		if strings.Contains(s, "SECRET") || strings.Contains(strings.ToLower(s), strings.ToLower(fmt.Sprintf("%x", secret))) {
			t.Fatalf("token leaked: %s", s)
		}
	}
	if !strings.Contains(tok.String(), "HF_TOKEN") {
		t.Errorf("String() = %q, want the source named", tok.String())
	}
}

func TestParseRepoID(t *testing.T) {
	good := []string{"alice/so101", "Org-1/Foo_BAR.baz123", "a/b", "alice/" + strings.Repeat("x", 96)}
	for _, s := range good {
		r, err := hub.ParseRepoID(s)
		if err != nil || r.String() != s {
			t.Errorf("ParseRepoID(%q) = %v, %v", s, r, err)
		}
	}
	bad := map[string]string{
		"":                                 "empty",
		"so101":                            "no namespace",
		"datasets/alice/so101":             "more than one",
		"alice/":                           "name is empty",
		"/so101":                           "namespace is empty",
		"alice/so 101":                     `has ' '`,
		"alice/-so101":                     "start or end",
		"alice/so101.":                     "start or end",
		"alice/so--101":                    `"--"`,
		"alice/so..101":                    `".."`,
		"alice/so101.git":                  ".git",
		"alice/é":                          `has 'é'`,
		"alice/" + strings.Repeat("x", 97): "at most 96",
		"al ice/x":                         "namespace has",
	}
	for s, why := range bad {
		_, err := hub.ParseRepoID(s)
		if !errors.Is(err, hub.ErrInvalidRepoID) || !strings.Contains(err.Error(), why) {
			t.Errorf("ParseRepoID(%q) = %v; want ErrInvalidRepoID saying %q", s, err, why)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"120", 120 * time.Second, true},
		{" 0 ", 0, true},
		{"Fri, 02 Jan 2026 03:04:35 GMT", 30 * time.Second, true},
		{"Fri, 02 Jan 2026 03:00:00 GMT", 0, true},
		{"", 0, false},
		{"-5", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"99999999999", 0, false},
	}
	for _, tc := range cases {
		got, ok := hub.ParseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestEndpointFromEnv(t *testing.T) {
	if got := hub.EndpointFromEnv(env(nil)); got != "https://huggingface.co" {
		t.Errorf("default endpoint %q", got)
	}
	if got := hub.EndpointFromEnv(env(map[string]string{"HF_ENDPOINT": "http://mirror.local:8080/"})); got != "http://mirror.local:8080" {
		t.Errorf("HF_ENDPOINT endpoint %q", got)
	}
}
