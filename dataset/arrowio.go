package dataset

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Parquet is written with Apache Arrow's Go implementation (pqarrow): it is
// the Go writer that stores vector features as Arrow fixed_size_list columns
// with the ARROW:schema metadata that pyarrow (and so LeRobot) restores.
// parquet-go was 3–4× faster on 100k rows (70–100 ms against 200–300 ms)
// but writes plain lists; at one episode per write both cost milliseconds.

// arrowType maps a numpy dtype name to an Arrow type.
func arrowType(dtype string) (arrow.DataType, error) {
	switch dtype {
	case "float32":
		return arrow.PrimitiveTypes.Float32, nil
	case "float64":
		return arrow.PrimitiveTypes.Float64, nil
	case "int64":
		return arrow.PrimitiveTypes.Int64, nil
	case "int32":
		return arrow.PrimitiveTypes.Int32, nil
	case "int16":
		return arrow.PrimitiveTypes.Int16, nil
	case "int8":
		return arrow.PrimitiveTypes.Int8, nil
	case "uint8":
		return arrow.PrimitiveTypes.Uint8, nil
	case "bool":
		return arrow.FixedWidthTypes.Boolean, nil
	case DTypeString:
		return arrow.BinaryTypes.String, nil
	}
	return nil, fmt.Errorf("dataset: dtype %q is not supported for writing", dtype)
}

// hfValueType is the Hugging Face datasets "Value" dtype name.
func hfValueType(dtype string) string {
	if dtype == DTypeString {
		return "string"
	}
	return dtype
}

// DataSchema is the Arrow schema of the data parquet files for info's
// features: every non-video feature in order, shape [1] as a scalar and
// shape [D] as fixed_size_list<dtype>[D], with the Hugging Face "huggingface"
// schema metadata that datasets writes.
func DataSchema(info *Info) (*arrow.Schema, error) {
	var fields []arrow.Field
	hf := map[string]any{}
	type hfFeat = map[string]any
	var order []string
	for _, f := range info.DataFeatures() {
		t, err := arrowType(f.DType)
		if err != nil {
			return nil, fmt.Errorf("dataset: feature %s: %w", f.Key, err)
		}
		order = append(order, f.Key)
		switch {
		case len(f.Shape) == 1 && f.Shape[0] == 1:
			fields = append(fields, arrow.Field{Name: f.Key, Type: t, Nullable: true})
			hf[f.Key] = hfFeat{"dtype": hfValueType(f.DType), "_type": "Value"}
		case len(f.Shape) == 1:
			fields = append(fields, arrow.Field{Name: f.Key, Type: arrow.FixedSizeListOf(int32(f.Shape[0]), t), Nullable: true})
			hf[f.Key] = hfFeat{"feature": hfFeat{"dtype": hfValueType(f.DType), "_type": "Value"}, "length": f.Shape[0], "_type": "List"}
		default:
			return nil, fmt.Errorf("dataset: feature %s: shape %v is not supported for writing", f.Key, f.Shape)
		}
	}
	// Keep the features in column order inside the metadata.
	var b bytes.Buffer
	b.WriteString(`{"info":{"features":{`)
	for i, k := range order {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONValue(&b, k)
		b.WriteByte(':')
		writeJSONValue(&b, hf[k])
	}
	b.WriteString(`}}}`)
	md := arrow.NewMetadata([]string{"huggingface"}, []string{b.String()})
	return arrow.NewSchema(fields, &md), nil
}

func writerProps() (*parquet.WriterProperties, pqarrow.ArrowWriterProperties) {
	props := parquet.NewWriterProperties(
		parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithDictionaryDefault(true),
		parquet.WithMaxRowGroupLength(1<<40),
		parquet.WithCreatedBy("anther (apache arrow-go)"),
	)
	return props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema())
}

// writeParquet writes recs to path, one row group per record, and syncs it.
func writeParquet(path string, schema *arrow.Schema, recs []arrow.RecordBatch) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	props, aprops := writerProps()
	w, err := pqarrow.NewFileWriter(schema, f, props, aprops)
	if err != nil {
		f.Close()
		return fmt.Errorf("dataset: parquet writer %s: %w", path, err)
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			w.Close()
			f.Close()
			return fmt.Errorf("dataset: parquet write %s: %w", path, err)
		}
	}
	if err := w.Close(); err != nil { // closes f too
		return fmt.Errorf("dataset: parquet close %s: %w", path, err)
	}
	return syncFile(path)
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("dataset: sync %s: %w", path, err)
	}
	return nil
}

// readTable reads a whole parquet file (from a reader of size n) as an
// Arrow table. Malformed files give an error, never a panic.
func readTable(ctx context.Context, r parquet.ReaderAtSeeker) (tbl arrow.Table, kv map[string]string, rowGroups []int64, err error) {
	defer func() {
		if p := recover(); p != nil {
			tbl, err = nil, fmt.Errorf("%w: parquet reader panicked: %v", ErrFormat, p)
		}
	}()
	pf, err := file.NewParquetReader(r)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	defer pf.Close()
	kv = map[string]string{}
	for _, e := range pf.MetaData().KeyValueMetadata() {
		if e.Value != nil {
			kv[e.Key] = *e.Value
		}
	}
	for i := 0; i < pf.NumRowGroups(); i++ {
		rowGroups = append(rowGroups, pf.MetaData().RowGroup(i).NumRows())
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{Parallel: false, BatchSize: 1 << 16}, memory.DefaultAllocator)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	tbl, err = fr.ReadTable(ctx)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	return tbl, kv, rowGroups, nil
}

// ParquetFile is a parquet file read whole: its Arrow table, key-value
// metadata and row-group sizes. Release frees the table.
type ParquetFile struct {
	Table     arrow.Table
	Meta      map[string]string
	RowGroups []int64
}

// Release frees the table's memory.
func (p *ParquetFile) Release() {
	if p.Table != nil {
		p.Table.Release()
	}
}

// ReadParquet reads the parquet file at path.
func ReadParquet(ctx context.Context, path string) (*ParquetFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	tbl, kv, rgs, err := readTable(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", path, err)
	}
	return &ParquetFile{Table: tbl, Meta: kv, RowGroups: rgs}, nil
}

// readParquetBytes reads a parquet file held in memory.
func readParquetBytes(ctx context.Context, data []byte) (*ParquetFile, error) {
	tbl, kv, rgs, err := readTable(ctx, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	return &ParquetFile{Table: tbl, Meta: kv, RowGroups: rgs}, nil
}

// Column returns the named column's chunks, or nil.
func (p *ParquetFile) Column(name string) *arrow.Chunked {
	idx := p.Table.Schema().FieldIndices(name)
	if len(idx) == 0 {
		return nil
	}
	return p.Table.Column(idx[0]).Data()
}

// listLike is an Arrow list array of any offset width or a fixed-size list.
type listLike interface {
	arrow.Array
	ListValues() arrow.Array
	ValueOffsets(i int) (start, end int64)
}

// scalarFloat reads element i of a numeric or boolean array.
func scalarFloat(a arrow.Array, i int) (float64, bool) {
	switch x := a.(type) {
	case *array.Float32:
		return float64(x.Value(i)), true
	case *array.Float64:
		return x.Value(i), true
	case *array.Int64:
		return float64(x.Value(i)), true
	case *array.Int32:
		return float64(x.Value(i)), true
	case *array.Int16:
		return float64(x.Value(i)), true
	case *array.Int8:
		return float64(x.Value(i)), true
	case *array.Uint8:
		return float64(x.Value(i)), true
	case *array.Uint16:
		return float64(x.Value(i)), true
	case *array.Uint32:
		return float64(x.Value(i)), true
	case *array.Uint64:
		return float64(x.Value(i)), true
	case *array.Boolean:
		if x.Value(i) {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// appendRow appends the values of row i of a (possibly nested) numeric
// column to dst, flattening lists.
func appendRow(dst []float64, a arrow.Array, i int) ([]float64, error) {
	if a.IsNull(i) {
		return nil, fmt.Errorf("null value at row %d", i)
	}
	if v, ok := scalarFloat(a, i); ok {
		return append(dst, v), nil
	}
	l, ok := a.(listLike)
	if !ok {
		return nil, fmt.Errorf("column type %s is not numeric", a.DataType())
	}
	start, end := l.ValueOffsets(i)
	vals := l.ListValues()
	if start < 0 || end > int64(vals.Len()) || start > end {
		return nil, fmt.Errorf("list offsets out of range at row %d", i)
	}
	var err error
	for j := start; j < end; j++ {
		if dst, err = appendRow(dst, vals, int(j)); err != nil {
			return nil, err
		}
	}
	return dst, nil
}

// FloatColumn flattens a numeric column (scalars or lists, any nesting) to
// float64 values, rows one after another, and returns the number of values
// per row (which must be the same for every row).
func FloatColumn(c *arrow.Chunked) (vals []float64, dim int, err error) {
	if c == nil {
		return nil, 0, fmt.Errorf("%w: missing column", ErrFormat)
	}
	dim = -1
	for _, ch := range c.Chunks() {
		for i := 0; i < ch.Len(); i++ {
			n := len(vals)
			if vals, err = appendRow(vals, ch, i); err != nil {
				return nil, 0, fmt.Errorf("%w: %v", ErrFormat, err)
			}
			if d := len(vals) - n; dim < 0 {
				dim = d
			} else if d != dim {
				return nil, 0, fmt.Errorf("%w: rows of %d and %d values in one column", ErrFormat, dim, d)
			}
		}
	}
	return vals, max(dim, 0), nil
}

// IntColumn reads an integer scalar column.
func IntColumn(c *arrow.Chunked) ([]int64, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: missing column", ErrFormat)
	}
	var out []int64
	for _, ch := range c.Chunks() {
		switch x := ch.(type) {
		case *array.Int64:
			for i := 0; i < x.Len(); i++ {
				out = append(out, x.Value(i))
			}
		case *array.Int32:
			for i := 0; i < x.Len(); i++ {
				out = append(out, int64(x.Value(i)))
			}
		default:
			return nil, fmt.Errorf("%w: column is %s, not an integer", ErrFormat, ch.DataType())
		}
	}
	return out, nil
}

// StringColumn reads a string scalar column.
func StringColumn(c *arrow.Chunked) ([]string, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: missing column", ErrFormat)
	}
	var out []string
	for _, ch := range c.Chunks() {
		switch x := ch.(type) {
		case *array.String:
			for i := 0; i < x.Len(); i++ {
				out = append(out, x.Value(i))
			}
		case *array.LargeString:
			for i := 0; i < x.Len(); i++ {
				out = append(out, x.Value(i))
			}
		default:
			return nil, fmt.Errorf("%w: column is %s, not a string", ErrFormat, ch.DataType())
		}
	}
	return out, nil
}

// StringListColumn reads a list<string> column.
func StringListColumn(c *arrow.Chunked) ([][]string, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: missing column", ErrFormat)
	}
	var out [][]string
	for _, ch := range c.Chunks() {
		l, ok := ch.(listLike)
		if !ok {
			return nil, fmt.Errorf("%w: column is %s, not a list of strings", ErrFormat, ch.DataType())
		}
		vals := l.ListValues()
		for i := 0; i < l.Len(); i++ {
			s, e := l.ValueOffsets(i)
			if s < 0 || e > int64(vals.Len()) || s > e {
				return nil, fmt.Errorf("%w: list offsets out of range", ErrFormat)
			}
			var row []string
			for j := s; j < e; j++ {
				switch x := vals.(type) {
				case *array.String:
					row = append(row, x.Value(int(j)))
				case *array.LargeString:
					row = append(row, x.Value(int(j)))
				default:
					return nil, fmt.Errorf("%w: list items are %s, not strings", ErrFormat, vals.DataType())
				}
			}
			out = append(out, row)
		}
	}
	return out, nil
}

// pandasTasksMeta is the "pandas" schema metadata pandas+pyarrow write for
// DataFrame({"task_index": …}, index=Index(tasks, name="task")): without it
// pandas reads a RangeIndex and LeRobot's task lookups return integers.
const pandasTasksMeta = `{"index_columns": ["task"], "column_indexes": [{"name": null, "field_name": null, ` +
	`"pandas_type": "unicode", "numpy_type": "object", "metadata": {"encoding": "UTF-8"}}], ` +
	`"columns": [{"name": "task_index", "field_name": "task_index", "pandas_type": "int64", ` +
	`"numpy_type": "int64", "metadata": null}, {"name": "task", "field_name": "task", ` +
	`"pandas_type": "unicode", "numpy_type": "object", "metadata": null}], ` +
	`"creator": {"library": "pyarrow", "version": "21.0.0"}, "pandas_version": "2.3.1"}`

// writeTasks writes meta/tasks.parquet: task_index (int64) then the task
// string as the pandas index column "task".
func writeTasks(path string, tasks []string) error {
	md := arrow.NewMetadata([]string{"pandas"}, []string{pandasTasksMeta})
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "task_index", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "task", Type: arrow.BinaryTypes.String, Nullable: true},
	}, &md)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for i, t := range tasks {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.StringBuilder).Append(t)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	return writeParquet(path, schema, []arrow.RecordBatch{rec})
}

// ParseTasks decodes meta/tasks.parquet into the task strings by index. It
// accepts the pandas layout LeRobot writes and plain task/task_index columns.
func ParseTasks(ctx context.Context, data []byte) ([]string, error) {
	pf, err := readParquetBytes(ctx, data)
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", TasksPath, err)
	}
	defer pf.Release()
	return tasksFrom(pf)
}

func tasksFrom(pf *ParquetFile) ([]string, error) {
	idx, err := IntColumn(pf.Column("task_index"))
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: task_index: %w", TasksPath, err)
	}
	names, err := StringColumn(pf.Column("task"))
	if err != nil {
		// pandas may name an unnamed index __index_level_0__.
		names, err = StringColumn(pf.Column("__index_level_0__"))
		if err != nil {
			return nil, fmt.Errorf("dataset: %s: task: %w", TasksPath, err)
		}
	}
	if len(idx) != len(names) {
		return nil, formatErr(TasksPath, "%d task_index values for %d tasks", len(idx), len(names))
	}
	out := make([]string, len(idx))
	seen := make([]bool, len(idx))
	for i, ti := range idx {
		if ti < 0 || int(ti) >= len(out) || seen[ti] {
			return nil, formatErr(TasksPath, "task_index %d is out of range or repeated", ti)
		}
		out[ti], seen[ti] = names[i], true
	}
	return out, nil
}

// hasPandasTaskIndex reports whether tasks.parquet carries the pandas
// metadata that makes "task" the index.
func hasPandasTaskIndex(kv map[string]string) bool {
	raw, ok := kv["pandas"]
	if !ok {
		return false
	}
	var m struct {
		IndexColumns []any `json:"index_columns"`
	}
	if json.Unmarshal([]byte(raw), &m) != nil {
		return false
	}
	for _, c := range m.IndexColumns {
		if s, ok := c.(string); ok && s == "task" {
			return true
		}
	}
	return false
}

// readAllFile reads a whole file with a size cap.
func readAllFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("dataset: %s is larger than %d bytes", path, limit)
	}
	return data, nil
}

// arrowRecord is an Arrow record batch.
type arrowRecord = arrow.RecordBatch
