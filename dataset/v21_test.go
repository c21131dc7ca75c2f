package dataset

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeV21 builds a small v2.1 dataset the way LeRobot ≤ 0.3.3 lays it out:
// JSON-lines metadata, one parquet file and one MP4 per episode.
func writeV21(t *testing.T, root string, lengths []int) {
	t.Helper()
	const fps, w, h = 10, 64, 48
	names, _ := json.Marshal([]string{"a.pos", "b.pos"})
	vp := "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"
	info := &Info{CodebaseVersion: VersionV21, TotalEpisodes: len(lengths), TotalTasks: 1, ChunksSize: 1000, FPS: fps,
		Splits: map[string]string{"train": fmt.Sprintf("0:%d", len(lengths))}, VideoPath: &vp,
		DataPath: "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet",
		Features: append([]Feature{
			{Key: "action", DType: "float32", Shape: []int{2}, Names: names},
			{Key: "observation.state", DType: "float32", Shape: []int{2}, Names: names},
			{Key: "observation.images.cam", DType: DTypeVideo, Shape: []int{h, w, 3}, Names: json.RawMessage(`["height","width","channels"]`),
				Info: json.RawMessage(`{"video.codec":"h264","video.height":48,"video.width":64}`)},
		}, DefaultFeatures()...)}
	tv, tc := len(lengths), 1
	info.TotalVideos, info.TotalChunks = &tv, &tc
	var eps, epStats strings.Builder
	from := 0
	schema, err := DataSchema(info)
	if err != nil {
		t.Fatal(err)
	}
	for e, n := range lengths {
		info.TotalFrames += n
		fmt.Fprintf(&eps, `{"episode_index": %d, "tasks": ["push"], "length": %d}`+"\n", e, n)
		cols := make([][]float64, 7)
		for i := 0; i < n; i++ {
			a, b := float64(e*100+i), float64(-i)
			cols[0] = append(cols[0], a, b)
			cols[1] = append(cols[1], a+0.5, b+0.5)
			cols[2] = append(cols[2], float64(float32(float64(i)/fps)))
			cols[3] = append(cols[3], float64(i))
			cols[4] = append(cols[4], float64(e))
			cols[5] = append(cols[5], float64(from+i))
			cols[6] = append(cols[6], 0)
		}
		st := NewStats()
		st.Set("action", ComputeStats(cols[0], n, 2, []int{2}))
		sd, _ := EncodeStats(st)
		compact := strings.Join(strings.Fields(string(sd)), "")
		fmt.Fprintf(&epStats, `{"episode_index": %d, "stats": %s}`+"\n", e, compact)
		rec, err := buildRecord(schema, info.DataFeatures(), cols, n)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, fmt.Sprintf("data/chunk-000/episode_%06d.parquet", e))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := writeParquet(p, schema, []arrowRecord{rec}); err != nil {
			t.Fatal(err)
		}
		rec.Release()
		vpath := filepath.Join(root, fmt.Sprintf("videos/chunk-000/observation.images.cam/episode_%06d.mp4", e))
		os.MkdirAll(filepath.Dir(vpath), 0o755)
		enc, err := startEncoder(vpath, w, h, fps, VideoConfig{Codec: CodecH264})
		if err != nil {
			t.Fatal(err)
		}
		pix := make([]byte, w*h*3)
		for i := 0; i < n; i++ {
			for k := range pix {
				pix[k] = byte(i * 20)
			}
			if err := enc.write(pix); err != nil {
				t.Fatal(err)
			}
		}
		if err := enc.finish(); err != nil {
			t.Fatal(err)
		}
		from += n
	}
	data, err := EncodeInfo(info)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(root, "meta"), 0o755)
	for name, body := range map[string]string{"meta/info.json": string(data), "meta/episodes.jsonl": eps.String(),
		"meta/tasks.jsonl": `{"task_index": 0, "task": "push"}` + "\n", "meta/episodes_stats.jsonl": epStats.String()} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadV21(t *testing.T) {
	if err := FFmpegAvailable(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	ctx := context.Background()
	root := t.TempDir()
	writeV21(t, root, []int{5, 7})
	ds, err := OpenDataset(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	if !ds.IsV2() || len(ds.Episodes) != 2 || ds.Tasks[0] != "push" || ds.Episodes[1].From != 5 {
		t.Fatalf("v2.1 metadata: %+v", ds.Episodes)
	}
	if st := ds.Stats.By["action"]; st == nil || st.Count != 12 || st.Max[0] != 106 {
		t.Errorf("aggregated v2.1 stats: %+v", st)
	}
	data, err := ds.ReadEpisode(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if data.Len != 7 || data.Row("action", 3)[0] != 103 || data.Row("observation.state", 3)[1] != -2.5 {
		t.Errorf("episode 1: %d rows, row 3 %v %v", data.Len, data.Row("action", 3), data.Row("observation.state", 3))
	}
	n := 0
	err = ds.Frames(ctx, 1, func(f *Frame) error {
		if v := f.Images["observation.images.cam"].Pix[100]; int(v) < f.Index*20-8 || int(v) > f.Index*20+8 {
			t.Errorf("frame %d: pixel %d, want about %d", f.Index, v, f.Index*20)
		}
		n++
		return nil
	})
	if err != nil || n != 7 {
		t.Fatalf("frames: %d, %v", n, err)
	}
	rep, err := Validate(ctx, root, ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || !strings.Contains(strings.Join(rep.Errors, "\n"), "refuses") {
		t.Errorf("validate v2.1: want the version refusal, got %v", rep.Errors)
	}
	// The fixture has stats for action only: the validator says so.
	if !strings.Contains(strings.Join(rep.Errors, "\n"), "no statistics for feature observation.state") {
		t.Errorf("validate v2.1 did not notice the missing stats: %v", rep.Errors)
	}
}

func TestVideoRollover(t *testing.T) {
	if err := FFmpegAvailable(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "ds")
	names, _ := json.Marshal([]string{"x"})
	w, err := Open(ctx, root, Config{FPS: 30, VideoFileMB: 1, Video: VideoConfig{Codec: CodecH264, CRF: 10},
		Features: []Feature{{Key: "action", DType: "float32", Shape: []int{1}, Names: names},
			{Key: "observation.images.c", DType: DTypeVideo, Shape: []int{240, 320, 3}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	seed := uint32(1)
	for e := 0; e < 3; e++ {
		ep, err := w.StartEpisode("t")
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 30; i++ {
			img, err := ep.AcquireImage(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			for k := range img.Pix { // noise: large frames
				seed = seed*1664525 + 1013904223
				img.Pix[k] = byte(seed >> 24)
			}
			if err := ep.Add([][]float64{{float64(i)}}, []*Image{img}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := ep.Save(ctx, Quality{Faithful: true}); err != nil {
			t.Fatal(err)
		}
	}
	eps := w.Episodes()
	if eps[1].Videos["observation.images.c"].File == 0 || eps[1].Videos["observation.images.c"].From != 0 {
		t.Errorf("episode 1 did not roll over to a new video file: %+v", eps[1].Videos)
	}
	rep, err := Validate(ctx, root, ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Videos < 2 {
		t.Fatalf("validate: %d video files, %v", rep.Videos, rep.Errors)
	}
}
