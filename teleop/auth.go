package teleop

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// TokenFile is where the API token is kept: $XDG_CONFIG_HOME/anther/token,
// or ~/.config/anther/token.
func TokenFile() (string, error) {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("teleop: no XDG_CONFIG_HOME and no home directory: %w", err)
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "anther", "token"), nil
}

// LoadToken returns the API token: $ANTHER_TOKEN if set, else the token
// file's content. With create, a missing file is created with a new random
// token (mode 0600) and created reports true so the caller prints it once.
func LoadToken(create bool) (token string, created bool, err error) {
	if t := strings.TrimSpace(os.Getenv("ANTHER_TOKEN")); t != "" {
		return t, false, nil
	}
	path, err := TokenFile()
	if err != nil {
		return "", false, err
	}
	data, err := os.ReadFile(path)
	if err == nil {
		t := strings.TrimSpace(string(data))
		if len(t) < 16 {
			return "", false, fmt.Errorf("teleop: token in %s is shorter than 16 characters; delete it or run `anther token --rotate`", path)
		}
		return t, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) || !create {
		return "", false, fmt.Errorf("teleop: no token: set ANTHER_TOKEN or start `anther run` once to create %s: %w", path, err)
	}
	t, err := RotateToken()
	return t, err == nil, err
}

// RotateToken writes a new random token to the token file and returns it.
func RotateToken() (string, error) {
	path, err := TokenFile()
	if err != nil {
		return "", err
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("teleop: token: %w", err)
	}
	t := hex.EncodeToString(b[:])
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("teleop: token: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(t+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("teleop: token: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("teleop: token: %w", err)
	}
	return t, nil
}

const cookieName = "anther_token"

// auth checks requests: a Bearer token, or the cookie set by opening
// /?token=TOKEN. Reads (GET) may be open when the daemon listens only on
// loopback (OpenReads); writes always need the token.
type auth struct {
	token     string
	openReads bool
}

func (a *auth) ok(r *http.Request) bool {
	if a.token == "" {
		return true
	}
	got := ""
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		got = strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
	} else if c, err := r.Cookie(cookieName); err == nil {
		got = c.Value
	} else if t := r.URL.Query().Get("token"); t != "" && strings.HasPrefix(r.URL.Path, "/api/ws/") {
		got = t // browsers cannot set headers on WebSocket requests
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(a.token)) == 1
}

// wrap enforces the rules around h.
func (a *auth) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Logging in: /?token=… sets the cookie and drops the token from the URL.
		if t := r.URL.Query().Get("token"); t != "" && !strings.HasPrefix(r.URL.Path, "/api/") {
			if subtle.ConstantTimeCompare([]byte(t), []byte(a.token)) != 1 {
				writeError(w, http.StatusUnauthorized, "wrong token")
				return
			}
			http.SetCookie(w, &http.Cookie{Name: cookieName, Value: t, Path: "/", HttpOnly: true,
				SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
			u := *r.URL
			q := u.Query()
			q.Del("token")
			u.RawQuery = q.Encode()
			http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
			return
		}
		open := r.URL.Path == "/api/health" || !strings.HasPrefix(r.URL.Path, "/api/") && r.URL.Path != "/metrics"
		if !open && !a.ok(r) && !(a.openReads && r.Method == http.MethodGet) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="anther"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong token: send Authorization: Bearer TOKEN (see `anther token`) or open /?token=TOKEN")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// IsLoopback reports whether addr (host:port) binds only loopback.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
