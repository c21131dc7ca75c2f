package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"sort"
)

// Stats are a LeRobot dataset's meta/stats.json: per feature
// ("observation.state", "action", "observation.images.front", ...), its
// statistics flattened to one value per element (image stats, stored with
// shape (3,1,1), become one value per channel).
type Stats map[string]FeatureStats

// FeatureStats are one feature's statistics.
type FeatureStats struct {
	Mean, Std, Min, Max []float64
	Q01, Q10, Q90, Q99  []float64
	Count               int64
}

// ReadStats reads a stats.json file.
func ReadStats(path string) (Stats, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("policy: stats %s: no such file", path)
		}
		return nil, fmt.Errorf("policy: stats %s: %w", path, err)
	}
	st, err := ParseStats(data)
	if err != nil {
		return nil, fmt.Errorf("policy: stats %s: %w", path, err)
	}
	return st, nil
}

// ParseStats decodes a stats.json document. Values may be nested lists of
// any depth (they are flattened in order); unknown statistics are ignored.
func ParseStats(data []byte) (Stats, error) {
	var raw map[string]map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("not a LeRobot stats.json (want {feature: {stat: [...]}}): %w", err)
	}
	out := make(Stats, len(raw))
	for feat, m := range raw {
		var fs FeatureStats
		for stat, v := range m {
			dst := map[string]*[]float64{"mean": &fs.Mean, "std": &fs.Std, "min": &fs.Min, "max": &fs.Max,
				"q01": &fs.Q01, "q10": &fs.Q10, "q90": &fs.Q90, "q99": &fs.Q99}[stat]
			if stat == "count" {
				c, err := flatten(v, nil, 0)
				if err != nil || len(c) == 0 {
					return nil, fmt.Errorf("%s.count: want [N]", feat)
				}
				fs.Count = int64(c[0])
				continue
			}
			if dst == nil {
				continue
			}
			vals, err := flatten(v, nil, 0)
			if err != nil {
				return nil, fmt.Errorf("%s.%s: %w", feat, stat, err)
			}
			*dst = vals
		}
		out[feat] = fs
	}
	return out, nil
}

func flatten(v any, dst []float64, depth int) ([]float64, error) {
	if depth > 8 {
		return nil, errors.New("lists nested too deep")
	}
	switch x := v.(type) {
	case float64:
		return append(dst, x), nil
	case []any:
		for _, e := range x {
			var err error
			if dst, err = flatten(e, dst, depth+1); err != nil {
				return nil, err
			}
		}
		return dst, nil
	}
	return nil, fmt.Errorf("want numbers, got %T", v)
}

// Features lists the features in the stats, sorted.
func (s Stats) Features() []string {
	k := make([]string, 0, len(s))
	for f := range s {
		k = append(k, f)
	}
	sort.Strings(k)
	return k
}

// normEps is LeRobot's epsilon (NormalizerProcessorStep eps=1e-8).
const normEps = 1e-8

// Normalizer maps a feature to and from the model's normalized space as
// LeRobot does: mean_std (x−mean)/(std+eps), min_max 2(x−min)/(max−min)−1,
// quantiles and quantile10 like min_max with q01/q99 or q10/q90; an interval
// of zero width is replaced by eps. Apply and Invert do not allocate.
type Normalizer struct {
	Mode string
	// y = (x − sub) / div ;  x = y·mul + sub' (for min/max-like modes the
	// inverse is (y+1)/2·den + lo, kept in the same form).
	sub, div      []float64
	invMul, invAd []float64
}

// NewNormalizer builds a normalizer of dim elements (one channel value is
// repeated when per is > 1: images normalize each of the 3 channels over
// per = H·W pixels).
func NewNormalizer(mode string, st FeatureStats, dim, per int) (*Normalizer, error) {
	if per < 1 {
		per = 1
	}
	n := &Normalizer{Mode: mode}
	if mode == "" || mode == "identity" {
		return n, nil
	}
	need := func(name string, v []float64) error {
		if len(v)*per != dim {
			return fmt.Errorf("stat %s has %d values, want %d", name, len(v), dim/per)
		}
		return nil
	}
	lohi := func(ln, hn string, lo, hi []float64) error {
		if err := need(ln, lo); err != nil {
			return err
		}
		if err := need(hn, hi); err != nil {
			return err
		}
		n.sub, n.div = make([]float64, dim), make([]float64, dim)
		n.invMul, n.invAd = make([]float64, dim), make([]float64, dim)
		for i := 0; i < dim; i++ {
			l, h := lo[i/per], hi[i/per]
			den := h - l
			if den == 0 {
				den = normEps
			}
			// y = 2(x−l)/den − 1 = (x − (l + den/2)) / (den/2)
			n.sub[i], n.div[i] = l+den/2, den/2
			n.invMul[i], n.invAd[i] = den/2, l+den/2
		}
		return nil
	}
	switch mode {
	case "mean_std":
		if err := need("mean", st.Mean); err != nil {
			return nil, err
		}
		if err := need("std", st.Std); err != nil {
			return nil, err
		}
		n.sub, n.div = make([]float64, dim), make([]float64, dim)
		n.invMul, n.invAd = make([]float64, dim), make([]float64, dim)
		for i := 0; i < dim; i++ {
			n.sub[i], n.div[i] = st.Mean[i/per], st.Std[i/per]+normEps
			n.invMul[i], n.invAd[i] = st.Std[i/per], st.Mean[i/per]
		}
	case "min_max":
		if err := lohi("min", "max", st.Min, st.Max); err != nil {
			return nil, err
		}
	case "quantiles":
		if err := lohi("q01", "q99", st.Q01, st.Q99); err != nil {
			return nil, err
		}
	case "quantile10":
		if err := lohi("q10", "q90", st.Q10, st.Q90); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown normalization mode %q", mode)
	}
	for i := range n.div {
		if n.div[i] == 0 || math.IsNaN(n.div[i]) || math.IsInf(n.div[i], 0) {
			return nil, fmt.Errorf("element %d: statistics give a zero or non-finite scale", i)
		}
	}
	return n, nil
}

// Identity reports whether the normalizer leaves values unchanged.
func (n *Normalizer) Identity() bool { return n == nil || n.sub == nil }

// Apply normalizes element i.
func (n *Normalizer) Apply(i int, x float64) float64 {
	if n.Identity() {
		return x
	}
	return (x - n.sub[i]) / n.div[i]
}

// Invert maps element i back from the normalized space.
func (n *Normalizer) Invert(i int, y float64) float64 {
	if n.Identity() {
		return y
	}
	return y*n.invMul[i] + n.invAd[i]
}
