package hubtest

import (
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// DatasetSpec shapes a fixture dataset written by WriteDataset.
type DatasetSpec struct {
	// Episodes is info.json's total_episodes; default 2.
	Episodes int
	// CodebaseVersion is info.json's codebase_version; default "v3.0".
	CodebaseVersion string
	// DataBytes is the size of data/chunk-000/file-000.parquet; default 64 KiB.
	DataBytes int64
	// DataFiles is the number of data files; default 1.
	DataFiles int
	// Videos maps a camera key to the size of its one MP4; default none.
	Videos map[string]int64
	// Seed varies the (pseudo-random) content.
	Seed uint64
}

// WriteDataset writes a LeRobot v3.0-shaped dataset under dir: a real
// meta/info.json, meta/stats.json, and parquet/MP4 files of the given
// sizes whose bytes are arbitrary (they only need to be uploaded, not
// read). It also writes files an upload must skip: images/ staging and
// .cache/. It returns the paths that must be uploaded, sorted.
func WriteDataset(tb testing.TB, dir string, spec DatasetSpec) []string {
	tb.Helper()
	if spec.Episodes == 0 {
		spec.Episodes = 2
	}
	if spec.CodebaseVersion == "" {
		spec.CodebaseVersion = "v3.0"
	}
	if spec.DataBytes == 0 {
		spec.DataBytes = 64 << 10
	}
	if spec.DataFiles == 0 {
		spec.DataFiles = 1
	}
	rng := rand.NewChaCha8(seed(spec.Seed))
	var paths []string
	write := func(rel string, r io.Reader) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		f, err := os.Create(p)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := io.Copy(f, r); err != nil {
			tb.Fatal(err)
		}
		if err := f.Close(); err != nil {
			tb.Fatal(err)
		}
		if !strings.HasPrefix(rel, "images/") && !strings.HasPrefix(rel, ".cache/") {
			paths = append(paths, rel)
		}
	}
	parquet := func(n int64) io.Reader {
		// Parquet files start and end with "PAR1".
		return io.MultiReader(strings.NewReader("PAR1"), io.LimitReader(rng, max(n-8, 0)), strings.NewReader("PAR1"))
	}
	mp4 := func(n int64) io.Reader {
		return io.MultiReader(strings.NewReader("\x00\x00\x00\x20ftypisom"), io.LimitReader(rng, max(n-12, 0)))
	}
	frames := spec.Episodes * 150
	var feats strings.Builder
	keys := make([]string, 0, len(spec.Videos))
	for k := range spec.Videos {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&feats, `,
        %q: {"dtype": "video", "shape": [480, 640, 3], "names": ["height", "width", "channels"]}`, k)
	}
	videoPath := "null"
	if len(keys) > 0 {
		videoPath = `"videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"`
	}
	info := fmt.Sprintf(`{
    "codebase_version": %q,
    "robot_type": "so101_follower",
    "total_episodes": %d,
    "total_frames": %d,
    "total_tasks": 1,
    "chunks_size": 1000,
    "data_files_size_in_mb": 100,
    "video_files_size_in_mb": 200,
    "fps": 30,
    "splits": {"train": "0:%d"},
    "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
    "video_path": %s,
    "features": {
        "action": {"dtype": "float32", "shape": [6], "names": ["shoulder_pan.pos", "shoulder_lift.pos", "elbow_flex.pos", "wrist_flex.pos", "wrist_roll.pos", "gripper.pos"]},
        "observation.state": {"dtype": "float32", "shape": [6], "names": ["shoulder_pan.pos", "shoulder_lift.pos", "elbow_flex.pos", "wrist_flex.pos", "wrist_roll.pos", "gripper.pos"]}%s,
        "timestamp": {"dtype": "float32", "shape": [1], "names": null},
        "frame_index": {"dtype": "int64", "shape": [1], "names": null},
        "episode_index": {"dtype": "int64", "shape": [1], "names": null},
        "index": {"dtype": "int64", "shape": [1], "names": null},
        "task_index": {"dtype": "int64", "shape": [1], "names": null}
    }
}
`, spec.CodebaseVersion, spec.Episodes, frames, spec.Episodes, videoPath, feats.String())
	write("meta/info.json", strings.NewReader(info))
	write("meta/stats.json", strings.NewReader(`{"action": {"min": [0,0,0,0,0,0], "max": [1,1,1,1,1,1]}}`+"\n"))
	write("meta/tasks.parquet", parquet(2<<10))
	write("meta/episodes/chunk-000/file-000.parquet", parquet(12<<10))
	for i := range spec.DataFiles {
		write(fmt.Sprintf("data/chunk-000/file-%03d.parquet", i), parquet(spec.DataBytes))
	}
	for _, k := range keys {
		write("videos/"+k+"/chunk-000/file-000.mp4", mp4(spec.Videos[k]))
	}
	write("images/observation.images.front/episode-000000/frame-000000.png", strings.NewReader("\x89PNG staging"))
	write(".cache/huggingface/upload/data.lock", strings.NewReader("lock"))
	sort.Strings(paths)
	return paths
}

func seed(s uint64) [32]byte {
	var b [32]byte
	for i := range 8 {
		b[i] = byte(s >> (8 * i))
	}
	b[31] = 0xa5
	return b
}

// LocalTree reads the files of dir an upload sends (skipping .git, .cache
// and the top-level images/), keyed by slash path.
func LocalTree(tb testing.TB, dir string) map[string][]byte {
	tb.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if d.Name() == ".git" || d.Name() == ".cache" || rel == "images" {
				return filepath.SkipDir
			}
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[rel] = b
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
