package record_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/dataset"
	"github.com/anther-robotics/anther/dataset/record"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
)

func needFFmpeg(t testing.TB) {
	t.Helper()
	if err := dataset.FFmpegAvailable(); err != nil {
		t.Skipf("skipping: %v", err)
	}
}

// stepLog is a control.Sink keeping every step (through a ring drained by a
// goroutine), so a test knows exactly what the loop read and wrote.
type stepLog struct {
	ring  *control.Ring
	mu    sync.Mutex
	steps []control.Step
	stop  chan struct{}
	done  chan struct{}
}

func newStepLog() *stepLog {
	l := &stepLog{ring: control.NewRing(1 << 14), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		var st control.Step
		for {
			for l.ring.Pop(&st) {
				l.mu.Lock()
				l.steps = append(l.steps, st)
				l.mu.Unlock()
			}
			select {
			case <-l.stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return l
}

func (l *stepLog) Push(s *control.Step) bool { return l.ring.Push(s) }

func (l *stepLog) close() { close(l.stop); <-l.done }

// rig is the simulated robot on the real loop (wall clock) with a recorder
// and simulated cameras rendered in process.
type rig struct {
	desc  *robot.Description
	bus   *sim.Bus
	loop  *control.Loop
	rec   *record.Recorder
	jm    *record.JointMap
	cams  []record.CameraSpec
	log   *stepLog
	stop  func()
	errCh chan error
}

func newRig(t *testing.T, profile string, ncams, w, h, fps int, rate float64) *rig {
	t.Helper()
	d, err := robot.Load(profile)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{desc: d, bus: sim.NewBus(d), log: newStepLog(), errCh: make(chan error, 1)}
	if r.jm, err = record.NewJointMap(d, record.UnitsLeRobot); err != nil {
		t.Fatal(err)
	}
	tap := &record.PoseTap{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := 0; i < ncams; i++ {
		name := []string{"front", "wrist"}[i]
		sc, err := sim.NewCamera(sim.CameraConfig{Name: name, Width: w, Height: h, FPS: float64(fps), Joints: tap.Joints})
		if err != nil {
			t.Fatal(err)
		}
		rc, err := record.NewRenderedCamera(w, h, float64(fps), robot.PixelBGR24, sc.Render)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = rc.Run(ctx) }()
		r.cams = append(r.cams, record.CameraSpec{Name: name, Width: w, Height: h, Camera: rc})
	}
	if r.rec, err = record.New(record.Config{Joints: r.jm, FPS: fps, Cameras: r.cams}); err != nil {
		t.Fatal(err)
	}
	// These tests are about recording: a loaded CI machine must not trip
	// the timing watchdogs (overruns, stalls) and stop the scripted motion.
	r.loop, err = control.New(control.Config{Rate: rate, Clock: control.NewWallClock(20 * time.Microsecond), Bus: r.bus,
		Limits: control.LimitsFromDescription(d, 0.01), Sinks: []control.Sink{r.rec, tap, r.log},
		Safety: control.Safety{OverrunStreak: 1 << 30, ClockJump: time.Hour, HoldGrace: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(2)
	go func() { defer wg.Done(); _ = r.rec.Run(ctx) }()
	go func() { defer wg.Done(); r.errCh <- r.loop.Run(ctx) }()
	if err := record.Activate(ctx, r.loop, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	r.loop.SetSource("scripted", record.NewScripted(d), 0)
	var once sync.Once
	r.stop = func() { once.Do(func() { cancel(); wg.Wait(); r.log.close() }) }
	t.Cleanup(r.stop)
	return r
}

// toolsDir finds the npm test tools installed by make deps.
func toolsDir(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
	for {
		p := filepath.Join(dir, ".cache", "npm-tools")
		if _, err := os.Stat(filepath.Join(p, "node_modules", "hyparquet")); err == nil {
			return p
		}
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return ""
}

type jsFile struct {
	Columns []struct {
		Name string `json:"name"`
	} `json:"columns"`
	KV        map[string]string `json:"kv"`
	RowGroups []int             `json:"row_groups"`
	Codecs    []string          `json:"codecs"`
	Rows      []map[string]any  `json:"rows"`
}

// readWithHyparquet reads parquet files with the npm package hyparquet.
func readWithHyparquet(t *testing.T, files []string) map[string]jsFile {
	t.Helper()
	tools := toolsDir(t)
	if tools == "" {
		t.Skip("skipping the independent parquet reader: hyparquet is not installed (make deps installs it into .cache/npm-tools)")
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("skipping the independent parquet reader: node is not installed (make deps installs it)")
	}
	script, _ := filepath.Abs(filepath.Join("testdata", "readparquet.mjs"))
	out, err := exec.Command("node", append([]string{script, tools}, files...)...).Output()
	if err != nil {
		var ee *exec.ExitError
		if ok := asExit(err, &ee); ok {
			t.Fatalf("hyparquet: %v: %s", err, ee.Stderr)
		}
		t.Fatalf("hyparquet: %v", err)
	}
	res := map[string]jsFile{}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

func asExit(err error, ee **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*ee = e
	}
	return ok
}

func toFloats(v any) []float64 {
	switch x := v.(type) {
	case float64:
		return []float64{x}
	case []any:
		var out []float64
		for _, e := range x {
			out = append(out, toFloats(e)...)
		}
		return out
	}
	return nil
}

// TestRecordSimThreeEpisodes records 3 episodes × 2 s from the simulated
// SO-101 with 2 simulated cameras (AV1, LeRobot's encoder settings) and
// checks them with the validator, with ffprobe for every video, and with
// hyparquet (an independent reader) for every parquet file, against the
// steps the loop published.
func TestRecordSimThreeEpisodes(t *testing.T) {
	needFFmpeg(t)
	const fps, episodes = 30, 3
	r := newRig(t, "so101-follower", 2, 320, 240, fps, 250)
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "so101_test")
	w, err := dataset.Open(ctx, root, dataset.Config{RepoID: "anther/test", RobotType: record.RobotType(r.desc), FPS: fps,
		Features: record.Features(r.jm, r.cams), Units: record.UnitsOf(r.jm)})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1600 * time.Millisecond) // the scripted motion ramps in
	var sums []dataset.Summary
	tasks := []string{"wave every joint", "wave every joint", "reach left"}
	for e := 0; e < episodes; e++ {
		if err := r.rec.Start(ctx, w, tasks[e]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		st := r.rec.Status()
		sum, err := r.rec.Stop(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("episode %d: %d frames, saved %v after stop, status %+v", sum.Index, sum.Frames, sum.SaveTime, st)
		if sum.Frames < 55 || sum.Frames > 65 {
			t.Errorf("episode %d: %d frames for 2 s at %d fps", e, sum.Frames, fps)
		}
		sums = append(sums, sum)
		time.Sleep(300 * time.Millisecond) // reset phase
	}
	w.Close()
	r.stop()

	rep, err := dataset.Validate(ctx, root, dataset.ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("validate: %v", rep.Errors)
	}
	ds, err := dataset.OpenDataset(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()

	// Every frame is a published step: observation.state is the state the
	// loop read and action the command it wrote (after limits), in degrees
	// (the gripper 0..100).
	r.log.mu.Lock()
	steps := r.log.steps
	r.log.mu.Unlock()
	byState := map[string]*control.Step{}
	bySeq := map[uint64]int{}
	for i := range steps {
		bySeq[steps[i].Seq] = i
	}
	key := func(v []float64) string {
		var b strings.Builder
		for _, x := range v {
			fmt.Fprintf(&b, "%.3f,", float32(x))
		}
		return b.String()
	}
	vals := make([]float64, r.jm.Len())
	cmd := make([]float64, r.jm.Len())
	for i := range steps {
		r.jm.ToDataset(vals, &steps[i].State.Position)
		r.jm.ToDataset(cmd, &steps[i].Command.Position)
		byState[key(vals)+key(cmd)] = &steps[i]
	}
	total := 0
	limited := 0
	for e := 0; e < episodes; e++ {
		data, err := ds.ReadEpisode(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		total += data.Len
		var t0 time.Time
		for i := 0; i < data.Len; i++ {
			st := byState[key(data.Row("observation.state", i))+key(data.Row("action", i))]
			if st == nil {
				t.Fatalf("episode %d frame %d: observation.state %v and action %v are no published step's state and command written",
					e, i, data.Row("observation.state", i), data.Row("action", i))
			}
			r.jm.ToDataset(vals, &st.Command.Position)
			act := data.Row("action", i)
			for j := range vals {
				if math.Abs(act[j]-vals[j]) > 1e-3 {
					t.Fatalf("episode %d frame %d joint %d: action %g, the command written was %g", e, i, j, act[j], vals[j])
				}
			}
			if st.Command.Limited != 0 {
				limited++
			}
			// Frame i is the first step at or after t0 + i/fps.
			if i == 0 {
				t0 = st.Time
			}
			deadline := t0.Add(time.Duration(float64(i) / fps * float64(time.Second)))
			pos := bySeq[st.Seq]
			if st.Time.Before(deadline) || (pos > 0 && !steps[pos-1].Time.Before(deadline) && i > 0) {
				t.Errorf("episode %d frame %d: step at %v, deadline %v: not the first step at or after the frame's time",
					e, i, st.Time.Sub(t0), deadline.Sub(t0))
			}
		}
	}
	t.Logf("%d frames; %d of them with a command slowed by the limits", total, limited)

	// ffprobe, for every video: frame count and every frame's PTS.
	for _, k := range ds.Info.VideoKeys() {
		path, _ := ds.VideoFile(&ds.Episodes[0], k)
		out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
			"-show_entries", "stream=codec_name,pix_fmt,width,height,nb_read_frames,r_frame_rate", "-of", "json", path).Output()
		if err != nil {
			t.Fatal(err)
		}
		var pr struct {
			Streams []struct {
				Codec  string `json:"codec_name"`
				PixFmt string `json:"pix_fmt"`
				W      int    `json:"width"`
				H      int    `json:"height"`
				N      string `json:"nb_read_frames"`
				Rate   string `json:"r_frame_rate"`
			} `json:"streams"`
		}
		if err := json.Unmarshal(out, &pr); err != nil || len(pr.Streams) != 1 {
			t.Fatalf("ffprobe %s: %v %s", path, err, out)
		}
		s := pr.Streams[0]
		if s.Codec != "av1" || s.PixFmt != "yuv420p" || s.W != 320 || s.H != 240 || s.N != fmt.Sprint(total) || s.Rate != "30/1" {
			t.Errorf("ffprobe %s: %+v, want av1 yuv420p 320x240, %d frames at 30/1", k, s, total)
		}
		out, err = exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
			"frame=pts_time", "-of", "csv=p=0", path).Output()
		if err != nil {
			t.Fatal(err)
		}
		var pts []float64
		for _, l := range strings.Fields(string(out)) {
			var v float64
			fmt.Sscan(strings.TrimSuffix(l, ","), &v)
			pts = append(pts, v)
		}
		sort.Float64s(pts)
		if len(pts) != total {
			t.Fatalf("%s: ffprobe decoded %d frames, parquet has %d rows", k, len(pts), total)
		}
		for _, ep := range ds.Episodes {
			vs := ep.Videos[k]
			for i := 0; i < ep.Length; i++ {
				got, want := pts[ep.From+i], vs.From+float64(i)/fps
				if math.Abs(got-want) > 1e-4 {
					t.Fatalf("%s episode %d frame %d: PTS %.6f, want from_timestamp + i/fps = %.6f", k, ep.Index, i, got, want)
				}
			}
		}
	}

	// hyparquet, for every parquet file.
	files, _ := filepath.Glob(filepath.Join(root, "*", "*", "*.parquet"))
	more, _ := filepath.Glob(filepath.Join(root, "meta", "episodes", "*", "*.parquet"))
	files = append(append(files, more...), filepath.Join(root, "meta", "tasks.parquet"))
	js := readWithHyparquet(t, files)
	if len(js) != 3 {
		t.Fatalf("hyparquet read %d files: %v", len(js), files)
	}
	for path, f := range js {
		for _, c := range f.Codecs {
			if c != "SNAPPY" {
				t.Errorf("%s: codec %s, want SNAPPY", path, c)
			}
		}
		switch {
		case strings.HasSuffix(path, "tasks.parquet"):
			if len(f.Rows) != 2 || f.Rows[0]["task"] != "wave every joint" || f.Rows[1]["task_index"] != float64(1) {
				t.Errorf("tasks: %v", f.Rows)
			}
			var pd struct {
				IndexColumns []string `json:"index_columns"`
			}
			if err := json.Unmarshal([]byte(f.KV["pandas"]), &pd); err != nil || len(pd.IndexColumns) != 1 || pd.IndexColumns[0] != "task" {
				t.Errorf("tasks: pandas metadata %q", f.KV["pandas"])
			}
		case strings.Contains(path, "/meta/episodes/"):
			if len(f.Rows) != episodes {
				t.Fatalf("episodes: %d rows", len(f.Rows))
			}
			for e, row := range f.Rows {
				ep := ds.Episodes[e]
				if row["episode_index"] != float64(e) || row["length"] != float64(ep.Length) ||
					row["dataset_from_index"] != float64(ep.From) || row["dataset_to_index"] != float64(ep.To) {
					t.Errorf("episodes row %d: %v", e, row)
				}
				if row["videos/observation.images.front/from_timestamp"] != ep.Videos["observation.images.front"].From {
					t.Errorf("episodes row %d: from_timestamp %v", e, row["videos/observation.images.front/from_timestamp"])
				}
				if n := len(toFloats(row["stats/observation.images.wrist/mean"])); n != 3 {
					t.Errorf("episodes row %d: image mean has %d values", e, n)
				}
				if fmt.Sprint(row["tasks"]) != fmt.Sprintf("[%s]", tasks[e]) {
					t.Errorf("episodes row %d: tasks %v", e, row["tasks"])
				}
			}
		default: // data
			if fmt.Sprint(f.RowGroups) != fmt.Sprint([]int{sums[0].Frames, sums[1].Frames, sums[2].Frames}) {
				t.Errorf("data row groups %v, want one per episode", f.RowGroups)
			}
			if f.KV["ARROW:schema"] == "" || !strings.Contains(f.KV["huggingface"], `"length":6`) {
				t.Errorf("data: missing ARROW:schema or huggingface metadata: %v", f.KV["huggingface"])
			}
			if len(f.Rows) != total {
				t.Fatalf("data: hyparquet read %d rows, want %d", len(f.Rows), total)
			}
			for e := 0; e < episodes; e++ {
				data, _ := ds.ReadEpisode(ctx, e)
				for i := 0; i < data.Len; i++ {
					row := f.Rows[data.Meta.From+i]
					for _, k := range []string{"action", "observation.state"} {
						got, want := toFloats(row[k]), data.Row(k, i)
						for j := range want {
							if len(got) != len(want) || math.Abs(got[j]-want[j]) > 1e-4 {
								t.Fatalf("hyparquet %s episode %d frame %d: %v, the writer's columns say %v", k, e, i, got, want)
							}
						}
					}
					if row["frame_index"] != float64(i) || row["episode_index"] != float64(e) || row["index"] != float64(data.Meta.From+i) {
						t.Fatalf("hyparquet indices episode %d frame %d: %v", e, i, row)
					}
					if ts := row["timestamp"].(float64); math.Abs(ts-float64(i)/fps) > 1e-6 {
						t.Fatalf("hyparquet timestamp %g at frame %d", ts, i)
					}
				}
			}
		}
	}
}

// TestReplayRoundTrip records an episode on the simulator, reads it back,
// replays its actions on a fresh simulated robot through the safety layer
// and reports how closely the joints reproduce the recording.
func TestReplayRoundTrip(t *testing.T) {
	needFFmpeg(t)
	const fps = 30
	r := newRig(t, "so101-follower", 0, 0, 0, fps, 250)
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "ds")
	w, err := dataset.Open(ctx, root, dataset.Config{FPS: fps, Features: record.Features(r.jm, nil), Units: record.UnitsOf(r.jm)})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // let the scripted motion ramp in
	if err := r.rec.Start(ctx, w, "wave"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if _, err := r.rec.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	w.Close()
	r.stop()

	ds, err := dataset.OpenDataset(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	res, err := record.RunReplay(ctx, record.ReplayConfig{Desc: r.desc, Bus: sim.NewBus(r.desc), Rate: 250,
		Spin: 20 * time.Microsecond, Dataset: ds, Episode: 0, Lead: time.Second,
		Safety: control.Safety{OverrunStreak: 1 << 30, ClockJump: time.Hour, HoldGrace: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("replay of %d frames: RMS vs recorded observation.state %.3f (per joint %.3f, units %v), vs action %.3f; max %.3f; trip %s",
		res.Frames, res.RMSStateAll, res.RMSState, res.Units, res.RMSActionAll, res.MaxState, res.Trip)
	if res.RMSStateAll > 1.0 {
		t.Errorf("replay RMS error %.3f against the recorded state is above 1 (degree / gripper %%)", res.RMSStateAll)
	}
}
