package hub

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// Seeds live in testdata/fuzz/<FuzzName>/ as well; run a target with
// go test -run '^$' -fuzz '^FuzzParseBatch$' ./dataset/hub

func FuzzParseBatch(f *testing.F) {
	oid := strings.Repeat("ab", 32)
	f.Add([]byte(`{"transfer":"basic","objects":[{"oid":"`+oid+`","size":10,"actions":{"upload":{"href":"http://s3/put?sig=1"},"verify":{"href":"http://hub/verify"}}}]}`), oid, int64(10))
	f.Add([]byte(`{"objects":[{"oid":"`+oid+`","size":10}]}`), oid, int64(10))
	f.Add([]byte(`{"transfer":"multipart","objects":[{"oid":"`+oid+`","size":25,"actions":{"upload":{"href":"http://hub/complete","header":{"chunk_size":"10","1":"http://s3/1","2":"http://s3/2","3":"http://s3/3"}}}}]}`), oid, int64(25))
	f.Add([]byte(`{"objects":[{"oid":"`+oid+`","size":25,"actions":{"upload":{"href":"h","header":{"chunk_size":10,"1":"a","3":"b","2":"c"}}}}]}`), oid, int64(25))
	f.Add([]byte(`{"objects":[{"oid":"`+oid+`","size":10,"error":{"code":422,"message":"too big"}}]}`), oid, int64(10))
	f.Add([]byte(`{"transfer":"xet","objects":[]}`), oid, int64(1))
	f.Fuzz(func(t *testing.T, b []byte, oid string, size int64) {
		plans, err := parseBatch(b, []LFSObject{{OID: oid, Size: size}})
		if err != nil {
			return
		}
		if len(plans) != 1 || plans[0].OID != oid || plans[0].Size != size {
			t.Fatalf("plans %+v for %s/%d", plans, oid, size)
		}
		p := plans[0]
		if p.Present {
			return
		}
		if p.Href == "" {
			t.Fatal("upload plan without href")
		}
		if p.ChunkSize > 0 {
			want := (size + p.ChunkSize - 1) / p.ChunkSize
			if int64(len(p.PartURLs)) != want {
				t.Fatalf("%d parts for %d bytes in chunks of %d", len(p.PartURLs), size, p.ChunkSize)
			}
			for i, u := range p.PartURLs {
				if u == "" {
					t.Fatalf("part %d has no URL", i+1)
				}
			}
		}
	})
}

func FuzzParsePreupload(f *testing.F) {
	f.Add([]byte(`{"files":[{"path":"a.json","uploadMode":"regular","shouldIgnore":false,"oid":null},{"path":"b.parquet","uploadMode":"lfs","shouldIgnore":false,"oid":"abc"}]}`))
	f.Add([]byte(`{"files":[{"path":"b.parquet","uploadMode":"lfs"},{"path":"a.json","uploadMode":"lfs","shouldIgnore":true}]}`))
	f.Add([]byte(`{"files":[{"path":"a.json","uploadMode":"xet"}]}`))
	f.Add([]byte(`{}`))
	asked := []PreuploadFile{{Path: "a.json", Size: 10}, {Path: "b.parquet", Size: 0}}
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := parsePreupload(b, asked)
		if err != nil {
			return
		}
		if len(res) != len(asked) {
			t.Fatalf("%d answers for %d files", len(res), len(asked))
		}
		for i, r := range res {
			if r.Path != asked[i].Path || r.UploadMode != "lfs" && r.UploadMode != "regular" {
				t.Fatalf("answer %d: %+v", i, r)
			}
		}
		if res[1].UploadMode != "regular" {
			t.Fatal("an empty file must be regular")
		}
	})
}

func FuzzDecodeJournal(f *testing.F) {
	f.Add([]byte(`{"version":2,"dir":"/d","files":{"data/x.parquet":{"size":5,"mtime_ns":1,"sha256":"` + strings.Repeat("0", 64) + `"}},"targets":{"https://huggingface.co a/b@main":{"pending_commit":{"parent":"` + strings.Repeat("1", 40) + `","files":3,"started":"2026-01-01T00:00:00Z"}}}}`))
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{"version":2,"files":{"x":{"size":-1,"sha256":"zz"}},"targets":{"t":null,"u":{"pending_commit":{"parent":"nothex"}}}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeJournal(b)
		if err != nil {
			return
		}
		for p, h := range d.Files {
			if h.Size < 0 || !isHex(h.SHA256, 64) {
				t.Fatalf("%s: kept a bad hash %+v", p, h)
			}
		}
		for k, tg := range d.Targets {
			if tg == nil || tg.Pending != nil && !isHex(tg.Pending.Parent, 40) {
				t.Fatalf("%s: kept a bad target %+v", k, tg)
			}
		}
		again, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeJournal(again); err != nil {
			t.Fatalf("re-decoding a decoded journal: %v", err)
		}
	})
}

func FuzzParseRepoID(f *testing.F) {
	for _, s := range []string{"alice/so101", "a/b", "so101", "a/b/c", "-a/b", "a/b.git", "a/b--c", "é/x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRepoID(s)
		if err != nil {
			return
		}
		if r.String() != s || r.Namespace == "" || r.Name == "" || len(r.Name) > 96 {
			t.Fatalf("ParseRepoID(%q) = %+v", s, r)
		}
		for _, c := range s {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./", c)) {
				t.Fatalf("accepted %q in %q", c, s)
			}
		}
	})
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "0", "Wed, 21 Oct 2015 07:28:00 GMT", "", "-1", "1e3", "soon"} {
		f.Add(s)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := ParseRetryAfter(s, now)
		if d < 0 || !ok && d != 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v, %v", s, d, ok)
		}
	})
}

func FuzzParseInfo(f *testing.F) {
	f.Add([]byte(`{"codebase_version":"v3.0","total_episodes":2,"total_frames":300,"fps":30,"features":{}}`))
	f.Add([]byte(`{"codebase_version":"v2.1","total_episodes":0}`))
	f.Add([]byte(`{"codebase_version":3,"total_episodes":"2","features":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, problems := ParseInfo(b)
		if len(problems) == 0 && (info.CodebaseVersion != CodebaseVersion || info.TotalEpisodes <= 0) {
			t.Fatalf("no problem reported for %+v", info)
		}
	})
}

func FuzzDecodeQueue(f *testing.F) {
	f.Add([]byte(`{"version":1,"jobs":[{"id":"abc","dir":"/d/x","repo_id":"a/b","branch":"main","state":"uploading","enqueued_at":"2026-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"version":1,"jobs":[null,{"id":""},{"id":"x","dir":"/d","repo_id":"a/b","state":"weird"}]}`))
	f.Add([]byte(`{"version":7}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		jobs, err := decodeQueue(b)
		if err != nil {
			return
		}
		for _, j := range jobs {
			if j == nil || j.ID == "" || j.Dir == "" || j.RepoID == "" || j.Progress != nil {
				t.Fatalf("kept a bad job %+v", j)
			}
			switch j.State {
			case JobQueued, JobUploading, JobDone, JobFailed:
			default:
				t.Fatalf("kept state %q", j.State)
			}
		}
	})
}
