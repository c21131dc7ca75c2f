package dataset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Config describes a dataset to create, or the recording to add to an
// existing one (which must then have the same fps and features).
type Config struct {
	RepoID    string    // "user/name", kept in meta/anther.json (the Hub engineer's push reads it)
	RobotType string    // info.json robot_type, e.g. "so101_follower"
	FPS       int       // frames per second, > 0
	Features  []Feature // user features in column order: vectors (float32, shape [D]) and cameras (dtype "video", shape [H, W, 3])
	Video     VideoConfig
	// Units names the unit of each dimension of vector features (e.g.
	// "deg"), kept in meta/anther.json so replay can convert back.
	Units map[string][]string
	// File layout; 0 takes LeRobot's defaults.
	ChunkSize, DataFileMB, VideoFileMB int
	// QueueFrames is how many frames per camera may wait for the encoder
	// before AcquireImage blocks (0: one second of frames).
	QueueFrames int
	Logger      *slog.Logger
}

// Quality says whether an episode was recorded faithfully: every frame's
// state, action and images taken at its own tick. Issues counts what went
// wrong (e.g. "duplicated_images", "late_images", "lost_steps").
type Quality struct {
	Faithful bool           `json:"faithful"`
	Issues   map[string]int `json:"issues,omitempty"`
	Note     string         `json:"note,omitempty"`
	Loop     *LoopTiming    `json:"loop,omitempty"` // the control loop's timing while the episode was recorded
}

// LoopTiming is the control loop's wake-up lateness over one episode, kept
// with the episode in meta/anther.json.
type LoopTiming struct {
	Ticks  uint64  `json:"ticks"`
	P50US  float64 `json:"lateness_p50_us"`
	P99US  float64 `json:"lateness_p99_us"`
	P999US float64 `json:"lateness_p99_9_us"`
	MaxUS  float64 `json:"lateness_max_us"`
}

// sidecar is meta/anther.json: what LeRobot has no field for.
type sidecar struct {
	Format   int                 `json:"format"`
	RepoID   string              `json:"repo_id,omitempty"`
	Units    map[string][]string `json:"units,omitempty"`
	Episodes []sidecarEpisode    `json:"episodes"`
}

type sidecarEpisode struct {
	Index int `json:"episode_index"`
	Quality
	Recorded time.Time `json:"recorded"`
}

// Writer adds episodes to a LeRobot v3.0 dataset. It holds an exclusive
// lock on the dataset until Close. One goroutine drives it; only the
// Episode's status readers may be called from others.
type Writer struct {
	root  string
	cfg   Config
	log   *slog.Logger
	lock  *os.File
	info  *Info
	tasks []string
	stats *Stats
	eps   []EpisodeMeta
	side  sidecar

	// Files this session writes to (a resumed dataset starts new files).
	data      *fileCursor
	meta      *fileCursor
	metaRows  []EpisodeMeta
	video     map[string]*videoCursor
	recovered []string
	cur       *Episode
}

type fileCursor struct {
	chunk, file int
	frames      int // frames (data) or episodes (meta) in it
}

type videoCursor struct {
	chunk, file int
	end         float64 // to_timestamp of the last episode in it
}

const stateDir = ".anther"

// Open opens the dataset at root for recording, creating it from cfg if it
// does not exist. An existing dataset must be v3.0 with cfg's fps and
// features. Open first repairs what a crash left: it completes a save that
// had committed, rolls back one that had not, and removes partial
// episodes; Recovered says what it did.
func Open(ctx context.Context, root string, cfg Config) (*Writer, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.FPS <= 0 {
		return nil, fmt.Errorf("dataset: fps must be > 0, is %d", cfg.FPS)
	}
	if err := cfg.Video.Validate(); err != nil {
		return nil, err
	}
	for _, f := range cfg.Features {
		if f.Key == "" || f.Key != filepath.ToSlash(f.Key) || containsSlash(f.Key) || IsDefaultFeature(f.Key) {
			return nil, fmt.Errorf("dataset: feature name %q is empty, reserved or contains '/'", f.Key)
		}
		if !f.IsVideo() {
			if _, err := arrowType(f.DType); err != nil || f.DType == DTypeString || len(f.Shape) != 1 {
				return nil, fmt.Errorf("dataset: feature %s: the writer records numeric vectors and videos, not %s %v", f.Key, f.DType, f.Shape)
			}
		}
		if f.IsVideo() && (len(f.Shape) != 3 || f.Shape[2] != 3 || f.Shape[0]%2 != 0 || f.Shape[1]%2 != 0) {
			return nil, fmt.Errorf("dataset: camera %s: shape %v (want [H, W, 3] with even H and W)", f.Key, f.Shape)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, stateDir), 0o755); err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	w := &Writer{root: root, cfg: cfg, log: cfg.Logger, video: map[string]*videoCursor{}}
	if err := w.takeLock(); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			w.unlock()
		}
	}()
	rec, err := recoverState(root)
	if err != nil {
		return nil, err
	}
	w.recovered = rec
	for _, m := range rec {
		w.log.Warn("dataset: recovered after an interrupted run", "root", root, "what", m)
	}
	if _, err := os.Stat(filepath.Join(root, InfoPath)); errors.Is(err, os.ErrNotExist) {
		if err := w.create(); err != nil {
			return nil, err
		}
	} else if err := w.resume(ctx); err != nil {
		return nil, err
	}
	ok = true
	return w, nil
}

func containsSlash(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return true
		}
	}
	return false
}

func (w *Writer) takeLock() error {
	f, err := os.OpenFile(filepath.Join(w.root, stateDir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("dataset: %s is being written by another process: %w", w.root, err)
	}
	w.lock = f
	return nil
}

func (w *Writer) unlock() {
	if w.lock != nil {
		_ = syscall.Flock(int(w.lock.Fd()), syscall.LOCK_UN)
		w.lock.Close()
		w.lock = nil
	}
}

func (w *Writer) create() error {
	c := w.cfg
	feats := slices.Clone(c.Features)
	for i := range feats {
		if feats[i].Names == nil {
			feats[i].Names = json.RawMessage("null")
		}
		if feats[i].IsVideo() && feats[i].Info == nil {
			feats[i].Info = json.RawMessage(`{"is_depth_map":false}`)
		}
	}
	feats = append(feats, DefaultFeatures()...)
	info := &Info{CodebaseVersion: CodebaseVersion, TotalEpisodes: 0, TotalFrames: 0, TotalTasks: 0,
		ChunksSize: orDefault(c.ChunkSize, DefaultChunkSize), DataFilesMB: orDefault(c.DataFileMB, DefaultDataFileMB),
		VideoFilesMB: orDefault(c.VideoFileMB, DefaultVideoFileMB), FPS: c.FPS, Splits: map[string]string{},
		DataPath: DefaultDataPath, Features: feats}
	if c.RobotType != "" {
		rt := c.RobotType
		info.RobotType = &rt
	}
	if len(info.VideoKeys()) > 0 {
		vp := DefaultVideoPath
		info.VideoPath = &vp
	}
	if _, err := DataSchema(info); err != nil {
		return err
	}
	w.info = info
	w.side = sidecar{Format: 1, RepoID: c.RepoID, Units: c.Units, Episodes: []sidecarEpisode{}}
	data, err := EncodeInfo(info)
	if err != nil {
		return err
	}
	if err := writeFileSync(filepath.Join(w.root, InfoPath), data); err != nil {
		return err
	}
	w.log.Info("dataset: created", "root", w.root, "fps", c.FPS, "features", len(feats))
	return nil
}

func orDefault(v, d int) int {
	if v <= 0 {
		return d
	}
	return v
}

func (w *Writer) resume(ctx context.Context) error {
	ds, err := OpenDataset(ctx, w.root)
	if err != nil {
		return err
	}
	if ds.Info.CodebaseVersion != CodebaseVersion {
		return fmt.Errorf("dataset: %s is %s; only %s datasets can be extended", w.root, ds.Info.CodebaseVersion, CodebaseVersion)
	}
	if ds.Info.FPS != w.cfg.FPS {
		return fmt.Errorf("dataset: %s records at %d fps, not %d", w.root, ds.Info.FPS, w.cfg.FPS)
	}
	for _, f := range w.cfg.Features {
		have := ds.Info.Feature(f.Key)
		if have == nil || have.DType != f.DType || !slices.Equal(have.Shape, f.Shape) {
			return fmt.Errorf("dataset: %s has no feature %s with dtype %s and shape %v; record into a new dataset",
				w.root, f.Key, f.DType, f.Shape)
		}
		if want, got := f.NameList(), have.NameList(); want != nil && !slices.Equal(want, got) {
			return fmt.Errorf("dataset: %s: feature %s has names %v, the robot gives %v", w.root, f.Key, got, want)
		}
	}
	if n := len(ds.Info.Features) - len(DefaultFeatures()); n != len(w.cfg.Features) {
		return fmt.Errorf("dataset: %s has %d user features, the recording gives %d", w.root, n, len(w.cfg.Features))
	}
	w.info, w.tasks, w.stats, w.eps = ds.Info, ds.Tasks, ds.Stats, ds.Episodes
	w.side = ds.side
	if w.side.Format == 0 {
		w.side = sidecar{Format: 1, RepoID: w.cfg.RepoID, Units: w.cfg.Units}
	}
	if w.side.Episodes == nil {
		w.side.Episodes = []sidecarEpisode{}
	}
	w.log.Info("dataset: resuming", "root", w.root, "episodes", w.info.TotalEpisodes, "frames", w.info.TotalFrames)
	return nil
}

// Root is the dataset's folder.
func (w *Writer) Root() string { return w.root }

// Info is the dataset's current info.json (do not modify).
func (w *Writer) Info() *Info { return w.info }

// Episodes lists the saved episodes.
func (w *Writer) Episodes() []EpisodeMeta { return w.eps }

// Recovered lists what Open repaired after an interrupted run.
func (w *Writer) Recovered() []string { return w.recovered }

// Close releases the dataset. An episode still open is discarded.
func (w *Writer) Close() error {
	if w.cur != nil {
		_ = w.cur.Discard()
	}
	w.unlock()
	return nil
}

// Image is one camera frame: packed RGB24 rows, Width×Height×3 bytes.
type Image struct {
	Width, Height int
	Pix           []byte
	Time          time.Time // capture time (informational)
}

// Episode is an episode being recorded. Frames go in with Add; Save makes
// the episode part of the dataset, Discard drops it.
type Episode struct {
	w       *Writer
	index   int
	task    string
	dir     string
	started time.Time
	cols    [][]float64 // per user data feature
	dims    []int
	f32     []bool // the column is stored as float32 (values rounded on Add, so stats match the file)
	dataIdx []int  // info feature index of each user data feature
	n       int
	cams    []*camEncoder
	done    bool
}

type camEncoder struct {
	key     string
	w, h    int
	path    string
	enc     *encoder
	queue   chan *Image
	free    chan *Image
	hist    []FrameHistogram
	written atomic.Int64
	err     atomic.Pointer[error]
	wg      sync.WaitGroup
}

// StartEpisode begins the next episode with a task description and starts
// one encoder per camera. Only one episode is open at a time.
func (w *Writer) StartEpisode(task string) (*Episode, error) {
	if w.cur != nil {
		return nil, errors.New("dataset: an episode is already open")
	}
	if task == "" {
		return nil, errors.New("dataset: an episode needs a task description")
	}
	ep := &Episode{w: w, index: w.info.TotalEpisodes, task: task, started: time.Now()}
	ep.dir = filepath.Join(w.root, stateDir, fmt.Sprintf("episode-%06d", ep.index))
	if err := os.RemoveAll(ep.dir); err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	if err := os.MkdirAll(ep.dir, 0o755); err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	marker, _ := json.Marshal(map[string]any{"episode_index": ep.index, "task": task, "started": ep.started})
	if err := os.WriteFile(filepath.Join(ep.dir, "episode.json"), marker, 0o644); err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	for i, f := range w.info.Features {
		if f.IsVideo() || IsDefaultFeature(f.Key) {
			continue
		}
		ep.dataIdx = append(ep.dataIdx, i)
		ep.dims = append(ep.dims, f.Dim())
		ep.f32 = append(ep.f32, f.DType == "float32")
		ep.cols = append(ep.cols, make([]float64, 0, f.Dim()*w.cfg.FPS*60))
	}
	depth := w.cfg.QueueFrames
	if depth <= 0 {
		depth = w.cfg.FPS
	}
	for _, f := range w.info.Features {
		if !f.IsVideo() {
			continue
		}
		c := &camEncoder{key: f.Key, h: f.Shape[0], w: f.Shape[1],
			path:  filepath.Join(ep.dir, sanitize(f.Key)+".mp4"),
			queue: make(chan *Image, depth), free: make(chan *Image, depth)}
		for range depth {
			c.free <- &Image{Width: c.w, Height: c.h, Pix: make([]byte, c.w*c.h*3)}
		}
		enc, err := startEncoder(c.path, c.w, c.h, w.cfg.FPS, w.cfg.Video)
		if err != nil {
			ep.kill()
			return nil, err
		}
		c.enc = enc
		ep.cams = append(ep.cams, c)
		c.wg.Add(1)
		go c.run()
	}
	w.cur = ep
	return ep, nil
}

func sanitize(key string) string {
	b := []byte(key)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}

// run feeds queued frames to ffmpeg; on failure it keeps draining so the
// producer never blocks forever.
func (c *camEncoder) run() {
	defer c.wg.Done()
	for img := range c.queue {
		if c.err.Load() == nil {
			var fh FrameHistogram
			fh.Add(img.Pix, c.w, c.h)
			c.hist = append(c.hist, fh)
			if err := c.enc.write(img.Pix); err != nil {
				c.err.Store(&err)
			} else {
				c.written.Add(1)
			}
		}
		c.free <- img
	}
}

// Index is the episode's episode_index.
func (e *Episode) Index() int { return e.index }

// Task is the episode's task description.
func (e *Episode) Task() string { return e.task }

// Frames is the number of frames added so far.
func (e *Episode) Frames() int { return e.n }

// Cameras lists the camera feature keys, in the order Add expects images.
func (e *Episode) Cameras() []string {
	keys := make([]string, len(e.cams))
	for i, c := range e.cams {
		keys[i] = c.key
	}
	return keys
}

// Backlog is the largest number of frames waiting for a camera's encoder.
// Safe from any goroutine.
func (e *Episode) Backlog() int {
	b := 0
	for _, c := range e.cams {
		b = max(b, len(c.queue))
	}
	return b
}

// Encoded is the smallest number of frames a camera's encoder has taken.
// Safe from any goroutine.
func (e *Episode) Encoded() int {
	if len(e.cams) == 0 {
		return e.n
	}
	m := math.MaxInt
	for _, c := range e.cams {
		m = min(m, int(c.written.Load()))
	}
	return m
}

// AcquireImage returns a free frame buffer for camera cam (index into
// Cameras) to fill and pass to Add. It blocks while the camera's encoder is
// QueueFrames behind: that is the backpressure the recorder absorbs.
func (e *Episode) AcquireImage(ctx context.Context, cam int) (*Image, error) {
	c := e.cams[cam]
	if p := c.err.Load(); p != nil {
		return nil, *p
	}
	select {
	case img := <-c.free:
		return img, nil
	default:
	}
	select {
	case img := <-c.free:
		return img, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("dataset: waiting for %s's encoder: %w", c.key, ctx.Err())
	}
}

// ReleaseImage gives back a buffer taken with AcquireImage and not added.
func (e *Episode) ReleaseImage(cam int, img *Image) { e.cams[cam].free <- img }

// Add appends one frame: values holds one slice per user vector feature
// (in feature order, in the dataset's units) and images one buffer per
// camera, taken from AcquireImage; Add takes ownership of the images.
func (e *Episode) Add(values [][]float64, images []*Image) error {
	if e.done {
		return errors.New("dataset: episode already saved or discarded")
	}
	if len(values) != len(e.cols) || len(images) != len(e.cams) {
		return fmt.Errorf("dataset: frame has %d vectors and %d images, want %d and %d", len(values), len(images), len(e.cols), len(e.cams))
	}
	for i, v := range values {
		if len(v) != e.dims[i] {
			return fmt.Errorf("dataset: %s: %d values, want %d", e.w.info.Features[e.dataIdx[i]].Key, len(v), e.dims[i])
		}
	}
	for i, img := range images {
		c := e.cams[i]
		if img == nil || img.Width != c.w || img.Height != c.h || len(img.Pix) != c.w*c.h*3 {
			return fmt.Errorf("dataset: %s: image is not %dx%d RGB", c.key, c.w, c.h)
		}
	}
	for i, v := range values {
		if e.f32[i] {
			for _, x := range v {
				e.cols[i] = append(e.cols[i], float64(float32(x)))
			}
			continue
		}
		e.cols[i] = append(e.cols[i], v...)
	}
	for i, img := range images {
		e.cams[i].queue <- img // never blocks: a buffer exists only while a queue slot does
	}
	e.n++
	return nil
}

func (e *Episode) kill() {
	for _, c := range e.cams {
		if c.enc != nil {
			c.enc.kill()
		}
	}
}

func (e *Episode) closeEncoders() {
	for _, c := range e.cams {
		close(c.queue)
	}
	for _, c := range e.cams {
		c.wg.Wait()
	}
}

// Discard drops the episode: encoders stop, staged files go.
func (e *Episode) Discard() error {
	if e.done {
		return nil
	}
	e.done = true
	e.kill()
	e.closeEncoders()
	e.w.cur = nil
	if err := os.RemoveAll(e.dir); err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	return nil
}

// Summary describes a saved episode.
type Summary struct {
	Index    int           `json:"episode_index"`
	Frames   int           `json:"frames"`
	Duration float64       `json:"duration_s"`
	Task     string        `json:"task"`
	Quality  Quality       `json:"quality"`
	SaveTime time.Duration `json:"save_time_ns"` // from Save's call to the committed episode
}

// Save finishes the encoders and commits the episode atomically: after it
// returns the episode is in every file; a crash before the commit point
// leaves the dataset as it was. An episode with no frames is an error.
func (e *Episode) Save(ctx context.Context, q Quality) (Summary, error) {
	t0 := time.Now()
	if e.done {
		return Summary{}, errors.New("dataset: episode already saved or discarded")
	}
	if e.n == 0 {
		_ = e.Discard()
		return Summary{}, errors.New("dataset: episode has no frames; discarded")
	}
	e.done = true
	e.closeEncoders()
	for _, c := range e.cams {
		if p := c.err.Load(); p != nil {
			e.kill()
			e.w.cur = nil
			return Summary{}, *p
		}
		if err := c.enc.finish(); err != nil {
			e.kill()
			e.w.cur = nil
			return Summary{}, err
		}
		if int(c.written.Load()) != e.n {
			e.w.cur = nil
			return Summary{}, fmt.Errorf("dataset: %s: encoded %d frames for %d rows", c.key, c.written.Load(), e.n)
		}
	}
	err := e.w.commitEpisode(ctx, e, q)
	e.w.cur = nil
	if err != nil {
		return Summary{}, err
	}
	_ = os.RemoveAll(e.dir)
	return Summary{Index: e.index, Frames: e.n, Duration: float64(e.n) / float64(e.w.cfg.FPS), Task: e.task,
		Quality: q, SaveTime: time.Since(t0)}, nil
}

// ---- commit ----

func (w *Writer) relPath(tmpl string, vals map[string]any) string {
	p, err := FormatPath(tmpl, vals)
	if err != nil {
		// Templates come from info.json, checked when the dataset was opened.
		panic(err)
	}
	return p
}

func fileMB(path string) float64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return float64(st.Size()) / (1024 * 1024)
}

// commitEpisode writes every changed file into the commit area, commits
// the manifest and renames the files into place.
func (w *Writer) commitEpisode(ctx context.Context, e *Episode, q Quality) error {
	info := w.info
	fps := w.cfg.FPS
	n := e.n
	c := newCommit(w.root)
	defer c.abandon()

	// Tasks.
	taskIdx := slices.Index(w.tasks, e.task)
	tasks := w.tasks
	if taskIdx < 0 {
		tasks = append(slices.Clone(w.tasks), e.task)
		taskIdx = len(tasks) - 1
		if err := writeTasks(c.stage(TasksPath), tasks); err != nil {
			return err
		}
	}

	// Columns and per-episode statistics.
	from := info.TotalFrames
	epStats := NewStats()
	userCol := map[int]int{}
	for j, fi := range e.dataIdx {
		userCol[fi] = j
	}
	defaults := map[string][]float64{}
	ts, fidx, eidx, gidx, tidx := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i := 0; i < n; i++ {
		ts[i] = float64(float32(float64(i) / float64(fps)))
		fidx[i], eidx[i], gidx[i], tidx[i] = float64(i), float64(e.index), float64(from+i), float64(taskIdx)
	}
	defaults["timestamp"], defaults["frame_index"], defaults["episode_index"], defaults["index"], defaults["task_index"] = ts, fidx, eidx, gidx, tidx
	camIdx := 0
	for fi, f := range info.Features {
		switch {
		case f.IsVideo():
			epStats.Set(f.Key, ImageStats(e.cams[camIdx].hist))
			camIdx++
		case IsDefaultFeature(f.Key):
			epStats.Set(f.Key, ComputeStats(defaults[f.Key], n, 1, []int{1}))
		case f.DType == DTypeString:
		default:
			j := userCol[fi]
			epStats.Set(f.Key, ComputeStats(e.cols[j], n, e.dims[j], []int{e.dims[j]}))
		}
	}

	// Data file.
	schema, err := DataSchema(info)
	if err != nil {
		return err
	}
	dc := w.nextDataCursor(n)
	dataRel := w.relPath(info.DataPath, map[string]any{"chunk_index": dc.chunk, "file_index": dc.file})
	var recs []arrow.RecordBatch
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	if dc.frames > 0 {
		old, err := w.readRowGroups(ctx, filepath.Join(w.root, dataRel), schema)
		if err != nil {
			return err
		}
		recs = append(recs, old...)
	}
	cols := make([][]float64, 0, len(info.DataFeatures()))
	j := 0
	for _, f := range info.DataFeatures() {
		if d, ok := defaults[f.Key]; ok {
			cols = append(cols, d)
		} else {
			cols = append(cols, e.cols[j])
			j++
		}
	}
	rec, err := buildRecord(schema, info.DataFeatures(), cols, n)
	if err != nil {
		return err
	}
	recs = append(recs, rec)
	if err := writeParquet(c.stage(dataRel), schema, recs); err != nil {
		return err
	}

	// Videos.
	meta := EpisodeMeta{Index: e.index, Tasks: []string{e.task}, Length: n, DataChunk: dc.chunk, DataFile: dc.file,
		From: from, To: from + n, Videos: map[string]VideoSpan{}, Stats: epStats}
	dur := float64(n) / float64(fps)
	newVideo := map[string]*videoCursor{}
	var probe0 map[string]*Probe
	for _, cam := range e.cams {
		p, err := ProbeVideo(ctx, cam.path)
		if err != nil {
			return err
		}
		if p.Frames != 0 && p.Frames != n {
			return fmt.Errorf("dataset: %s: the encoded segment has %d frames for %d rows", cam.key, p.Frames, n)
		}
		if info.TotalEpisodes == 0 {
			if probe0 == nil {
				probe0 = map[string]*Probe{}
			}
			probe0[cam.key] = p
		}
		vc := w.video[cam.key]
		segMB := fileMB(cam.path)
		var curRel string
		if vc != nil {
			curRel = w.relPath(*info.VideoPath, map[string]any{"video_key": cam.key, "chunk_index": vc.chunk, "file_index": vc.file})
		}
		var nvc videoCursor
		if vc == nil || fileMB(filepath.Join(w.root, curRel))+segMB >= float64(info.VideoFilesMB) {
			nvc = w.firstVideoCursor(cam.key, vc)
			rel := w.relPath(*info.VideoPath, map[string]any{"video_key": cam.key, "chunk_index": nvc.chunk, "file_index": nvc.file})
			if err := os.Rename(cam.path, c.stage(rel)); err != nil {
				return fmt.Errorf("dataset: %w", err)
			}
			nvc.end = dur
			meta.Videos[cam.key] = VideoSpan{Chunk: nvc.chunk, File: nvc.file, From: 0, To: dur}
		} else {
			nvc = *vc
			if err := concatVideos(ctx, c.stage(curRel), []string{filepath.Join(w.root, curRel), cam.path},
				[]float64{vc.end, dur}); err != nil {
				return err
			}
			meta.Videos[cam.key] = VideoSpan{Chunk: nvc.chunk, File: nvc.file, From: vc.end, To: vc.end + dur}
			nvc.end = vc.end + dur
		}
		newVideo[cam.key] = &nvc
	}

	// Episode metadata.
	mc, rows := w.nextMetaCursor()
	meta.MetaChunk, meta.MetaFile = mc.chunk, mc.file
	rows = append(rows, meta)
	metaRel := w.relPath(DefaultEpisodesPath, map[string]any{"chunk_index": mc.chunk, "file_index": mc.file})
	if err := writeEpisodes(c.stage(metaRel), info.VideoKeys(), rows); err != nil {
		return err
	}

	// Stats, info, sidecar.
	stats := AggregateAll(w.stats, epStats)
	sdata, err := EncodeStats(stats)
	if err != nil {
		return err
	}
	if err := writeFileSync(c.stage(StatsPath), sdata); err != nil {
		return err
	}
	ni := *info
	ni.Features = slices.Clone(info.Features)
	ni.TotalEpisodes++
	ni.TotalFrames += n
	ni.TotalTasks = len(tasks)
	ni.Splits = map[string]string{"train": fmt.Sprintf("0:%d", ni.TotalEpisodes)}
	for k, p := range probe0 {
		for i := range ni.Features {
			if ni.Features[i].Key == k {
				vi := w.cfg.Video.videoInfo(p, fps)
				vi.HasAudio = p.HasAudio
				raw, _ := json.Marshal(vi)
				ni.Features[i].Info = raw
			}
		}
	}
	idata, err := EncodeInfo(&ni)
	if err != nil {
		return err
	}
	if err := writeFileSync(c.stage(InfoPath), idata); err != nil {
		return err
	}
	side := w.side
	side.Episodes = append(slices.Clone(w.side.Episodes), sidecarEpisode{Index: e.index, Quality: q, Recorded: e.started.UTC()})
	sd, _ := json.MarshalIndent(side, "", "    ")
	if err := writeFileSync(c.stage(sidecarPath), append(sd, '\n')); err != nil {
		return err
	}

	// Order: media and tables first, info.json last.
	order := []string{}
	for _, k := range info.VideoKeys() {
		vs := meta.Videos[k]
		order = append(order, w.relPath(*info.VideoPath, map[string]any{"video_key": k, "chunk_index": vs.Chunk, "file_index": vs.File}))
	}
	if taskIdx == len(w.tasks) {
		order = append(order, TasksPath)
	}
	order = append(order, dataRel, metaRel, StatsPath, sidecarPath, InfoPath)
	if err := c.commit(e.index, order); err != nil {
		return err
	}

	// The episode is in; update the in-memory state.
	w.tasks, w.stats, w.info, w.side = tasks, stats, &ni, side
	w.eps = append(w.eps, meta)
	w.data = &fileCursor{chunk: dc.chunk, file: dc.file, frames: dc.frames + n}
	w.meta = &fileCursor{chunk: mc.chunk, file: mc.file, frames: len(rows)}
	w.metaRows = rows
	for k, v := range newVideo {
		w.video[k] = v
	}
	return nil
}

// nextDataCursor picks the data file for an episode of n frames: the
// current one, or a new one when it would pass the size cap (LeRobot's
// rule) or when this session has not written one yet.
func (w *Writer) nextDataCursor(n int) fileCursor {
	if w.data == nil {
		if len(w.eps) == 0 {
			return fileCursor{}
		}
		last := w.eps[len(w.eps)-1]
		ch, fi := nextChunkFile(last.DataChunk, last.DataFile, w.info.ChunksSize)
		return fileCursor{chunk: ch, file: fi}
	}
	rel := w.relPath(w.info.DataPath, map[string]any{"chunk_index": w.data.chunk, "file_index": w.data.file})
	size := fileMB(filepath.Join(w.root, rel))
	per := 0.0
	if w.data.frames > 0 {
		per = size / float64(w.data.frames)
	}
	if size+per*float64(n) >= float64(w.info.DataFilesMB) {
		ch, fi := nextChunkFile(w.data.chunk, w.data.file, w.info.ChunksSize)
		return fileCursor{chunk: ch, file: fi}
	}
	return *w.data
}

func (w *Writer) firstVideoCursor(key string, cur *videoCursor) videoCursor {
	if cur != nil {
		ch, fi := nextChunkFile(cur.chunk, cur.file, w.info.ChunksSize)
		return videoCursor{chunk: ch, file: fi}
	}
	if len(w.eps) == 0 {
		return videoCursor{}
	}
	last := w.eps[len(w.eps)-1].Videos[key]
	ch, fi := nextChunkFile(last.Chunk, last.File, w.info.ChunksSize)
	return videoCursor{chunk: ch, file: fi}
}

func (w *Writer) nextMetaCursor() (fileCursor, []EpisodeMeta) {
	if w.meta == nil {
		if len(w.eps) == 0 {
			return fileCursor{}, nil
		}
		last := w.eps[len(w.eps)-1]
		ch, fi := nextChunkFile(last.MetaChunk, last.MetaFile, w.info.ChunksSize)
		return fileCursor{chunk: ch, file: fi}, nil
	}
	rel := w.relPath(DefaultEpisodesPath, map[string]any{"chunk_index": w.meta.chunk, "file_index": w.meta.file})
	size := fileMB(filepath.Join(w.root, rel))
	per := size / float64(max(1, w.meta.frames))
	if size+per >= float64(w.info.DataFilesMB) {
		ch, fi := nextChunkFile(w.meta.chunk, w.meta.file, w.info.ChunksSize)
		return fileCursor{chunk: ch, file: fi}, nil
	}
	return *w.meta, slices.Clone(w.metaRows)
}

// buildRecord builds n rows of the data features from flat columns.
func buildRecord(schema *arrow.Schema, feats []Feature, cols [][]float64, n int) (arrow.RecordBatch, error) {
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for ci, f := range feats {
		vals, dim := cols[ci], f.Dim()
		if len(vals) != n*dim {
			return nil, fmt.Errorf("dataset: %s: %d values for %d rows of %d", f.Key, len(vals), n, dim)
		}
		fb := b.Field(ci)
		if lb, ok := fb.(*array.FixedSizeListBuilder); ok {
			vb := lb.ValueBuilder()
			for r := 0; r < n; r++ {
				lb.Append(true)
				if err := appendValues(vb, vals[r*dim:(r+1)*dim]); err != nil {
					return nil, fmt.Errorf("dataset: %s: %w", f.Key, err)
				}
			}
			continue
		}
		if err := appendValues(fb, vals); err != nil {
			return nil, fmt.Errorf("dataset: %s: %w", f.Key, err)
		}
	}
	return b.NewRecordBatch(), nil
}

// readRowGroups reads a data file this session wrote back as one record per
// row group (one per episode), rebuilt with schema.
func (w *Writer) readRowGroups(ctx context.Context, path string, schema *arrow.Schema) ([]arrow.RecordBatch, error) {
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", path, err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 1 << 20}, memory.DefaultAllocator)
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", path, err)
	}
	feats := w.info.DataFeatures()
	colIdx := make([]int, pf.MetaData().Schema.NumColumns())
	for i := range colIdx {
		colIdx[i] = i
	}
	var out []arrow.RecordBatch
	for rg := 0; rg < pf.NumRowGroups(); rg++ {
		tbl, err := fr.ReadRowGroups(ctx, colIdx, []int{rg})
		if err != nil {
			return nil, fmt.Errorf("dataset: %s: row group %d: %w", path, rg, err)
		}
		cols := make([][]float64, len(feats))
		for i, f := range feats {
			idx := tbl.Schema().FieldIndices(f.Key)
			if len(idx) == 0 {
				tbl.Release()
				return nil, fmt.Errorf("dataset: %s: no column %s", path, f.Key)
			}
			if cols[i], _, err = FloatColumn(tbl.Column(idx[0]).Data()); err != nil {
				tbl.Release()
				return nil, fmt.Errorf("dataset: %s: %s: %w", path, f.Key, err)
			}
		}
		n := int(tbl.NumRows())
		tbl.Release()
		rec, err := buildRecord(schema, feats, cols, n)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

func appendValues(b array.Builder, vals []float64) error {
	switch x := b.(type) {
	case *array.Float32Builder:
		for _, v := range vals {
			x.Append(float32(v))
		}
	case *array.Float64Builder:
		x.AppendValues(vals, nil)
	case *array.Int64Builder:
		for _, v := range vals {
			x.Append(int64(v))
		}
	case *array.Int32Builder:
		for _, v := range vals {
			x.Append(int32(v))
		}
	case *array.Int16Builder:
		for _, v := range vals {
			x.Append(int16(v))
		}
	case *array.Int8Builder:
		for _, v := range vals {
			x.Append(int8(v))
		}
	case *array.Uint8Builder:
		for _, v := range vals {
			x.Append(uint8(v))
		}
	case *array.BooleanBuilder:
		for _, v := range vals {
			x.Append(v != 0)
		}
	default:
		return fmt.Errorf("cannot write values into %T", b)
	}
	return nil
}

func writeFileSync(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("dataset: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("dataset: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	return nil
}
