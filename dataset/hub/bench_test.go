package hub_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anther-robotics/anther/dataset/hub"
	"github.com/anther-robotics/anther/dataset/hub/hubtest"
)

// bench200MB is a 200 MB dataset: a 40 MB data file and two 80 MB
// videos, plus the small metadata files.
var bench200MB = hubtest.DatasetSpec{Episodes: 50, DataBytes: 40 << 20,
	Videos: map[string]int64{"observation.images.front": 80 << 20, "observation.images.wrist": 80 << 20}}

// BenchmarkUpload200MB uploads a 200 MB dataset to the loopback hubtest
// server, each iteration to a new repository ("anther-cold": hashing
// included; "anther-warm": hashes already journaled) and, for comparison,
// sends the same files with `curl -T` to the same server ("curl"; skipped
// without curl). Compare their MB/s:
//
//	go test -run '^$' -bench Upload200MB -benchtime 5x ./dataset/hub
func BenchmarkUpload200MB(b *testing.B) {
	dir := b.TempDir()
	paths := hubtest.WriteDataset(b, dir, bench200MB)
	var total int64
	for _, p := range paths {
		fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			b.Fatal(err)
		}
		total += fi.Size()
	}
	srv := hubtest.New(b, hubtest.Options{DiscardBlobs: true})
	run := 0

	c, err := hub.NewClient(hub.Config{Endpoint: srv.URL, Token: hub.NewToken(srv.Token(), "bench"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	upload := func(b *testing.B, state string) {
		run++
		res, err := c.Upload(context.Background(), dir, hub.Options{Repo: mustRepo(b, fmt.Sprintf("bench/run-%d", run)),
			StateDir: state})
		if err != nil {
			b.Fatal(err)
		}
		if res.BytesUploaded < total-1<<20 {
			b.Fatalf("uploaded %d of %d bytes", res.BytesUploaded, total)
		}
	}
	// cold: a first push, hashing included (the LFS protocol needs every
	// sha256 before the first byte is sent).
	b.Run("anther-cold", func(b *testing.B) {
		b.SetBytes(total)
		for b.Loop() {
			upload(b, b.TempDir())
		}
	})
	// warm: the hashes are in the journal (a resumed push, a push to
	// another repository or branch, or a queue that hashed in advance).
	b.Run("anther-warm", func(b *testing.B) {
		state := b.TempDir()
		upload(b, state)
		b.SetBytes(total)
		for b.Loop() {
			upload(b, state)
		}
	})

	b.Run("curl", func(b *testing.B) {
		curl, err := exec.LookPath("curl")
		if err != nil {
			b.Skip("no curl")
		}
		abs := make([]string, len(paths))
		for i, p := range paths {
			abs[i] = filepath.Join(dir, filepath.FromSlash(p))
		}
		b.SetBytes(total)
		for b.Loop() {
			out, err := exec.Command(curl, "-sS", "--fail", "-T", "{"+strings.Join(abs, ",")+"}", srv.URL+"/_bench/").CombinedOutput()
			if err != nil {
				b.Fatalf("curl: %v: %s", err, out)
			}
		}
	})
}

// TestThroughputVsCurl is the benchmark as a gated test: it alternates a
// cold Upload, a warm one and `curl -T` of the same 200 MB to the same
// loopback server, several rounds (so that load from other processes hits
// all alike), and reports the median throughputs and ratios. Run it with
//
//	HUB_BENCH=1 go test -run ThroughputVsCurl -v ./dataset/hub
func TestThroughputVsCurl(t *testing.T) {
	if os.Getenv("HUB_BENCH") == "" {
		t.Skip("set HUB_BENCH=1 to run (uploads 200 MB several times)")
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("no curl")
	}
	rounds := 7
	if n, err := strconv.Atoi(os.Getenv("HUB_BENCH_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	dir := t.TempDir()
	paths := hubtest.WriteDataset(t, dir, bench200MB)
	var total int64
	abs := make([]string, len(paths))
	for i, p := range paths {
		abs[i] = filepath.Join(dir, filepath.FromSlash(p))
		fi, err := os.Stat(abs[i])
		if err != nil {
			t.Fatal(err)
		}
		total += fi.Size()
	}
	srv := hubtest.New(t, hubtest.Options{DiscardBlobs: true})
	c, err := hub.NewClient(hub.Config{Endpoint: srv.URL, Token: hub.NewToken(srv.Token(), "bench"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	warmState := t.TempDir()
	if _, err := c.Upload(context.Background(), dir, hub.Options{Repo: mustRepo(t, "bench/warmup"), StateDir: warmState}); err != nil {
		t.Fatal(err)
	}
	push := func(repo, state string) float64 {
		start := time.Now()
		res, err := c.Upload(context.Background(), dir, hub.Options{Repo: mustRepo(t, repo), StateDir: state})
		if err != nil {
			t.Fatal(err)
		}
		if res.BytesUploaded < total-1<<20 {
			t.Fatalf("uploaded %d of %d bytes", res.BytesUploaded, total)
		}
		return float64(total) / time.Since(start).Seconds() / 1e6
	}
	var cold, warm, theirs []float64
	for i := range rounds {
		cold = append(cold, push(fmt.Sprintf("bench/cold-%d", i), t.TempDir()))
		warm = append(warm, push(fmt.Sprintf("bench/warm-%d", i), warmState))
		start := time.Now()
		if out, err := exec.Command(curl, "-sS", "--fail", "-T", "{"+strings.Join(abs, ",")+"}", srv.URL+"/_bench/").CombinedOutput(); err != nil {
			t.Fatalf("curl: %v: %s", err, out)
		}
		theirs = append(theirs, float64(total)/time.Since(start).Seconds()/1e6)
	}
	mc, mw, mt := median(cold), median(warm), median(theirs)
	t.Logf("%d MB, %d rounds, medians: curl -T %.0f MB/s; anther cold push (hashing included) %.0f MB/s = %.2f× curl; "+
		"anther warm push (hashes journaled) %.0f MB/s = %.2f× curl\n  curl %.0f\n  cold %.0f\n  warm %.0f",
		total/1e6, rounds, mt, mc, mc/mt, mw, mw/mt, theirs, cold, warm)
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
