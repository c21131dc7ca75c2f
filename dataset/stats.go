package dataset

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
)

// quantiles are the quantiles LeRobot stores (DEFAULT_QUANTILES), and
// quantileKeys their names in stats.json.
var (
	quantiles    = [5]float64{0.01, 0.10, 0.50, 0.90, 0.99}
	quantileKeys = [5]string{"q01", "q10", "q50", "q90", "q99"}
)

// statKeys are the statistics of one feature in LeRobot's order.
var statKeys = []string{"min", "max", "mean", "std", "count", "q01", "q10", "q50", "q90", "q99"}

const quantileBins = 5000 // RunningQuantileStats' histogram size

// FeatureStats are the statistics of one feature: per dimension for
// vectors (shape [D]), per channel for images (shape [3,1,1], values in
// [0,1]). Count is the number of frames (for images: of sampled frames).
type FeatureStats struct {
	Shape        []int
	Min, Max     []float64
	Mean, Std    []float64
	Count        int64
	Q            [5][]float64 // quantiles, in order; nil when absent (v2.1)
	HasQuantiles bool
}

// Stats maps a feature key to its statistics; Order keeps the file order.
type Stats struct {
	Order []string
	By    map[string]*FeatureStats
}

// NewStats returns empty statistics.
func NewStats() *Stats { return &Stats{By: map[string]*FeatureStats{}} }

// Set stores fs under key, keeping the first position of key.
func (s *Stats) Set(key string, fs *FeatureStats) {
	if _, ok := s.By[key]; !ok {
		s.Order = append(s.Order, key)
	}
	s.By[key] = fs
}

// ComputeStats computes LeRobot's statistics of n frames of a d-dimensional
// feature, rows stored one after another in v. It mirrors
// compute_stats.get_feature_stats: exact min/max/mean, population std from
// E[x²]−E[x]², and quantiles from a 5000-bin histogram between min and max
// with linear interpolation inside a bin; with fewer than 2 frames every
// quantile is the mean.
func ComputeStats(v []float64, n, d int, shape []int) *FeatureStats {
	fs := &FeatureStats{Shape: slices.Clone(shape), Count: int64(n), HasQuantiles: true,
		Min: make([]float64, d), Max: make([]float64, d), Mean: make([]float64, d), Std: make([]float64, d)}
	for q := range fs.Q {
		fs.Q[q] = make([]float64, d)
	}
	if n == 0 {
		return fs
	}
	col := make([]float64, n)
	hist := make([]float64, quantileBins)
	for j := 0; j < d; j++ {
		lo, hi := math.Inf(1), math.Inf(-1)
		var sum, sq float64
		for i := 0; i < n; i++ {
			x := v[i*d+j]
			col[i] = x
			lo, hi = math.Min(lo, x), math.Max(hi, x)
			sum += x
			sq += x * x
		}
		mean := sum / float64(n)
		fs.Min[j], fs.Max[j], fs.Mean[j] = lo, hi, mean
		fs.Std[j] = math.Sqrt(math.Max(0, sq/float64(n)-mean*mean))
		if n < 2 {
			for q := range fs.Q {
				fs.Q[q][j] = mean
			}
			continue
		}
		edges := linspace(lo-1e-10, hi+1e-10, quantileBins+1)
		clear(hist)
		for _, x := range col {
			hist[histBin(edges, x)]++
		}
		for q, p := range quantiles {
			fs.Q[q][j] = histQuantile(hist, edges, p*float64(n))
		}
	}
	return fs
}

// computeStatsFromCounts is ComputeStats for data given as a histogram of
// integer values 0..len(counts)-1 (image channels), scaled by 1/scale.
func computeStatsFromCounts(counts []uint64, scale float64) (lo, hi, mean, std float64, q [5]float64) {
	var n, sum, sq float64
	first, last := -1, -1
	for v, c := range counts {
		if c == 0 {
			continue
		}
		if first < 0 {
			first = v
		}
		last = v
		fc := float64(c)
		n += fc
		sum += fc * float64(v)
		sq += fc * float64(v) * float64(v)
	}
	if n == 0 {
		return
	}
	mean = sum / n
	std = math.Sqrt(math.Max(0, sq/n-mean*mean))
	lo, hi = float64(first), float64(last)
	if n < 2 {
		for i := range q {
			q[i] = mean / scale
		}
		return lo / scale, hi / scale, mean / scale, std / scale, q
	}
	edges := linspace(lo-1e-10, hi+1e-10, quantileBins+1)
	hist := make([]float64, quantileBins)
	for v := first; v <= last; v++ {
		if counts[v] != 0 {
			hist[histBin(edges, float64(v))] += float64(counts[v])
		}
	}
	for i, p := range quantiles {
		q[i] = histQuantile(hist, edges, p*n) / scale
	}
	return lo / scale, hi / scale, mean / scale, std / scale, q
}

func linspace(a, b float64, n int) []float64 {
	out := make([]float64, n)
	step := (b - a) / float64(n-1)
	for i := range out {
		out[i] = a + float64(i)*step
	}
	out[n-1] = b
	return out
}

// histBin is numpy.histogram's bin for x: [e_i, e_i+1), the last bin closed.
func histBin(edges []float64, x float64) int {
	nb := len(edges) - 1
	i := sort.SearchFloat64s(edges, x) // first edge ≥ x
	if i < len(edges) && edges[i] == x {
		// x on an edge belongs to the bin starting there
	} else {
		i--
	}
	return max(0, min(i, nb-1))
}

// histQuantile is RunningQuantileStats._compute_single_quantile.
func histQuantile(hist, edges []float64, target float64) float64 {
	var cum float64
	before := 0.0
	for i, h := range hist {
		cum += h
		if cum >= target {
			if i == 0 {
				return edges[0]
			}
			if h == 0 {
				return edges[i]
			}
			frac := (target - before) / h
			return edges[i] + frac*(edges[i+1]-edges[i])
		}
		before = cum
	}
	return edges[len(edges)-1]
}

// AggregateStats merges per-episode statistics as LeRobot's
// aggregate_feature_stats: extremes for min/max, count-weighted mean, the
// parallel-variance formula for std, summed counts, and a conservative
// envelope for quantiles (min across parts at or below q50, max above).
func AggregateStats(parts ...*FeatureStats) *FeatureStats {
	var in []*FeatureStats
	for _, p := range parts {
		if p != nil {
			in = append(in, p)
		}
	}
	if len(in) == 0 {
		return nil
	}
	if len(in) == 1 {
		return in[0].clone()
	}
	d := len(in[0].Mean)
	out := &FeatureStats{Shape: slices.Clone(in[0].Shape), Min: make([]float64, d), Max: make([]float64, d),
		Mean: make([]float64, d), Std: make([]float64, d), HasQuantiles: true}
	for _, p := range in {
		out.Count += p.Count
		out.HasQuantiles = out.HasQuantiles && p.HasQuantiles
	}
	for j := 0; j < d; j++ {
		out.Min[j], out.Max[j] = math.Inf(1), math.Inf(-1)
		var wm float64
		for _, p := range in {
			out.Min[j] = math.Min(out.Min[j], p.Min[j])
			out.Max[j] = math.Max(out.Max[j], p.Max[j])
			wm += p.Mean[j] * float64(p.Count)
		}
		if out.Count > 0 {
			out.Mean[j] = wm / float64(out.Count)
		}
		var wv float64
		for _, p := range in {
			dm := p.Mean[j] - out.Mean[j]
			wv += (p.Std[j]*p.Std[j] + dm*dm) * float64(p.Count)
		}
		if out.Count > 0 {
			out.Std[j] = math.Sqrt(wv / float64(out.Count))
		}
	}
	if out.HasQuantiles {
		for q := range out.Q {
			out.Q[q] = make([]float64, d)
			for j := 0; j < d; j++ {
				v := in[0].Q[q][j]
				for _, p := range in[1:] {
					if quantiles[q] <= 0.5 {
						v = math.Min(v, p.Q[q][j])
					} else {
						v = math.Max(v, p.Q[q][j])
					}
				}
				out.Q[q][j] = v
			}
		}
	}
	return out
}

func (fs *FeatureStats) clone() *FeatureStats {
	c := *fs
	c.Shape, c.Min, c.Max = slices.Clone(fs.Shape), slices.Clone(fs.Min), slices.Clone(fs.Max)
	c.Mean, c.Std = slices.Clone(fs.Mean), slices.Clone(fs.Std)
	for q := range c.Q {
		c.Q[q] = slices.Clone(fs.Q[q])
	}
	return &c
}

// AggregateAll merges two Stats feature by feature (either may be nil).
func AggregateAll(a, b *Stats) *Stats {
	out := NewStats()
	for _, s := range []*Stats{a, b} {
		if s == nil {
			continue
		}
		for _, k := range s.Order {
			out.Set(k, AggregateStats(out.By[k], s.By[k]))
		}
	}
	return out
}

// values returns the named statistic's values, or nil.
func (fs *FeatureStats) values(key string) []float64 {
	switch key {
	case "min":
		return fs.Min
	case "max":
		return fs.Max
	case "mean":
		return fs.Mean
	case "std":
		return fs.Std
	}
	for i, k := range quantileKeys {
		if k == key {
			return fs.Q[i]
		}
	}
	return nil
}

// nested shapes a flat list of values as the statistic's JSON value.
func nested(v []float64, shape []int) any {
	if len(shape) == 3 && shape[1] == 1 && shape[2] == 1 {
		out := make([][][]float64, len(v))
		for i, x := range v {
			out[i] = [][]float64{{x}}
		}
		return out
	}
	return v
}

// EncodeStats renders stats.json as LeRobot writes it (indent 4).
func EncodeStats(s *Stats) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range s.Order {
		fs := s.By[k]
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONValue(&b, k)
		b.WriteString(":{")
		first := true
		for _, sk := range statKeys {
			var v any
			if sk == "count" {
				v = []int64{fs.Count}
			} else {
				vals := fs.values(sk)
				if vals == nil {
					continue
				}
				v = nested(jsonSafe(vals), fs.Shape)
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			writeJSONValue(&b, sk)
			b.WriteByte(':')
			data, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("dataset: stats %s/%s: %w", k, sk, err)
			}
			b.Write(data)
		}
		b.WriteByte('}')
	}
	b.WriteByte('}')
	return indentJSON(b.Bytes())
}

// jsonSafe replaces NaN and infinities (which JSON cannot carry) by 0.
func jsonSafe(v []float64) []float64 {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			out := slices.Clone(v)
			for i := range out {
				if math.IsNaN(out[i]) || math.IsInf(out[i], 0) {
					out[i] = 0
				}
			}
			return out
		}
	}
	return v
}

// flatten turns a JSON statistic value (a number, or nested lists of
// numbers) into a flat list and its shape.
func flatten(v any) ([]float64, []int, error) {
	switch x := v.(type) {
	case float64:
		return []float64{x}, nil, nil
	case []any:
		var out []float64
		var inner []int
		for i, e := range x {
			vals, shape, err := flatten(e)
			if err != nil {
				return nil, nil, err
			}
			if i == 0 {
				inner = shape
			} else if !slices.Equal(inner, shape) {
				return nil, nil, fmt.Errorf("ragged nested list")
			}
			out = append(out, vals...)
		}
		return out, append([]int{len(x)}, inner...), nil
	}
	return nil, nil, fmt.Errorf("value of type %T is not a number or list", v)
}

// ParseStats decodes meta/stats.json (or one episode's stats in v2.1's
// episodes_stats.jsonl). Each feature needs min/max/mean/std of one shape
// and a count of shape [1]; quantiles are optional (absent before v3.0).
func ParseStats(data []byte) (*Stats, error) {
	keys, obj, err := orderedObject(data)
	if err != nil {
		return nil, formatErr(StatsPath, "%v", err)
	}
	out := NewStats()
	for _, k := range keys {
		var m map[string]any
		if err := json.Unmarshal(obj[k], &m); err != nil {
			return nil, formatErr(StatsPath, "%s: %v", k, err)
		}
		fs := &FeatureStats{}
		var shape []int
		get := func(sk string) ([]float64, error) {
			raw, ok := m[sk]
			if !ok {
				return nil, fmt.Errorf("missing %q", sk)
			}
			vals, sh, err := flatten(raw)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", sk, err)
			}
			if len(sh) == 0 {
				sh = []int{1}
			}
			if shape == nil {
				shape = sh
			} else if !slices.Equal(shape, sh) {
				return nil, fmt.Errorf("%s has shape %v, min has %v", sk, sh, shape)
			}
			return vals, nil
		}
		for _, sk := range []string{"min", "max", "mean", "std"} {
			vals, err := get(sk)
			if err != nil {
				return nil, formatErr(StatsPath, "%s: %v", k, err)
			}
			switch sk {
			case "min":
				fs.Min = vals
			case "max":
				fs.Max = vals
			case "mean":
				fs.Mean = vals
			case "std":
				fs.Std = vals
			}
		}
		fs.Shape = shape
		cnt, csh, err := flatten(m["count"])
		if err != nil || len(cnt) != 1 || (len(csh) > 0 && !slices.Equal(csh, []int{1})) {
			return nil, formatErr(StatsPath, "%s: count must be a list of one integer", k)
		}
		if cnt[0] < 0 || cnt[0] != math.Trunc(cnt[0]) || cnt[0] > 1<<53 {
			return nil, formatErr(StatsPath, "%s: count %v is not a non-negative integer", k, cnt[0])
		}
		fs.Count = int64(cnt[0])
		fs.HasQuantiles = true
		for i, qk := range quantileKeys {
			if _, ok := m[qk]; !ok {
				fs.HasQuantiles = false
				continue
			}
			vals, err := get(qk)
			if err != nil {
				return nil, formatErr(StatsPath, "%s: %v", k, err)
			}
			fs.Q[i] = vals
		}
		if !fs.HasQuantiles {
			fs.Q = [5][]float64{}
		}
		out.Set(k, fs)
	}
	return out, nil
}

// ReadStats reads root/meta/stats.json.
func ReadStats(root string) (*Stats, error) {
	data, err := os.ReadFile(filepath.Join(root, StatsPath))
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	return ParseStats(data)
}
