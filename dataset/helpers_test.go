package dataset_test

import (
	"context"
	"encoding/json"
	"math"
	"os/exec"
	"testing"
	"time"

	"github.com/anther-robotics/anther/dataset"
)

func needFFmpeg(t testing.TB) {
	t.Helper()
	if err := dataset.FFmpegAvailable(); err != nil {
		t.Skipf("skipping: %v", err)
	}
}

// testFeatures are an SO-101-like arm with two cameras.
func testFeatures(w, h int) []dataset.Feature {
	names, _ := json.Marshal([]string{"shoulder_pan.pos", "shoulder_lift.pos", "elbow_flex.pos", "wrist_flex.pos", "wrist_roll.pos", "gripper.pos"})
	cam := json.RawMessage(`["height","width","channels"]`)
	return []dataset.Feature{
		{Key: "action", DType: "float32", Shape: []int{6}, Names: names},
		{Key: "observation.state", DType: "float32", Shape: []int{6}, Names: names},
		{Key: "observation.images.front", DType: "video", Shape: []int{h, w, 3}, Names: cam},
		{Key: "observation.images.wrist", DType: "video", Shape: []int{h, w, 3}, Names: cam},
	}
}

// drawFrame draws a frame whose 8 big blocks along the top encode frame
// (so a decoded frame can be identified despite lossy coding), over a
// gradient tinted per camera.
func drawFrame(pix []byte, w, h, cam, frame int) {
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			o := (y*w + x) * 3
			pix[o] = byte(x * 255 / w)
			pix[o+1] = byte(y * 255 / h)
			pix[o+2] = byte(80 * cam)
		}
	}
	bw := w / 8
	for b := 0; b < 8; b++ {
		v := byte(0)
		if frame>>b&1 != 0 {
			v = 255
		}
		for y := 0; y < h/4; y++ {
			for x := b * bw; x < (b+1)*bw; x++ {
				o := (y*w + x) * 3
				pix[o], pix[o+1], pix[o+2] = v, v, v
			}
		}
	}
}

// readCode decodes the frame number drawn by drawFrame.
func readCode(pix []byte, w, h int) int {
	bw := w / 8
	code := 0
	for b := 0; b < 8; b++ {
		x, y := b*bw+bw/2, h/8
		o := (y*w + x) * 3
		if pix[o] > 128 {
			code |= 1 << b
		}
	}
	return code
}

// jointValues is a smooth per-joint signal.
func jointValues(ep, i, j int) float64 {
	return 30*math.Sin(float64(i)/15+float64(j)) + float64(ep)
}

// recordEpisodes writes n episodes of frames frames each and returns the
// action values recorded, per episode.
func recordEpisodes(t *testing.T, w *dataset.Writer, episodes, frames int, tasks []string) [][][]float64 {
	t.Helper()
	ctx := context.Background()
	var all [][][]float64
	for e := 0; e < episodes; e++ {
		ep, err := w.StartEpisode(tasks[e%len(tasks)])
		if err != nil {
			t.Fatal(err)
		}
		var rows [][]float64
		for i := 0; i < frames; i++ {
			act := make([]float64, 6)
			st := make([]float64, 6)
			for j := range act {
				act[j] = jointValues(ep.Index(), i, j)
				st[j] = act[j] - 0.5
			}
			imgs := make([]*dataset.Image, len(ep.Cameras()))
			for c := range imgs {
				img, err := ep.AcquireImage(ctx, c)
				if err != nil {
					t.Fatal(err)
				}
				drawFrame(img.Pix, img.Width, img.Height, c, i)
				img.Time = time.Now()
				imgs[c] = img
			}
			if err := ep.Add([][]float64{act, st}, imgs); err != nil {
				t.Fatal(err)
			}
			rows = append(rows, act)
		}
		sum, err := ep.Save(ctx, dataset.Quality{Faithful: true})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Frames != frames {
			t.Fatalf("saved %d frames, want %d", sum.Frames, frames)
		}
		t.Logf("episode %d saved in %v", sum.Index, sum.SaveTime)
		all = append(all, rows)
	}
	return all
}

func ffprobeJSON(t *testing.T, args ...string) []byte {
	t.Helper()
	out, err := exec.Command("ffprobe", args...).Output()
	if err != nil {
		t.Fatalf("ffprobe %v: %v", args, err)
	}
	return out
}
