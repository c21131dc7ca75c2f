package dataset_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anther-robotics/anther/dataset"
)

func TestWriteValidateRead(t *testing.T) {
	needFFmpeg(t)
	for _, codec := range []string{dataset.CodecH264, dataset.CodecAV1} {
		t.Run(codec, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "ds")
			ctx := context.Background()
			cfg := dataset.Config{RepoID: "test/ds", RobotType: "so101_follower", FPS: 30,
				Features: testFeatures(320, 240), Video: dataset.VideoConfig{Codec: codec}}
			w, err := dataset.Open(ctx, root, cfg)
			if err != nil {
				t.Fatal(err)
			}
			frames := 20
			if codec == dataset.CodecH264 {
				frames = 40
			}
			want := recordEpisodes(t, w, 3, frames, []string{"pick the cube", "place the cube"})
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}

			rep, err := dataset.Validate(ctx, root, dataset.ValidateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK() {
				t.Fatalf("validate: %v", rep.Errors)
			}
			if rep.Videos != 2 || rep.DataFiles != 1 {
				t.Errorf("checked %d videos and %d data files, want 2 and 1", rep.Videos, rep.DataFiles)
			}

			ds, err := dataset.OpenDataset(ctx, root)
			if err != nil {
				t.Fatal(err)
			}
			defer ds.Close()
			if got := ds.Tasks; len(got) != 2 || got[0] != "pick the cube" {
				t.Errorf("tasks %q", got)
			}
			vi, err := ds.Info.Feature("observation.images.front").VideoInfo()
			if err != nil {
				t.Fatal(err)
			}
			wantCodec := map[string]string{dataset.CodecH264: "h264", dataset.CodecAV1: "av1"}[codec]
			if vi.Codec != wantCodec || vi.Width != 320 || vi.Height != 240 || vi.PixFmt != "yuv420p" || vi.FPS != 30 {
				t.Errorf("video info %+v", vi)
			}
			for e := 0; e < 3; e++ {
				data, err := ds.ReadEpisode(ctx, e)
				if err != nil {
					t.Fatal(err)
				}
				if data.Len != frames {
					t.Fatalf("episode %d: %d rows", e, data.Len)
				}
				for i := 0; i < frames; i++ {
					row := data.Row("action", i)
					for j := range row {
						if math.Abs(row[j]-want[e][i][j]) > 1e-4 {
							t.Fatalf("episode %d frame %d joint %d: %g, want %g", e, i, j, row[j], want[e][i][j])
						}
					}
				}
				n := 0
				err = ds.Frames(ctx, e, func(f *dataset.Frame) error {
					for _, k := range []string{"observation.images.front", "observation.images.wrist"} {
						img := f.Images[k]
						if code := readCode(img.Pix, img.Width, img.Height); code != f.Index {
							t.Errorf("episode %d frame %d of %s decodes as frame %d", e, f.Index, k, code)
						}
					}
					n++
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if n != frames {
					t.Errorf("episode %d: %d frames decoded", e, n)
				}
			}
			st := ds.Stats.By["observation.images.front"]
			if st == nil || len(st.Mean) != 3 || st.Mean[2] > 0.2 || st.Max[0] > 1 || st.Min[0] < 0 || st.Count == 0 {
				t.Errorf("image stats %+v", st)
			}
			if st := ds.Stats.By["index"]; st == nil || st.Max[0] != float64(3*frames-1) || st.Count != int64(3*frames) {
				t.Errorf("index stats %+v", st)
			}
		})
	}
}

func TestResumeStartsNewFiles(t *testing.T) {
	needFFmpeg(t)
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "ds")
	cfg := dataset.Config{FPS: 30, Features: testFeatures(160, 120), Video: dataset.VideoConfig{Codec: dataset.CodecH264}}
	w, err := dataset.Open(ctx, root, cfg)
	if err != nil {
		t.Fatal(err)
	}
	recordEpisodes(t, w, 2, 10, []string{"a"})
	w.Close()
	w, err = dataset.Open(ctx, root, cfg)
	if err != nil {
		t.Fatal(err)
	}
	recordEpisodes(t, w, 1, 12, []string{"b"})
	w.Close()
	for _, p := range []string{"data/chunk-000/file-001.parquet", "meta/episodes/chunk-000/file-001.parquet",
		"videos/observation.images.front/chunk-000/file-001.mp4"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("resume did not start %s: %v", p, err)
		}
	}
	rep, err := dataset.Validate(ctx, root, dataset.ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("validate: %v", rep.Errors)
	}
	if rep.Episodes != 3 || rep.Frames != 32 {
		t.Errorf("%d episodes %d frames", rep.Episodes, rep.Frames)
	}
	// A different fps is refused.
	cfg.FPS = 15
	if _, err := dataset.Open(ctx, root, cfg); err == nil || !strings.Contains(err.Error(), "fps") {
		t.Errorf("open at another fps: %v", err)
	}
}

func TestDiscardAndLock(t *testing.T) {
	needFFmpeg(t)
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "ds")
	cfg := dataset.Config{FPS: 10, Features: testFeatures(64, 48), Video: dataset.VideoConfig{Codec: dataset.CodecH264}}
	w, err := dataset.Open(ctx, root, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := dataset.Open(ctx, root, cfg); err == nil {
		t.Fatal("a second writer opened a locked dataset")
	}
	ep, err := w.StartEpisode("x")
	if err != nil {
		t.Fatal(err)
	}
	if err := ep.Discard(); err != nil {
		t.Fatal(err)
	}
	recordEpisodes(t, w, 1, 5, []string{"y"})
	if n := w.Info().TotalEpisodes; n != 1 {
		t.Errorf("%d episodes after a discard and a save", n)
	}
}
