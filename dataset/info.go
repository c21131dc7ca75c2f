package dataset

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Format versions.
const (
	// CodebaseVersion is the format this package writes, as info.json's
	// codebase_version (LeRobot ≥ 0.4.0 reads it).
	CodebaseVersion = "v3.0"
	// VersionV21 is the previous format, which this package reads.
	VersionV21 = "v2.1"
)

// LeRobot's defaults for a new v3.0 dataset (lerobot/datasets/utils.py).
const (
	DefaultChunkSize     = 1000 // files per chunk-XXX folder
	DefaultDataFileMB    = 100  // data and episode-metadata parquet files roll over at this size
	DefaultVideoFileMB   = 200  // MP4 files roll over at this size
	DefaultDataPath      = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
	DefaultVideoPath     = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
	DefaultEpisodesPath  = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
	InfoPath             = "meta/info.json"
	StatsPath            = "meta/stats.json"
	TasksPath            = "meta/tasks.parquet"
	sidecarPath          = "meta/anther.json"
	v21EpisodesPath      = "meta/episodes.jsonl"
	v21EpisodesStatsPath = "meta/episodes_stats.jsonl"
	v21TasksPath         = "meta/tasks.jsonl"
)

// Feature data types with a meaning beyond numpy's.
const (
	DTypeVideo  = "video"  // encoded in an MP4, absent from the parquet files
	DTypeImage  = "image"  // PNG bytes embedded in the parquet files
	DTypeString = "string" // a string column
)

// The five index columns LeRobot appends to every dataset, in order.
var defaultFeatureKeys = []string{"timestamp", "frame_index", "episode_index", "index", "task_index"}

// DefaultFeatures returns the index features every LeRobot dataset ends
// with: timestamp (float32), frame_index, episode_index, index, task_index
// (int64), all of shape [1].
func DefaultFeatures() []Feature {
	out := make([]Feature, 0, len(defaultFeatureKeys))
	for _, k := range defaultFeatureKeys {
		dt := "int64"
		if k == "timestamp" {
			dt = "float32"
		}
		out = append(out, Feature{Key: k, DType: dt, Shape: []int{1}, Names: json.RawMessage("null")})
	}
	return out
}

// IsDefaultFeature reports whether key is one of the five index columns.
func IsDefaultFeature(key string) bool { return slices.Contains(defaultFeatureKeys, key) }

// Feature is one entry of info.json's "features": a column of the data
// parquet files, or a camera stored as video.
type Feature struct {
	Key   string          // e.g. "observation.state", "observation.images.front"
	DType string          // numpy dtype name ("float32", "int64", …), "video", "image" or "string"
	Shape []int           // [D] for vectors, [1] for scalars, [H, W, C] for cameras
	Names json.RawMessage // a list of names, a dict such as {"motors": […]}, or null
	Info  json.RawMessage // cameras: video.* probe fields; nil when absent
	Extra map[string]json.RawMessage
}

// NameList returns the feature's per-dimension names: the list itself, or
// the first list inside a dict ({"motors": […]}); nil if there is none.
func (f *Feature) NameList() []string {
	var list []string
	if json.Unmarshal(f.Names, &list) == nil {
		return list
	}
	var dict map[string][]string
	if json.Unmarshal(f.Names, &dict) == nil {
		keys := make([]string, 0, len(dict))
		for k := range dict {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			return dict[k]
		}
	}
	return nil
}

// IsVideo reports whether the feature is stored as video.
func (f *Feature) IsVideo() bool { return f.DType == DTypeVideo }

// Dim is the number of values in one frame of a vector or scalar feature.
func (f *Feature) Dim() int {
	n := 1
	for _, s := range f.Shape {
		n *= s
	}
	return n
}

// VideoInfo is the part of a camera feature's "info" that describes the
// encoded stream (LeRobot's get_video_info plus its encoder settings).
type VideoInfo struct {
	Height       int            `json:"video.height"`
	Width        int            `json:"video.width"`
	Codec        string         `json:"video.codec"`
	PixFmt       string         `json:"video.pix_fmt"`
	FPS          int            `json:"video.fps"`
	Channels     int            `json:"video.channels"`
	HasAudio     bool           `json:"has_audio"`
	IsDepthMap   bool           `json:"is_depth_map"`
	G            *int           `json:"video.g,omitempty"`
	CRF          *int           `json:"video.crf,omitempty"`
	Preset       any            `json:"video.preset,omitempty"`
	FastDecode   *int           `json:"video.fast_decode,omitempty"`
	Backend      string         `json:"video.video_backend,omitempty"`
	ExtraOptions map[string]any `json:"video.extra_options,omitempty"`
}

// VideoInfo decodes the feature's "info" as video information.
func (f *Feature) VideoInfo() (VideoInfo, error) {
	var vi VideoInfo
	if len(f.Info) == 0 || string(f.Info) == "null" {
		return vi, fmt.Errorf("dataset: feature %s has no video info", f.Key)
	}
	if err := json.Unmarshal(f.Info, &vi); err != nil {
		return vi, fmt.Errorf("dataset: feature %s info: %w", f.Key, err)
	}
	return vi, nil
}

// MarshalJSON writes the feature as LeRobot does: dtype, shape, names, info.
func (f Feature) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"dtype":`)
	writeJSONValue(&b, f.DType)
	b.WriteString(`,"shape":`)
	shape := f.Shape
	if shape == nil {
		shape = []int{}
	}
	writeJSONValue(&b, shape)
	b.WriteString(`,"names":`)
	if len(f.Names) == 0 {
		b.WriteString("null")
	} else {
		b.Write(f.Names)
	}
	if len(f.Info) > 0 {
		b.WriteString(`,"info":`)
		b.Write(f.Info)
	}
	keys := sortedKeys(f.Extra)
	for _, k := range keys {
		b.WriteByte(',')
		writeJSONValue(&b, k)
		b.WriteByte(':')
		b.Write(f.Extra[k])
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func writeJSONValue(b *bytes.Buffer, v any) {
	data, _ := json.Marshal(v)
	b.Write(data)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Info is meta/info.json. Features keep their file order, which is the
// column order of the data files.
type Info struct {
	CodebaseVersion string
	RobotType       *string
	TotalEpisodes   int
	TotalFrames     int
	TotalTasks      int
	ChunksSize      int
	DataFilesMB     int
	VideoFilesMB    int
	FPS             int
	Splits          map[string]string
	DataPath        string
	VideoPath       *string
	Features        []Feature
	// TotalVideos and TotalChunks are v2.x keys; kept when read, never written for v3.0.
	TotalVideos, TotalChunks *int
	Extra                    map[string]json.RawMessage // unknown keys, kept
}

// Feature returns the feature with key, or nil.
func (in *Info) Feature(key string) *Feature {
	for i := range in.Features {
		if in.Features[i].Key == key {
			return &in.Features[i]
		}
	}
	return nil
}

// VideoKeys lists the camera features stored as video, in feature order.
func (in *Info) VideoKeys() []string {
	var keys []string
	for _, f := range in.Features {
		if f.IsVideo() {
			keys = append(keys, f.Key)
		}
	}
	return keys
}

// DataFeatures lists the features stored in the data parquet files (all but
// videos), in column order.
func (in *Info) DataFeatures() []Feature {
	var out []Feature
	for _, f := range in.Features {
		if !f.IsVideo() {
			out = append(out, f)
		}
	}
	return out
}

// MarshalJSON writes info.json with LeRobot v0.4's key order.
func (in Info) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	field := func(first bool, k string, v any) {
		if !first {
			b.WriteByte(',')
		}
		writeJSONValue(&b, k)
		b.WriteByte(':')
		if raw, ok := v.(json.RawMessage); ok {
			b.Write(raw)
			return
		}
		writeJSONValue(&b, v)
	}
	b.WriteByte('{')
	field(true, "codebase_version", in.CodebaseVersion)
	field(false, "robot_type", in.RobotType)
	field(false, "total_episodes", in.TotalEpisodes)
	field(false, "total_frames", in.TotalFrames)
	field(false, "total_tasks", in.TotalTasks)
	if in.TotalVideos != nil {
		field(false, "total_videos", *in.TotalVideos)
	}
	if in.TotalChunks != nil {
		field(false, "total_chunks", *in.TotalChunks)
	}
	field(false, "chunks_size", in.ChunksSize)
	if in.CodebaseVersion != VersionV21 {
		field(false, "data_files_size_in_mb", in.DataFilesMB)
		field(false, "video_files_size_in_mb", in.VideoFilesMB)
	}
	field(false, "fps", in.FPS)
	splits := in.Splits
	if splits == nil {
		splits = map[string]string{}
	}
	field(false, "splits", splits)
	field(false, "data_path", in.DataPath)
	field(false, "video_path", in.VideoPath)
	b.WriteString(`,"features":{`)
	for i, f := range in.Features {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONValue(&b, f.Key)
		b.WriteByte(':')
		data, err := f.MarshalJSON()
		if err != nil {
			return nil, err
		}
		b.Write(data)
	}
	b.WriteByte('}')
	for _, k := range sortedKeys(in.Extra) {
		field(false, k, in.Extra[k])
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// EncodeInfo renders info.json as LeRobot writes it (indent 4, non-ASCII kept).
func EncodeInfo(in *Info) ([]byte, error) {
	raw, err := in.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("dataset: info: %w", err)
	}
	return indentJSON(raw)
}

func indentJSON(raw []byte) ([]byte, error) {
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "    "); err != nil {
		return nil, fmt.Errorf("dataset: json: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// ErrFormat is wrapped by every error about a malformed dataset file.
var ErrFormat = errors.New("dataset: malformed")

func formatErr(file, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrFormat, file, fmt.Sprintf(format, args...))
}

// ParseInfo decodes and checks meta/info.json (v3.0 or v2.x). It checks
// what a reader relies on: a version, fps > 0, path templates, and features
// with a dtype and a shape of positive sizes.
func ParseInfo(data []byte) (*Info, error) {
	keys, obj, err := orderedObject(data)
	if err != nil {
		return nil, formatErr(InfoPath, "%v", err)
	}
	_ = keys
	in := &Info{Extra: map[string]json.RawMessage{}}
	str := func(k string, dst *string, required bool) error {
		raw, ok := obj[k]
		if !ok {
			if required {
				return formatErr(InfoPath, "missing %q", k)
			}
			return nil
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return formatErr(InfoPath, "%s: %v", k, err)
		}
		return nil
	}
	num := func(k string, dst *int, required bool) error {
		raw, ok := obj[k]
		if !ok {
			if required {
				return formatErr(InfoPath, "missing %q", k)
			}
			return nil
		}
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil {
			return formatErr(InfoPath, "%s: %v", k, err)
		}
		if f != math.Trunc(f) || f < 0 || f > 1<<53 {
			return formatErr(InfoPath, "%s: %v is not a non-negative integer", k, f)
		}
		*dst = int(f)
		return nil
	}
	if err := str("codebase_version", &in.CodebaseVersion, true); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(in.CodebaseVersion, "v") {
		return nil, formatErr(InfoPath, "codebase_version %q does not look like vX.Y", in.CodebaseVersion)
	}
	if raw, ok := obj["robot_type"]; ok && string(raw) != "null" {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, formatErr(InfoPath, "robot_type: %v", err)
		}
		in.RobotType = &s
	}
	for _, n := range []struct {
		k   string
		dst *int
		req bool
	}{
		{"total_episodes", &in.TotalEpisodes, true}, {"total_frames", &in.TotalFrames, true},
		{"total_tasks", &in.TotalTasks, true}, {"chunks_size", &in.ChunksSize, false},
		{"data_files_size_in_mb", &in.DataFilesMB, false}, {"video_files_size_in_mb", &in.VideoFilesMB, false},
		{"fps", &in.FPS, true},
	} {
		if err := num(n.k, n.dst, n.req); err != nil {
			return nil, err
		}
	}
	if in.FPS <= 0 {
		return nil, formatErr(InfoPath, "fps must be > 0, is %d", in.FPS)
	}
	for _, k := range []string{"total_videos", "total_chunks"} {
		if _, ok := obj[k]; ok {
			var v int
			if err := num(k, &v, false); err != nil {
				return nil, err
			}
			if k == "total_videos" {
				in.TotalVideos = &v
			} else {
				in.TotalChunks = &v
			}
		}
	}
	if raw, ok := obj["splits"]; ok {
		if err := json.Unmarshal(raw, &in.Splits); err != nil {
			return nil, formatErr(InfoPath, "splits: %v", err)
		}
	}
	if err := str("data_path", &in.DataPath, true); err != nil {
		return nil, err
	}
	if raw, ok := obj["video_path"]; ok && string(raw) != "null" {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, formatErr(InfoPath, "video_path: %v", err)
		}
		in.VideoPath = &s
	}
	rawFeat, ok := obj["features"]
	if !ok {
		return nil, formatErr(InfoPath, "missing \"features\"")
	}
	fkeys, fobj, err := orderedObject(rawFeat)
	if err != nil {
		return nil, formatErr(InfoPath, "features: %v", err)
	}
	for _, k := range fkeys {
		f, err := parseFeature(k, fobj[k])
		if err != nil {
			return nil, err
		}
		in.Features = append(in.Features, f)
	}
	known := []string{"codebase_version", "robot_type", "total_episodes", "total_frames", "total_tasks",
		"total_videos", "total_chunks", "chunks_size", "data_files_size_in_mb", "video_files_size_in_mb",
		"fps", "splits", "data_path", "video_path", "features"}
	for k, v := range obj {
		if !slices.Contains(known, k) {
			in.Extra[k] = v
		}
	}
	if len(in.VideoKeys()) > 0 && in.VideoPath == nil {
		return nil, formatErr(InfoPath, "video features without a video_path")
	}
	return in, nil
}

func parseFeature(key string, raw json.RawMessage) (Feature, error) {
	f := Feature{Key: key, Extra: map[string]json.RawMessage{}}
	if key == "" || strings.Contains(key, "/") {
		return f, formatErr(InfoPath, "feature name %q is empty or contains '/'", key)
	}
	_, obj, err := orderedObject(raw)
	if err != nil {
		return f, formatErr(InfoPath, "feature %s: %v", key, err)
	}
	if err := json.Unmarshal(obj["dtype"], &f.DType); err != nil || f.DType == "" {
		return f, formatErr(InfoPath, "feature %s: missing or bad dtype", key)
	}
	var shape []float64
	if err := json.Unmarshal(obj["shape"], &shape); err != nil || len(shape) == 0 || len(shape) > 5 {
		return f, formatErr(InfoPath, "feature %s: shape must be a list of 1 to 5 sizes", key)
	}
	total := 1
	for _, s := range shape {
		if s != math.Trunc(s) || s < 1 || s > 1<<16 {
			return f, formatErr(InfoPath, "feature %s: shape %v has a size that is not a positive integer ≤ 65536", key, shape)
		}
		total *= int(s)
		if total > 1<<28 {
			return f, formatErr(InfoPath, "feature %s: shape %v is too large", key, shape)
		}
		f.Shape = append(f.Shape, int(s))
	}
	f.Names = obj["names"]
	if f.Names == nil {
		f.Names = json.RawMessage("null")
	}
	if raw, ok := obj["info"]; ok && string(raw) != "null" {
		f.Info = raw
	}
	if raw, ok := obj["video_info"]; ok && f.Info == nil {
		// v2.0 kept the probe fields under video_info.
		f.Info = raw
	}
	for k, v := range obj {
		switch k {
		case "dtype", "shape", "names", "info", "video_info":
		default:
			f.Extra[k] = v
		}
	}
	return f, nil
}

// orderedObject decodes a JSON object, returning its keys in file order.
func orderedObject(data []byte) ([]string, map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, errors.New("not a JSON object")
	}
	var keys []string
	obj := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		k, ok := tok.(string)
		if !ok {
			return nil, nil, errors.New("object key is not a string")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		if _, dup := obj[k]; !dup {
			keys = append(keys, k)
		}
		obj[k] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, err
	}
	if dec.More() {
		return nil, nil, errors.New("trailing data after the object")
	}
	if _, err := dec.Token(); err == nil {
		return nil, nil, errors.New("trailing data after the object")
	}
	return keys, obj, nil
}

// ReadInfo reads and parses root/meta/info.json.
func ReadInfo(root string) (*Info, error) {
	data, err := os.ReadFile(filepath.Join(root, InfoPath))
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	return ParseInfo(data)
}

// FormatPath fills a LeRobot path template, a subset of Python's
// str.format: {name} and {name:0Nd}. Unknown names are an error.
func FormatPath(tmpl string, vals map[string]any) (string, error) {
	var b strings.Builder
	for i := 0; i < len(tmpl); {
		c := tmpl[i]
		if c != '{' {
			b.WriteByte(c)
			i++
			continue
		}
		end := strings.IndexByte(tmpl[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("dataset: path template %q: unclosed {", tmpl)
		}
		spec := tmpl[i+1 : i+end]
		i += end + 1
		name, fmtSpec, _ := strings.Cut(spec, ":")
		v, ok := vals[name]
		if !ok {
			return "", fmt.Errorf("dataset: path template %q: unknown field %q", tmpl, name)
		}
		switch x := v.(type) {
		case int:
			width := 0
			if fmtSpec != "" {
				if !strings.HasSuffix(fmtSpec, "d") {
					return "", fmt.Errorf("dataset: path template %q: format %q", tmpl, fmtSpec)
				}
				w, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSuffix(fmtSpec, "d"), "0"))
				if err != nil {
					return "", fmt.Errorf("dataset: path template %q: format %q", tmpl, fmtSpec)
				}
				width = w
			}
			fmt.Fprintf(&b, "%0*d", width, x)
		case string:
			b.WriteString(x)
		default:
			return "", fmt.Errorf("dataset: path template %q: field %q has type %T", tmpl, name, v)
		}
	}
	return b.String(), nil
}

// nextChunkFile advances (chunk, file) as LeRobot's update_chunk_file_indices.
func nextChunkFile(chunk, file, chunksSize int) (int, int) {
	if chunksSize <= 0 {
		chunksSize = DefaultChunkSize
	}
	if file == chunksSize-1 {
		return chunk + 1, 0
	}
	return chunk, file + 1
}
