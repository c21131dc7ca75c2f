package dataset

import (
	"context"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// VideoSpan says where one episode of one camera lives: the MP4 file
// (chunk, file) and the episode's start and end time inside it, seconds.
type VideoSpan struct {
	Chunk, File int
	From, To    float64
}

// EpisodeMeta is one row of meta/episodes/…parquet (v3.0) or of
// episodes.jsonl (v2.1, where the file fields follow from the index).
type EpisodeMeta struct {
	Index     int      // episode_index
	Tasks     []string // unique tasks of the episode
	Length    int      // frames
	DataChunk int      // data/chunk_index
	DataFile  int      // data/file_index
	From, To  int      // dataset_from_index, dataset_to_index (end exclusive)
	Videos    map[string]VideoSpan
	Stats     *Stats // per-episode statistics (nil if the file has none)
	MetaChunk int    // meta/episodes/chunk_index
	MetaFile  int    // meta/episodes/file_index
}

// episodesSchema builds the episodes parquet schema for the given camera
// keys and per-episode statistics layout (feature key → stat shape).
func episodesSchema(videoKeys []string, stats *Stats) *arrow.Schema {
	i64 := arrow.PrimitiveTypes.Int64
	f64 := arrow.PrimitiveTypes.Float64
	fields := []arrow.Field{
		{Name: "episode_index", Type: i64, Nullable: true},
		{Name: "tasks", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
		{Name: "length", Type: i64, Nullable: true},
		{Name: "data/chunk_index", Type: i64, Nullable: true},
		{Name: "data/file_index", Type: i64, Nullable: true},
		{Name: "dataset_from_index", Type: i64, Nullable: true},
		{Name: "dataset_to_index", Type: i64, Nullable: true},
	}
	for _, k := range videoKeys {
		fields = append(fields,
			arrow.Field{Name: "videos/" + k + "/chunk_index", Type: i64, Nullable: true},
			arrow.Field{Name: "videos/" + k + "/file_index", Type: i64, Nullable: true},
			arrow.Field{Name: "videos/" + k + "/from_timestamp", Type: f64, Nullable: true},
			arrow.Field{Name: "videos/" + k + "/to_timestamp", Type: f64, Nullable: true})
	}
	if stats != nil {
		for _, fk := range stats.Order {
			fs := stats.By[fk]
			var vt arrow.DataType = arrow.ListOf(f64)
			if len(fs.Shape) == 3 {
				vt = arrow.ListOf(arrow.ListOf(arrow.ListOf(f64)))
			}
			for _, sk := range statKeys {
				t := vt
				if sk == "count" {
					t = arrow.ListOf(i64)
				} else if sk[0] == 'q' && !fs.HasQuantiles {
					continue
				}
				fields = append(fields, arrow.Field{Name: "stats/" + fk + "/" + sk, Type: t, Nullable: true})
			}
		}
	}
	fields = append(fields,
		arrow.Field{Name: "meta/episodes/chunk_index", Type: i64, Nullable: true},
		arrow.Field{Name: "meta/episodes/file_index", Type: i64, Nullable: true})
	return arrow.NewSchema(fields, nil)
}

// episodesRecord builds the rows of eps (which share a layout) as one record.
func episodesRecord(schema *arrow.Schema, eps []EpisodeMeta) (arrow.RecordBatch, error) {
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for _, ep := range eps {
		for i, f := range schema.Fields() {
			fb := b.Field(i)
			name := f.Name
			switch {
			case name == "episode_index":
				fb.(*array.Int64Builder).Append(int64(ep.Index))
			case name == "tasks":
				lb := fb.(*array.ListBuilder)
				lb.Append(true)
				for _, t := range ep.Tasks {
					lb.ValueBuilder().(*array.StringBuilder).Append(t)
				}
			case name == "length":
				fb.(*array.Int64Builder).Append(int64(ep.Length))
			case name == "data/chunk_index":
				fb.(*array.Int64Builder).Append(int64(ep.DataChunk))
			case name == "data/file_index":
				fb.(*array.Int64Builder).Append(int64(ep.DataFile))
			case name == "dataset_from_index":
				fb.(*array.Int64Builder).Append(int64(ep.From))
			case name == "dataset_to_index":
				fb.(*array.Int64Builder).Append(int64(ep.To))
			case name == "meta/episodes/chunk_index":
				fb.(*array.Int64Builder).Append(int64(ep.MetaChunk))
			case name == "meta/episodes/file_index":
				fb.(*array.Int64Builder).Append(int64(ep.MetaFile))
			case strings.HasPrefix(name, "videos/"):
				rest := strings.TrimPrefix(name, "videos/")
				slash := strings.LastIndexByte(rest, '/')
				key, field := rest[:slash], rest[slash+1:]
				vs, ok := ep.Videos[key]
				if !ok {
					return nil, fmt.Errorf("dataset: episode %d has no video span for %s", ep.Index, key)
				}
				switch field {
				case "chunk_index":
					fb.(*array.Int64Builder).Append(int64(vs.Chunk))
				case "file_index":
					fb.(*array.Int64Builder).Append(int64(vs.File))
				case "from_timestamp":
					fb.(*array.Float64Builder).Append(vs.From)
				case "to_timestamp":
					fb.(*array.Float64Builder).Append(vs.To)
				}
			case strings.HasPrefix(name, "stats/"):
				rest := strings.TrimPrefix(name, "stats/")
				slash := strings.LastIndexByte(rest, '/')
				fk, sk := rest[:slash], rest[slash+1:]
				if ep.Stats == nil || ep.Stats.By[fk] == nil {
					return nil, fmt.Errorf("dataset: episode %d has no stats for %s", ep.Index, fk)
				}
				appendStat(fb.(*array.ListBuilder), ep.Stats.By[fk], sk)
			default:
				return nil, fmt.Errorf("dataset: unknown episodes column %s", name)
			}
		}
	}
	return b.NewRecordBatch(), nil
}

func appendStat(lb *array.ListBuilder, fs *FeatureStats, sk string) {
	lb.Append(true)
	if sk == "count" {
		lb.ValueBuilder().(*array.Int64Builder).Append(fs.Count)
		return
	}
	vals := fs.values(sk)
	if len(fs.Shape) == 3 {
		l2 := lb.ValueBuilder().(*array.ListBuilder)
		for _, v := range vals {
			l2.Append(true)
			l3 := l2.ValueBuilder().(*array.ListBuilder)
			l3.Append(true)
			l3.ValueBuilder().(*array.Float64Builder).Append(v)
		}
		return
	}
	vb := lb.ValueBuilder().(*array.Float64Builder)
	for _, v := range vals {
		vb.Append(v)
	}
}

// writeEpisodes writes one episodes parquet file holding eps (one row
// group). All episodes must share the same cameras and stats layout.
func writeEpisodes(path string, videoKeys []string, eps []EpisodeMeta) error {
	if len(eps) == 0 {
		return fmt.Errorf("dataset: no episodes to write to %s", path)
	}
	schema := episodesSchema(videoKeys, eps[0].Stats)
	rec, err := episodesRecord(schema, eps)
	if err != nil {
		return err
	}
	defer rec.Release()
	return writeParquet(path, schema, []arrow.RecordBatch{rec})
}

// ParseEpisodes decodes a v3.0 episodes parquet file. Per-episode stats are
// read when present (LeRobot itself drops them on load).
func ParseEpisodes(ctx context.Context, data []byte) ([]EpisodeMeta, error) {
	pf, err := readParquetBytes(ctx, data)
	if err != nil {
		return nil, fmt.Errorf("dataset: episodes: %w", err)
	}
	defer pf.Release()
	return episodesFrom(pf)
}

func episodesFrom(pf *ParquetFile) ([]EpisodeMeta, error) {
	n := int(pf.Table.NumRows())
	ints := map[string][]int64{}
	for _, c := range []string{"episode_index", "length", "data/chunk_index", "data/file_index",
		"dataset_from_index", "dataset_to_index", "meta/episodes/chunk_index", "meta/episodes/file_index"} {
		v, err := IntColumn(pf.Column(c))
		if err != nil {
			return nil, fmt.Errorf("dataset: episodes: %s: %w", c, err)
		}
		if len(v) != n {
			return nil, formatErr("episodes", "column %s has %d rows, table %d", c, len(v), n)
		}
		ints[c] = v
	}
	tasks, err := StringListColumn(pf.Column("tasks"))
	if err != nil {
		return nil, fmt.Errorf("dataset: episodes: tasks: %w", err)
	}
	if len(tasks) != n {
		return nil, formatErr("episodes", "tasks has %d rows, table %d", len(tasks), n)
	}
	eps := make([]EpisodeMeta, n)
	for i := range eps {
		eps[i] = EpisodeMeta{
			Index: int(ints["episode_index"][i]), Tasks: tasks[i], Length: int(ints["length"][i]),
			DataChunk: int(ints["data/chunk_index"][i]), DataFile: int(ints["data/file_index"][i]),
			From: int(ints["dataset_from_index"][i]), To: int(ints["dataset_to_index"][i]),
			MetaChunk: int(ints["meta/episodes/chunk_index"][i]), MetaFile: int(ints["meta/episodes/file_index"][i]),
			Videos: map[string]VideoSpan{},
		}
		if eps[i].Length < 0 || eps[i].To-eps[i].From != eps[i].Length {
			return nil, formatErr("episodes", "episode %d: length %d but index range [%d, %d)",
				eps[i].Index, eps[i].Length, eps[i].From, eps[i].To)
		}
	}
	// Videos and stats, found by column name.
	type statCol struct{ feat, stat string }
	var statCols []statCol
	for _, f := range pf.Table.Schema().Fields() {
		name := f.Name
		switch {
		case strings.HasPrefix(name, "videos/") && strings.HasSuffix(name, "/chunk_index"):
			key := strings.TrimSuffix(strings.TrimPrefix(name, "videos/"), "/chunk_index")
			cols := map[string][]float64{}
			for _, fld := range []string{"chunk_index", "file_index", "from_timestamp", "to_timestamp"} {
				v, dim, err := FloatColumn(pf.Column("videos/" + key + "/" + fld))
				if err != nil || (n > 0 && dim != 1) || len(v) != n {
					return nil, formatErr("episodes", "videos/%s/%s: missing or not a scalar column", key, fld)
				}
				cols[fld] = v
			}
			for i := range eps {
				eps[i].Videos[key] = VideoSpan{Chunk: int(cols["chunk_index"][i]), File: int(cols["file_index"][i]),
					From: cols["from_timestamp"][i], To: cols["to_timestamp"][i]}
			}
		case strings.HasPrefix(name, "stats/"):
			rest := strings.TrimPrefix(name, "stats/")
			slash := strings.LastIndexByte(rest, '/')
			if slash <= 0 {
				continue
			}
			statCols = append(statCols, statCol{rest[:slash], rest[slash+1:]})
		}
	}
	if len(statCols) > 0 {
		for i := range eps {
			eps[i].Stats = NewStats()
		}
		for _, sc := range statCols {
			col := pf.Column("stats/" + sc.feat + "/" + sc.stat)
			vals, dim, err := FloatColumn(col)
			if err != nil {
				return nil, fmt.Errorf("dataset: episodes: stats/%s/%s: %w", sc.feat, sc.stat, err)
			}
			if len(vals) != n*dim {
				return nil, formatErr("episodes", "stats/%s/%s has %d values for %d rows", sc.feat, sc.stat, len(vals), n)
			}
			shape := []int{dim}
			if strings.HasPrefix(col.DataType().String(), "list<item: list<item: list") {
				shape = []int{dim, 1, 1}
			}
			for i := range eps {
				fs := eps[i].Stats.By[sc.feat]
				if fs == nil {
					fs = &FeatureStats{Shape: shape, HasQuantiles: true}
					eps[i].Stats.Set(sc.feat, fs)
				}
				row := vals[i*dim : (i+1)*dim]
				switch sc.stat {
				case "min":
					fs.Min = row
				case "max":
					fs.Max = row
				case "mean":
					fs.Mean = row
				case "std":
					fs.Std = row
				case "count":
					if dim == 1 {
						fs.Count = int64(row[0])
					}
				default:
					for q, k := range quantileKeys {
						if k == sc.stat {
							fs.Q[q] = row
						}
					}
				}
			}
		}
		for i := range eps {
			for _, k := range eps[i].Stats.Order {
				fs := eps[i].Stats.By[k]
				for q := range fs.Q {
					if fs.Q[q] == nil {
						fs.HasQuantiles = false
					}
				}
				if fs.Min == nil || fs.Max == nil || fs.Mean == nil || fs.Std == nil {
					delete(eps[i].Stats.By, k)
				}
			}
			var order []string
			for _, k := range eps[i].Stats.Order {
				if eps[i].Stats.By[k] != nil {
					order = append(order, k)
				}
			}
			eps[i].Stats.Order = order
		}
	}
	return eps, nil
}
