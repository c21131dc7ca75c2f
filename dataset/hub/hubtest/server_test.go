package hubtest_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/anther-robotics/anther/dataset/hub/hubtest"
)

// rawClient sends hand-made requests to a hubtest server.
type rawClient struct {
	t    *testing.T
	srv  *hubtest.Server
	auth string
}

func (c rawClient) do(method, url, ctype string, body []byte, hdr ...string) (int, []byte, http.Header) {
	c.t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("User-Agent", "rawtest")
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

const lfsType = "application/vnd.git-lfs+json"

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// setup creates alice/x and asks for upload actions for one object.
func setup(t *testing.T, opt hubtest.Options) (*hubtest.Server, rawClient, *[]string) {
	var mu sync.Mutex
	var viol []string
	opt.OnViolation = func(m string) { mu.Lock(); viol = append(viol, m); mu.Unlock() }
	srv := hubtest.New(t, opt)
	c := rawClient{t: t, srv: srv, auth: "Bearer " + srv.Token()}
	if st, b, _ := c.do("POST", srv.URL+"/api/repos/create", "application/json",
		[]byte(`{"name":"x","organization":"alice","type":"dataset"}`)); st != 200 {
		t.Fatalf("create: %d %s", st, b)
	}
	return srv, c, &viol
}

func batch(t *testing.T, c rawClient, data []byte) map[string]any {
	t.Helper()
	body := `{"operation":"upload","transfers":["basic","multipart"],"objects":[{"oid":"` + sha(data) + `","size":` +
		itoa(len(data)) + `}],"hash_algo":"sha256","ref":{"name":"main"}}`
	st, b, _ := c.do("POST", c.srv.URL+"/datasets/alice/x.git/info/lfs/objects/batch", lfsType, []byte(body), "Accept", lfsType)
	if st != 200 {
		t.Fatalf("batch: %d %s", st, b)
	}
	var resp struct {
		Objects []map[string]any `json:"objects"`
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		t.Fatal(err)
	}
	return resp.Objects[0]["actions"].(map[string]any)["upload"].(map[string]any)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestServerRejectsProtocolViolations(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 30_000) // multipart: 3 parts
	small := data[:200_000]                            // basic
	cases := []struct {
		name string
		run  func(t *testing.T, srv *hubtest.Server, c rawClient) int
		want string
	}{
		{"no token", func(t *testing.T, srv *hubtest.Server, c rawClient) int {
			c.auth = ""
			st, _, _ := c.do("GET", srv.URL+"/api/datasets/alice/x/refs", "", nil)
			return st
		}, "no Authorization header"},
		{"token sent to storage", func(t *testing.T, srv *hubtest.Server, c rawClient) int {
			up := batch(t, c, small)
			st, _, _ := c.do("PUT", up["href"].(string), "", small)
			return st
		}, "token was sent to a presigned storage URL"},
		{"wrong sha256", func(t *testing.T, srv *hubtest.Server, c rawClient) int {
			up := batch(t, c, small)
			c.auth = ""
			bad := bytes.Clone(small)
			bad[7] ^= 1
			st, _, _ := c.do("PUT", up["href"].(string), "", bad)
			return st
		}, "body sha256"},
		{"short body", func(t *testing.T, srv *hubtest.Server, c rawClient) int {
			up := batch(t, c, small)
			c.auth = ""
			st, _, _ := c.do("PUT", up["href"].(string), "", small[:100])
			return st
		}, "Content-Length 100"},
		{"part of the wrong size", func(t *testing.T, srv *hubtest.Server, c rawClient) int {
			up := batch(t, c, data)
			c.auth = ""
			st, _, _ := c.do("PUT", up["header"].(map[string]any)["1"].(string), "", data[:1000])
			return st
		}, "part 1 PUT: Content-Length 1000"},
		{"completion with a wrong etag", func(t *testing.T, srv *hubtest.Server, c rawClient) int {
			up := batch(t, c, data)
			c.auth = ""
			h := up["header"].(map[string]any)
			var parts []string
			for i := 1; i <= 3; i++ {
				chunk := data[(i-1)*100_000 : i*100_000]
				st, _, hdr := c.do("PUT", h[itoa(i)].(string), "", chunk)
				if st != 200 {
					t.Fatalf("part %d: %d", i, st)
				}
				etag := hdr.Get("ETag")
				if i == 2 {
					etag = `"nope"`
				}
				e, _ := json.Marshal(etag)
				parts = append(parts, `{"partNumber":`+itoa(i)+`,"etag":`+string(e)+`}`)
			}
			body := `{"oid":"` + sha(data) + `","parts":[` + strings.Join(parts, ",") + `]}`
			st, _, _ := c.do("POST", up["href"].(string), lfsType, []byte(body), "Accept", lfsType)
			return st
		}, "completion: part 2"},
		{"batch with the wrong content type", func(t *testing.T, srv *hubtest.Server, c rawClient) int {
			st, _, _ := c.do("POST", srv.URL+"/datasets/alice/x.git/info/lfs/objects/batch", "application/json", []byte(`{}`), "Accept", lfsType)
			return st
		}, "Content-Type"},
		{"preupload sample too long", func(t *testing.T, srv *hubtest.Server, c rawClient) int {
			body := `{"files":[{"path":"a.json","sample":"` + base64.StdEncoding.EncodeToString(make([]byte, 20)) + `","size":10}]}`
			st, _, _ := c.do("POST", srv.URL+"/api/datasets/alice/x/preupload/main", "application/json", []byte(body))
			return st
		}, "sample is 20 bytes"},
		{"commit without header", func(t *testing.T, srv *hubtest.Server, c rawClient) int {
			st, _, _ := c.do("POST", srv.URL+"/api/datasets/alice/x/commit/main", "application/x-ndjson",
				[]byte(`{"key":"file","value":{"content":"","path":"a","encoding":"base64"}}`+"\n"))
			return st
		}, "not a header"},
		{"commit line with an unknown key", func(t *testing.T, srv *hubtest.Server, c rawClient) int {
			st, _, _ := c.do("POST", srv.URL+"/api/datasets/alice/x/commit/main", "application/x-ndjson",
				[]byte(`{"key":"header","value":{"summary":"s","description":""}}`+"\n"+`{"key":"symlink","value":{}}`+"\n"))
			return st
		}, `key "symlink"`},
		{"commit of an object never uploaded", func(t *testing.T, srv *hubtest.Server, c rawClient) int {
			st, _, _ := c.do("POST", srv.URL+"/api/datasets/alice/x/commit/main", "application/x-ndjson",
				[]byte(`{"key":"header","value":{"summary":"s","description":""}}`+"\n"+
					`{"key":"lfsFile","value":{"path":"d.parquet","algo":"sha256","oid":"`+sha(data)+`","size":300000}}`+"\n"))
			return st
		}, "was never uploaded"},
		{"commit of a file never preuploaded", func(t *testing.T, srv *hubtest.Server, c rawClient) int {
			st, _, _ := c.do("POST", srv.URL+"/api/datasets/alice/x/commit/main", "application/x-ndjson",
				[]byte(`{"key":"header","value":{"summary":"s","description":""}}`+"\n"+
					`{"key":"file","value":{"content":"aGk=","path":"a.txt","encoding":"base64"}}`+"\n"))
			return st
		}, "was not preuploaded"},
		{"create repo with an unknown field", func(t *testing.T, srv *hubtest.Server, c rawClient) int {
			st, _, _ := c.do("POST", srv.URL+"/api/repos/create", "application/json",
				[]byte(`{"name":"y","organization":"alice","type":"dataset","privat":true}`))
			return st
		}, "unknown field"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, c, viol := setup(t, hubtest.Options{MultipartThreshold: 250_000, ChunkSize: 100_000})
			st := tc.run(t, srv, c)
			if st < 400 || st >= 500 {
				t.Errorf("status %d, want 4xx", st)
			}
			if len(*viol) != 1 || !strings.Contains((*viol)[0], tc.want) {
				t.Errorf("violations %q, want one saying %q", *viol, tc.want)
			}
		})
	}
}

func TestServerStaleParentIsNotAViolation(t *testing.T) {
	srv, c, viol := setup(t, hubtest.Options{})
	pre := `{"files":[{"path":"a.txt","sample":"aGk=","size":2}]}`
	if st, b, _ := c.do("POST", srv.URL+"/api/datasets/alice/x/preupload/main", "application/json", []byte(pre)); st != 200 {
		t.Fatalf("preupload %d %s", st, b)
	}
	st, b, _ := c.do("POST", srv.URL+"/api/datasets/alice/x/commit/main", "application/x-ndjson",
		[]byte(`{"key":"header","value":{"summary":"s","description":"","parentCommit":"`+strings.Repeat("0", 40)+`"}}`+"\n"+
			`{"key":"file","value":{"content":"aGk=","path":"a.txt","encoding":"base64"}}`+"\n"))
	if st != http.StatusPreconditionFailed || len(*viol) != 0 || srv.ClientCommits("alice/x") != 0 {
		t.Errorf("stale parent: %d %s, violations %v", st, b, *viol)
	}
}
