package dataset_test

import (
	"context"
	"testing"

	"github.com/anther-robotics/anther/dataset"
)

// The seed corpora in testdata/fuzz/<Fuzz…>/ come from a dataset recorded
// by this package (info.json, stats.json, the episodes and tasks parquet
// files) plus hand-made edge cases; `go test` runs them as regression
// tests and `go test -fuzz` explores from them.

func FuzzParseInfo(f *testing.F) {
	f.Add([]byte(`{"codebase_version":"v3.0","total_episodes":0,"total_frames":0,"total_tasks":0,"fps":30,` +
		`"data_path":"data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet","features":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := dataset.ParseInfo(data)
		if err != nil {
			return
		}
		// What parses must encode and parse back to the same thing.
		out, err := dataset.EncodeInfo(in)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		again, err := dataset.ParseInfo(out)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", out, err)
		}
		if again.FPS != in.FPS || len(again.Features) != len(in.Features) || again.CodebaseVersion != in.CodebaseVersion {
			t.Fatalf("round trip changed the info: %+v vs %+v", in, again)
		}
		for i := range in.Features {
			if again.Features[i].Key != in.Features[i].Key {
				t.Fatalf("feature order changed: %s vs %s", again.Features[i].Key, in.Features[i].Key)
			}
		}
	})
}

func FuzzParseStats(f *testing.F) {
	f.Add([]byte(`{"a":{"min":[0],"max":[1],"mean":[0.5],"std":[0.1],"count":[2]}}`))
	f.Add([]byte(`{"img":{"min":[[[0]],[[0]],[[0]]],"max":[[[1]],[[1]],[[1]]],"mean":[[[0.5]],[[0.5]],[[0.5]]],"std":[[[0.1]],[[0.1]],[[0.1]]],"count":[3]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := dataset.ParseStats(data)
		if err != nil {
			return
		}
		out, err := dataset.EncodeStats(st)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		if _, err := dataset.ParseStats(out); err != nil {
			t.Fatalf("re-parse of %s: %v", out, err)
		}
		for _, k := range st.Order {
			fs := st.By[k]
			_ = dataset.AggregateStats(fs, fs)
		}
	})
}

func FuzzParseEpisodes(f *testing.F) {
	f.Add([]byte("PAR1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		eps, err := dataset.ParseEpisodes(context.Background(), data)
		if err != nil {
			return
		}
		for _, e := range eps {
			if e.To-e.From != e.Length {
				t.Fatalf("episode %d: range [%d,%d) for length %d", e.Index, e.From, e.To, e.Length)
			}
		}
	})
}

func FuzzParseTasks(f *testing.F) {
	f.Add([]byte("PAR1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tasks, err := dataset.ParseTasks(context.Background(), data)
		if err != nil {
			return
		}
		_ = tasks
	})
}

func FuzzFormatPath(f *testing.F) {
	f.Add("data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet")
	f.Add("videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4")
	f.Add("{episode_index:06d")
	f.Fuzz(func(t *testing.T, tmpl string) {
		_, _ = dataset.FormatPath(tmpl, map[string]any{"chunk_index": 1, "file_index": 2, "video_key": "k"})
	})
}
