package dataset

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Dataset is a LeRobot dataset opened for reading (v3.0 or v2.1).
type Dataset struct {
	Root     string
	Info     *Info
	Tasks    []string      // by task_index
	Stats    *Stats        // meta/stats.json (v2.1: aggregated from episodes_stats.jsonl); nil if absent
	Episodes []EpisodeMeta // by episode_index
	// Units of vector features as recorded by anther (meta/anther.json);
	// nil for datasets made elsewhere.
	Units map[string][]string
	side  sidecar

	mu       sync.Mutex
	dataPath string
	dataFile *ParquetFile
}

// maxMetaFile caps the size of metadata files read whole.
const maxMetaFile = 1 << 30

// OpenDataset reads a dataset's metadata. It does not repair anything; see
// PendingRecovery for what an interrupted recording left.
func OpenDataset(ctx context.Context, root string) (*Dataset, error) {
	info, err := ReadInfo(root)
	if err != nil {
		return nil, err
	}
	ds := &Dataset{Root: root, Info: info}
	major := strings.SplitN(strings.TrimPrefix(info.CodebaseVersion, "v"), ".", 2)[0]
	switch major {
	case "3":
		err = ds.loadV3(ctx)
	case "2":
		err = ds.loadV2(ctx)
	default:
		err = fmt.Errorf("dataset: %s: codebase_version %s is not supported (v2.x or v3.x)", root, info.CodebaseVersion)
	}
	if err != nil {
		return nil, err
	}
	if data, err := os.ReadFile(filepath.Join(root, sidecarPath)); err == nil {
		if json.Unmarshal(data, &ds.side) == nil {
			ds.Units = ds.side.Units
		}
	}
	return ds, nil
}

func (ds *Dataset) loadV3(ctx context.Context) error {
	data, err := readAllFile(filepath.Join(ds.Root, TasksPath), maxMetaFile)
	if err != nil {
		return err
	}
	if ds.Tasks, err = ParseTasks(ctx, data); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(ds.Root, StatsPath)); err == nil {
		if ds.Stats, err = ReadStats(ds.Root); err != nil {
			return err
		}
	}
	files, err := filepath.Glob(filepath.Join(ds.Root, "meta", "episodes", "*", "*.parquet"))
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	sort.Strings(files)
	for _, f := range files {
		data, err := readAllFile(f, maxMetaFile)
		if err != nil {
			return err
		}
		eps, err := ParseEpisodes(ctx, data)
		if err != nil {
			return fmt.Errorf("%w (%s)", err, f)
		}
		ds.Episodes = append(ds.Episodes, eps...)
	}
	sort.SliceStable(ds.Episodes, func(i, j int) bool { return ds.Episodes[i].Index < ds.Episodes[j].Index })
	return nil
}

// loadV2 reads v2.x metadata: JSON-lines files, one data file and one MP4
// per episode.
func (ds *Dataset) loadV2(_ context.Context) error {
	type taskLine struct {
		Index int    `json:"task_index"`
		Task  string `json:"task"`
	}
	if err := readJSONL(filepath.Join(ds.Root, v21TasksPath), func(line []byte) error {
		var t taskLine
		if err := json.Unmarshal(line, &t); err != nil {
			return err
		}
		if t.Index < 0 || t.Index > 1<<20 {
			return fmt.Errorf("task_index %d out of range", t.Index)
		}
		for len(ds.Tasks) <= t.Index {
			ds.Tasks = append(ds.Tasks, "")
		}
		ds.Tasks[t.Index] = t.Task
		return nil
	}); err != nil {
		return err
	}
	type epLine struct {
		Index  int      `json:"episode_index"`
		Tasks  []string `json:"tasks"`
		Length int      `json:"length"`
	}
	chunks := max(ds.Info.ChunksSize, 1)
	from := 0
	if err := readJSONL(filepath.Join(ds.Root, v21EpisodesPath), func(line []byte) error {
		var e epLine
		if err := json.Unmarshal(line, &e); err != nil {
			return err
		}
		if e.Length < 0 || e.Index < 0 {
			return fmt.Errorf("episode %d: negative index or length", e.Index)
		}
		m := EpisodeMeta{Index: e.Index, Tasks: e.Tasks, Length: e.Length, DataChunk: e.Index / chunks,
			DataFile: e.Index, From: from, To: from + e.Length, Videos: map[string]VideoSpan{}}
		for _, k := range ds.Info.VideoKeys() {
			m.Videos[k] = VideoSpan{Chunk: e.Index / chunks, File: e.Index, From: 0, To: float64(e.Length) / float64(ds.Info.FPS)}
		}
		from += e.Length
		ds.Episodes = append(ds.Episodes, m)
		return nil
	}); err != nil {
		return err
	}
	sort.SliceStable(ds.Episodes, func(i, j int) bool { return ds.Episodes[i].Index < ds.Episodes[j].Index })
	// Global stats: aggregate the per-episode stats (v2.1 has no stats.json).
	var agg *Stats
	byEp := map[int]*Stats{}
	err := readJSONL(filepath.Join(ds.Root, v21EpisodesStatsPath), func(line []byte) error {
		var l struct {
			Index int             `json:"episode_index"`
			Stats json.RawMessage `json:"stats"`
		}
		if err := json.Unmarshal(line, &l); err != nil {
			return err
		}
		st, err := ParseStats(l.Stats)
		if err != nil {
			return err
		}
		byEp[l.Index] = st
		agg = AggregateAll(agg, st)
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for i := range ds.Episodes {
		ds.Episodes[i].Stats = byEp[ds.Episodes[i].Index]
	}
	ds.Stats = agg
	if ds.Stats == nil {
		if st, err := ReadStats(ds.Root); err == nil {
			ds.Stats = st
		}
	}
	return nil
}

func readJSONL(path string, fn func([]byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if err := fn(line); err != nil {
			return formatErr(filepath.Base(path), "line %d: %v", n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("dataset: %s: %w", path, err)
	}
	return nil
}

// Version is the dataset's codebase_version.
func (ds *Dataset) Version() string { return ds.Info.CodebaseVersion }

// IsV2 reports whether the dataset uses the v2.x layout.
func (ds *Dataset) IsV2() bool { return strings.HasPrefix(ds.Info.CodebaseVersion, "v2") }

// Episode returns the metadata of episode index.
func (ds *Dataset) Episode(index int) (*EpisodeMeta, error) {
	i := sort.Search(len(ds.Episodes), func(i int) bool { return ds.Episodes[i].Index >= index })
	if i == len(ds.Episodes) || ds.Episodes[i].Index != index {
		return nil, fmt.Errorf("dataset: %s has no episode %d (it has %d)", ds.Root, index, len(ds.Episodes))
	}
	return &ds.Episodes[i], nil
}

// DataFile is the path of the data parquet file holding episode ep.
func (ds *Dataset) DataFile(ep *EpisodeMeta) (string, error) {
	vals := map[string]any{"chunk_index": ep.DataChunk, "file_index": ep.DataFile,
		"episode_chunk": ep.DataChunk, "episode_index": ep.Index}
	rel, err := FormatPath(ds.Info.DataPath, vals)
	if err != nil {
		return "", err
	}
	return filepath.Join(ds.Root, filepath.FromSlash(rel)), nil
}

// VideoFile is the path of the MP4 holding episode ep of camera key.
func (ds *Dataset) VideoFile(ep *EpisodeMeta, key string) (string, error) {
	if ds.Info.VideoPath == nil {
		return "", fmt.Errorf("dataset: %s has no videos", ds.Root)
	}
	vs, ok := ep.Videos[key]
	if !ok {
		return "", fmt.Errorf("dataset: episode %d has no video %s", ep.Index, key)
	}
	vals := map[string]any{"video_key": key, "chunk_index": vs.Chunk, "file_index": vs.File,
		"episode_chunk": vs.Chunk, "episode_index": ep.Index}
	rel, err := FormatPath(*ds.Info.VideoPath, vals)
	if err != nil {
		return "", err
	}
	return filepath.Join(ds.Root, filepath.FromSlash(rel)), nil
}

// EpisodeData holds the parquet columns of one episode, numeric features
// flattened row after row.
type EpisodeData struct {
	Meta    EpisodeMeta
	Len     int
	Columns map[string][]float64 // by feature key (every numeric non-video feature, index columns included)
	Dims    map[string]int
}

// Row returns feature key's values in row i.
func (d *EpisodeData) Row(key string, i int) []float64 {
	dim := d.Dims[key]
	return d.Columns[key][i*dim : (i+1)*dim]
}

func (ds *Dataset) openData(ctx context.Context, path string) (*ParquetFile, error) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if ds.dataPath == path && ds.dataFile != nil {
		return ds.dataFile, nil
	}
	pf, err := ReadParquet(ctx, path)
	if err != nil {
		return nil, err
	}
	if ds.dataFile != nil {
		ds.dataFile.Release()
	}
	ds.dataPath, ds.dataFile = path, pf
	return pf, nil
}

// Close frees cached data.
func (ds *Dataset) Close() {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if ds.dataFile != nil {
		ds.dataFile.Release()
		ds.dataFile = nil
	}
}

// ReadEpisode reads episode index's rows from its data file.
func (ds *Dataset) ReadEpisode(ctx context.Context, index int) (*EpisodeData, error) {
	ep, err := ds.Episode(index)
	if err != nil {
		return nil, err
	}
	path, err := ds.DataFile(ep)
	if err != nil {
		return nil, err
	}
	pf, err := ds.openData(ctx, path)
	if err != nil {
		return nil, err
	}
	epCol, err := IntColumn(pf.Column("episode_index"))
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: episode_index: %w", path, err)
	}
	var rows []int
	for i, e := range epCol {
		if int(e) == index {
			rows = append(rows, i)
		}
	}
	out := &EpisodeData{Meta: *ep, Len: len(rows), Columns: map[string][]float64{}, Dims: map[string]int{}}
	for _, f := range ds.Info.DataFeatures() {
		if f.DType == DTypeString || f.DType == DTypeImage {
			continue
		}
		vals, dim, err := FloatColumn(pf.Column(f.Key))
		if err != nil {
			return nil, fmt.Errorf("dataset: %s: %s: %w", path, f.Key, err)
		}
		col := make([]float64, 0, len(rows)*dim)
		for _, r := range rows {
			col = append(col, vals[r*dim:(r+1)*dim]...)
		}
		out.Columns[f.Key], out.Dims[f.Key] = col, dim
	}
	return out, nil
}

// Frame is one frame of an episode with its decoded camera images.
type Frame struct {
	Index  int               // frame_index
	Data   *EpisodeData      // the episode's columns; use Data.Row(key, Index)
	Images map[string]*Image // by camera key; reused between calls
}

// Frames calls fn for every frame of episode index with every camera's
// image decoded at from_timestamp + frame_index/fps (ffmpeg decodes the
// cameras side by side). Images are reused between calls.
func (ds *Dataset) Frames(ctx context.Context, index int, fn func(*Frame) error) error {
	data, err := ds.ReadEpisode(ctx, index)
	if err != nil {
		return err
	}
	keys := ds.Info.VideoKeys()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type stream struct {
		ch  chan []byte
		ret chan []byte
		err error
	}
	streams := make([]*stream, len(keys))
	var wg sync.WaitGroup
	fr := &Frame{Data: data, Images: map[string]*Image{}}
	for i, k := range keys {
		f := ds.Info.Feature(k)
		h, w := f.Shape[0], f.Shape[1]
		path, err := ds.VideoFile(&data.Meta, k)
		if err != nil {
			return err
		}
		s := &stream{ch: make(chan []byte), ret: make(chan []byte, 2)}
		s.ret <- make([]byte, w*h*3)
		s.ret <- make([]byte, w*h*3)
		streams[i] = s
		fr.Images[k] = &Image{Width: w, Height: h}
		from := data.Meta.Videos[k].From
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(s.ch)
			s.err = decodeFrames(ctx, path, from, data.Len, w, h, ds.Info.FPS, func(_ int, pix []byte) error {
				var buf []byte
				select {
				case buf = <-s.ret:
				case <-ctx.Done():
					return ctx.Err()
				}
				copy(buf, pix)
				select {
				case s.ch <- buf:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
		}()
	}
	var ferr error
	for i := 0; i < data.Len && ferr == nil; i++ {
		fr.Index = i
		for j, k := range keys {
			buf, ok := <-streams[j].ch
			if !ok {
				cancel()
				wg.Wait()
				if streams[j].err != nil {
					return streams[j].err
				}
				return fmt.Errorf("dataset: %s ended at frame %d of %d", k, i, data.Len)
			}
			fr.Images[k].Pix = buf
		}
		ferr = fn(fr)
		for j, k := range keys {
			streams[j].ret <- fr.Images[k].Pix
		}
	}
	cancel()
	wg.Wait()
	return ferr
}
