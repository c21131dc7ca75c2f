package dataset

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// TimestampTolerance is LeRobot's default tolerance_s: a decoded frame's
// PTS may differ from the queried time by at most this much.
const TimestampTolerance = 1e-4

// ValidateOptions tunes Validate.
type ValidateOptions struct {
	SkipVideo bool // skip decoding videos (no ffmpeg needed)
}

// Report is what Validate found. The dataset passes when Errors is empty.
type Report struct {
	Root      string   `json:"root"`
	Version   string   `json:"codebase_version"`
	Episodes  int      `json:"episodes"`
	Frames    int      `json:"frames"`
	Videos    int      `json:"video_files_checked"`
	DataFiles int      `json:"data_files_checked"`
	Errors    []string `json:"errors"`
	Warnings  []string `json:"warnings"`
}

// OK reports whether no error was found.
func (r *Report) OK() bool { return len(r.Errors) == 0 }

func (r *Report) errf(format string, args ...any) {
	if len(r.Errors) < 200 {
		r.Errors = append(r.Errors, fmt.Sprintf(format, args...))
	} else if len(r.Errors) == 200 {
		r.Errors = append(r.Errors, "… more errors not shown")
	}
}

func (r *Report) warnf(format string, args ...any) {
	r.Warnings = append(r.Warnings, fmt.Sprintf(format, args...))
}

// Validate runs LeRobot's load-time checks on the dataset at root, and the
// ones that catch third-party writers: the version; features against the
// parquet columns' types and shapes (vectors as fixed_size_list); the
// tasks table's pandas index; timestamp = frame_index/fps; per-episode
// index continuity; the episode table against info.json totals; for every
// camera, decoded frame counts equal to the episode's rows and every
// frame's PTS within 1e-4 s of from_timestamp + i/fps; and stats.json
// present, with quantiles and the right shapes, for every feature. An
// error opening the metadata is returned as an error; everything else is
// in the report.
func Validate(ctx context.Context, root string, opts ValidateOptions) (*Report, error) {
	rep := &Report{Root: root, Errors: []string{}, Warnings: []string{}}
	// A committed save not yet moved into place leaves the files
	// inconsistent; a partial episode or an uncommitted save lives only in
	// the state folder and LeRobot never sees it.
	_, manifestErr := os.Stat(filepath.Join(root, commitDir, manifestName))
	for _, p := range PendingRecovery(root) {
		if manifestErr == nil && strings.Contains(p, "committed but not finished") {
			rep.errf("interrupted save: %s", p)
		} else {
			rep.warnf("interrupted recording (outside the dataset's files): %s", p)
		}
	}
	info, err := ReadInfo(root)
	if err != nil {
		return nil, err
	}
	rep.Version = info.CodebaseVersion
	if info.CodebaseVersion != CodebaseVersion {
		if strings.HasPrefix(info.CodebaseVersion, "v2") {
			rep.errf("codebase_version is %s: current LeRobot (≥0.4) refuses it (BackwardCompatibilityError); convert it with lerobot's convert_dataset_v21_to_v30", info.CodebaseVersion)
		} else if !strings.HasPrefix(info.CodebaseVersion, "v3.") {
			rep.errf("codebase_version %s is not v3.x", info.CodebaseVersion)
		}
	}
	ds, err := OpenDataset(ctx, root)
	if err != nil {
		rep.errf("metadata: %v", err)
		return rep, nil
	}
	defer ds.Close()
	rep.Episodes, rep.Frames = len(ds.Episodes), info.TotalFrames

	// Features.
	for _, f := range info.Features {
		if f.IsVideo() {
			if len(f.Shape) != 3 {
				rep.errf("feature %s: video shape %v is not [H, W, C]", f.Key, f.Shape)
			}
			if names := f.NameList(); len(names) == 3 && names[2] != "channels" && names[2] != "channel" {
				rep.warnf("feature %s: names[2] is %q; LeRobot transposes HWC to CHW only for \"channels\"", f.Key, names[2])
			}
		}
	}
	for _, k := range defaultFeatureKeys {
		if info.Feature(k) == nil {
			rep.errf("feature %s is missing", k)
		}
	}

	// Tasks.
	if !ds.IsV2() {
		pf, err := ReadParquet(ctx, filepath.Join(root, TasksPath))
		if err == nil {
			if !hasPandasTaskIndex(pf.Meta) {
				rep.errf("%s has no pandas metadata making \"task\" the index: LeRobot would return task indices instead of task strings", TasksPath)
			}
			pf.Release()
		}
	}
	if info.TotalTasks != len(ds.Tasks) {
		rep.errf("info.json total_tasks is %d, the tasks table has %d", info.TotalTasks, len(ds.Tasks))
	}

	// Episodes table.
	if len(ds.Episodes) != info.TotalEpisodes {
		rep.errf("info.json total_episodes is %d, the episodes table has %d", info.TotalEpisodes, len(ds.Episodes))
	}
	sum, next := 0, 0
	for i, ep := range ds.Episodes {
		if ep.Index != i {
			rep.errf("episode indices are not contiguous: position %d holds episode %d", i, ep.Index)
		}
		if ep.From != next {
			rep.errf("episode %d: dataset_from_index %d, expected %d (the previous episode's end)", ep.Index, ep.From, next)
		}
		next = ep.To
		sum += ep.Length
		for _, t := range ep.Tasks {
			if !contains(ds.Tasks, t) {
				rep.errf("episode %d: task %q is not in the tasks table", ep.Index, t)
			}
		}
		for _, k := range info.VideoKeys() {
			vs, ok := ep.Videos[k]
			if !ok {
				rep.errf("episode %d: no video columns for %s", ep.Index, k)
				continue
			}
			if want := float64(ep.Length) / float64(info.FPS); math.Abs(vs.To-vs.From-want) > TimestampTolerance {
				rep.errf("episode %d: %s spans %.6f s for %d frames (%.6f s)", ep.Index, k, vs.To-vs.From, ep.Length, want)
			}
		}
	}
	if sum != info.TotalFrames {
		rep.errf("info.json total_frames is %d, the episodes add up to %d", info.TotalFrames, sum)
	}
	if want := fmt.Sprintf("0:%d", info.TotalEpisodes); info.Splits["train"] != want && !ds.IsV2() {
		rep.warnf("splits.train is %q, expected %q", info.Splits["train"], want)
	}

	validateData(ctx, ds, rep)
	validateStats(ds, rep)
	if !opts.SkipVideo && len(info.VideoKeys()) > 0 {
		if err := FFmpegAvailable(); err != nil {
			rep.errf("videos not checked: %v", err)
		} else {
			validateVideos(ctx, ds, rep)
		}
	}
	for _, e := range ds.side.Episodes {
		if !e.Faithful {
			rep.warnf("episode %d was marked as not recorded faithfully by anther: %v %s", e.Index, e.Issues, e.Note)
		}
	}
	return rep, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkColumnType compares a parquet column's Arrow type to a feature.
func checkColumnType(f Feature, t arrow.DataType) string {
	want, err := arrowType(f.DType)
	if err != nil {
		if f.DType == DTypeImage {
			if _, ok := t.(*arrow.StructType); ok {
				return ""
			}
			return fmt.Sprintf("image feature stored as %s, not a struct{bytes, path}", t)
		}
		return ""
	}
	switch {
	case len(f.Shape) == 1 && f.Shape[0] == 1:
		if !arrow.TypeEqual(t, want) {
			return fmt.Sprintf("is %s, want %s", t, want)
		}
	case len(f.Shape) == 1:
		fl, ok := t.(*arrow.FixedSizeListType)
		if !ok {
			return fmt.Sprintf("is %s, want fixed_size_list<%s>[%d] (LeRobot's Sequence(length=%d))", t, want, f.Shape[0], f.Shape[0])
		}
		if int(fl.Len()) != f.Shape[0] || !arrow.TypeEqual(fl.Elem(), want) {
			return fmt.Sprintf("is %s, want fixed_size_list<%s>[%d]", t, want, f.Shape[0])
		}
	}
	return ""
}

func validateData(ctx context.Context, ds *Dataset, rep *Report) {
	info := ds.Info
	fps := float64(info.FPS)
	files := map[string][]*EpisodeMeta{}
	for i := range ds.Episodes {
		p, err := ds.DataFile(&ds.Episodes[i])
		if err != nil {
			rep.errf("episode %d: %v", ds.Episodes[i].Index, err)
			continue
		}
		files[p] = append(files[p], &ds.Episodes[i])
	}
	// Every data file on disk must belong to an episode (LeRobot loads them all).
	onDisk, _ := filepath.Glob(filepath.Join(ds.Root, "data", "*", "*.parquet"))
	for _, p := range onDisk {
		if _, ok := files[p]; !ok && !ds.IsV2() {
			rep.errf("%s is not referenced by any episode, but LeRobot loads every data file", rel(ds.Root, p))
		}
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		eps := files[p]
		pf, err := ReadParquet(ctx, p)
		if err != nil {
			rep.errf("%v", err)
			continue
		}
		rep.DataFiles++
		r := rel(ds.Root, p)
		schema := pf.Table.Schema()
		for _, f := range info.DataFeatures() {
			idx := schema.FieldIndices(f.Key)
			if len(idx) == 0 {
				rep.errf("%s: no column for feature %s", r, f.Key)
				continue
			}
			if msg := checkColumnType(f, schema.Field(idx[0]).Type); msg != "" {
				rep.errf("%s: column %s %s", r, f.Key, msg)
			}
		}
		for _, fld := range schema.Fields() {
			if ft := info.Feature(fld.Name); ft == nil || ft.IsVideo() {
				rep.errf("%s: column %s is not a (non-video) feature in info.json", r, fld.Name)
			}
		}
		cols := map[string][]int64{}
		for _, k := range []string{"frame_index", "episode_index", "index", "task_index"} {
			v, err := IntColumn(pf.Column(k))
			if err != nil {
				rep.errf("%s: %s: %v", r, k, err)
			}
			cols[k] = v
		}
		ts, _, err := FloatColumn(pf.Column("timestamp"))
		if err != nil {
			rep.errf("%s: timestamp: %v", r, err)
		}
		n := int(pf.Table.NumRows())
		if len(ts) != n || len(cols["frame_index"]) != n || len(cols["episode_index"]) != n || len(cols["index"]) != n || len(cols["task_index"]) != n {
			pf.Release()
			continue
		}
		for i := 0; i < n; i++ {
			fi := cols["frame_index"][i]
			if want := float64(float32(float64(fi) / fps)); math.Abs(ts[i]-want) > TimestampTolerance {
				rep.errf("%s: row %d (episode %d frame %d): timestamp %.6f is not frame_index/fps = %.6f", r, i, cols["episode_index"][i], fi, ts[i], want)
			}
			if ti := cols["task_index"][i]; ti < 0 || int(ti) >= len(ds.Tasks) {
				rep.errf("%s: row %d: task_index %d is not in the tasks table", r, i, ti)
			}
		}
		// Per episode: contiguous rows, frame_index 0..L-1, index = from + frame_index.
		for _, ep := range eps {
			var rows []int
			for i, e := range cols["episode_index"] {
				if int(e) == ep.Index {
					rows = append(rows, i)
				}
			}
			if len(rows) != ep.Length {
				rep.errf("%s: episode %d has %d rows, its length is %d", r, ep.Index, len(rows), ep.Length)
				continue
			}
			for j, row := range rows {
				if j > 0 && row != rows[j-1]+1 {
					rep.errf("%s: episode %d's rows are not contiguous", r, ep.Index)
					break
				}
				if cols["frame_index"][row] != int64(j) {
					rep.errf("%s: episode %d row %d: frame_index %d, want %d", r, ep.Index, j, cols["frame_index"][row], j)
					break
				}
				if cols["index"][row] != int64(ep.From+j) {
					rep.errf("%s: episode %d row %d: index %d, want %d", r, ep.Index, j, cols["index"][row], ep.From+j)
					break
				}
			}
		}
		if !ds.IsV2() && len(pf.RowGroups) != len(eps) {
			rep.warnf("%s: %d row groups for %d episodes (LeRobot writes one per episode)", r, len(pf.RowGroups), len(eps))
		}
		total := 0
		for _, ep := range eps {
			total += ep.Length
		}
		if total != n {
			rep.errf("%s: %d rows, its episodes have %d", r, n, total)
		}
		pf.Release()
	}
}

func rel(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil {
		return r
	}
	return p
}

func validateStats(ds *Dataset, rep *Report) {
	if ds.Stats == nil {
		rep.errf("%s is missing", StatsPath)
		return
	}
	for _, f := range ds.Info.Features {
		if f.DType == DTypeString || f.DType == "language" {
			continue
		}
		fs := ds.Stats.By[f.Key]
		if fs == nil {
			rep.errf("stats.json has no statistics for feature %s", f.Key)
			continue
		}
		var want []int
		switch {
		case f.IsVideo() || f.DType == DTypeImage:
			want = []int{3, 1, 1}
			if len(f.Shape) == 3 && f.Shape[2] == 1 {
				want = []int{1, 1, 1}
			}
		default:
			want = []int{f.Dim()}
		}
		if fmt.Sprint(fs.Shape) != fmt.Sprint(want) {
			rep.errf("stats.json %s: shape %v, want %v", f.Key, fs.Shape, want)
		}
		if !fs.HasQuantiles && !ds.IsV2() {
			rep.warnf("stats.json %s has no q01..q99 (QUANTILES normalisation needs them)", f.Key)
		}
		if fs.Count <= 0 && ds.Info.TotalFrames > 0 {
			rep.errf("stats.json %s: count is %d", f.Key, fs.Count)
		}
	}
}

func validateVideos(ctx context.Context, ds *Dataset, rep *Report) {
	info := ds.Info
	fps := float64(info.FPS)
	for _, k := range info.VideoKeys() {
		f := info.Feature(k)
		byFile := map[string][]*EpisodeMeta{}
		var order []string
		for i := range ds.Episodes {
			p, err := ds.VideoFile(&ds.Episodes[i], k)
			if err != nil {
				rep.errf("%v", err)
				continue
			}
			if _, ok := byFile[p]; !ok {
				order = append(order, p)
			}
			byFile[p] = append(byFile[p], &ds.Episodes[i])
		}
		for _, p := range order {
			r := rel(ds.Root, p)
			if _, err := os.Stat(p); err != nil {
				rep.errf("%s: %v", r, err)
				continue
			}
			pr, err := ProbeVideo(ctx, p)
			if err != nil {
				rep.errf("%v", err)
				continue
			}
			rep.Videos++
			if len(f.Shape) == 3 && (pr.Height != f.Shape[0] || pr.Width != f.Shape[1]) {
				rep.errf("%s: %dx%d, the feature says %dx%d", r, pr.Width, pr.Height, f.Shape[1], f.Shape[0])
			}
			if vi, err := f.VideoInfo(); err == nil && vi.Codec != "" && vi.Codec != pr.Codec {
				rep.errf("%s: codec %s, info.json says %s", r, pr.Codec, vi.Codec)
			}
			pts, err := FramePTS(ctx, p)
			if err != nil {
				rep.errf("%v", err)
				continue
			}
			sort.Float64s(pts)
			used := 0
			for _, ep := range byFile[p] {
				vs := ep.Videos[k]
				// Frames of this episode: PTS in [from, to).
				lo := sort.SearchFloat64s(pts, vs.From-TimestampTolerance)
				hi := sort.SearchFloat64s(pts, vs.To-TimestampTolerance)
				got := hi - lo
				used += got
				if got != ep.Length {
					rep.errf("%s: episode %d has %d decoded frames in [%.4f, %.4f), the parquet has %d rows", r, ep.Index, got, vs.From, vs.To, ep.Length)
					continue
				}
				for i := 0; i < got; i++ {
					want := vs.From + float64(i)/fps
					if d := math.Abs(pts[lo+i] - want); d > TimestampTolerance || math.IsNaN(pts[lo+i]) {
						rep.errf("%s: episode %d frame %d decodes at %.6f s, %.6f s from the query %.6f (tolerance %g s)", r, ep.Index, i, pts[lo+i], d, want, TimestampTolerance)
						break
					}
				}
			}
			if used != len(pts) && !ds.IsV2() {
				rep.warnf("%s: %d frames belong to no episode", r, len(pts)-used)
			}
		}
	}
}
