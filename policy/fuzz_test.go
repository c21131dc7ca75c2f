package policy_test

import (
	"bytes"
	"testing"

	"github.com/anther-robotics/anther/policy"
)

// Seed corpora live in testdata/fuzz/<Name>/; these add a few inline.

func FuzzParseSpec(f *testing.F) {
	f.Add([]byte(goodSpec))
	f.Add([]byte("policy_dt: 0.02\nnum_observations: 12\nnum_actions: 1\njoints: [a]\ndefault_joint_positions: [0]\naction_scale: 0.25\n"))
	f.Add([]byte("rate: 50\njoints: [a]\ninputs: [{terms: [{kind: image, camera: c, width: 2, height: 2}]}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := policy.ParseSpec("fuzz.yaml", ".", data)
		if err != nil {
			return
		}
		// A spec that parses is usable: every input has a size, and
		// describing it does not panic.
		for i := range s.Inputs {
			if s.Inputs[i].FrameDim(s) < 0 || s.Inputs[i].History < 1 {
				t.Fatalf("input %d: bad sizes", i)
			}
		}
		_ = s.Describe()
		if s.Rate <= 0 || len(s.Joints) == 0 {
			t.Fatalf("accepted rate %g with %d joints", s.Rate, len(s.Joints))
		}
	})
}

func FuzzParseStats(f *testing.F) {
	f.Add([]byte(`{"action": {"mean": [1, 2], "std": [[0.5], [0.25]], "count": [3]}}`))
	f.Add([]byte(`{"observation.images.c": {"mean": [[[0.5]], [[0.4]], [[0.3]]]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := policy.ParseStats(data)
		if err != nil {
			return
		}
		for _, fs := range st {
			n := len(fs.Mean)
			if n == 0 || len(fs.Std) != n {
				continue
			}
			if nz, err := policy.NewNormalizer("mean_std", fs, n, 1); err == nil {
				_ = nz.Apply(n-1, 1)
			}
		}
	})
}

func FuzzDecodeTensorsJSON(f *testing.F) {
	f.Add([]byte(`{"inputs": {"obs": [[0.5, -1, 2]]}}`))
	f.Add([]byte(`{"inputs": {"img": [[[[1, 2], [3, 4]]]], "s": 3}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, err := policy.DecodeTensorsJSON(data)
		if err != nil {
			return
		}
		var list []*policy.Tensor
		for _, x := range ts {
			list = append(list, x)
		}
		out, err := policy.EncodeTensorsJSON(list)
		if err != nil {
			t.Fatalf("decoded tensors do not encode: %v", err)
		}
		back, err := policy.DecodeTensorsJSON(bytes.Replace(out, []byte(`"outputs"`), []byte(`"inputs"`), 1))
		if err != nil {
			if bytes.Contains(out, []byte("null")) {
				return // NaN/Inf from overflowing numbers
			}
			t.Fatalf("re-decoding %s: %v", out, err)
		}
		for name, x := range ts {
			if len(back[name].Data) != len(x.Data) || policy.ShapeString(back[name].Shape) != policy.ShapeString(x.Shape) {
				t.Fatalf("%s: shape changed", name)
			}
		}
	})
}

func TestTensorsJSON(t *testing.T) {
	ts, err := policy.DecodeTensorsJSON([]byte(`{"inputs": {"obs": [[1, 2, 3], [4, 5, 6]], "s": 7}}`))
	if err != nil {
		t.Fatal(err)
	}
	if o := ts["obs"]; policy.ShapeString(o.Shape) != "[2,3]" || o.Data[5] != 6 || policy.ShapeString(ts["s"].Shape) != "[]" {
		t.Fatalf("%+v %+v", ts["obs"], ts["s"])
	}
	for _, bad := range []string{`{"inputs": {"x": [[1, 2], [3]]}}`, `{"inputs": {}}`, `{"inputs": {"x": []}}`, `{"inputs": {"x": ["a"]}}`, `{"outputs": {}}`} {
		if _, err := policy.DecodeTensorsJSON([]byte(bad)); err == nil {
			t.Fatalf("%s accepted", bad)
		}
	}
	out, err := policy.EncodeTensorsJSON([]*policy.Tensor{{Name: "a", Shape: []int64{2, 2}, Data: []float32{1, 2.5, -3, 4}}})
	if err != nil || string(out) != "{\"outputs\": {\n  \"a\": [[1, 2.5], [-3, 4]]\n}}\n" {
		t.Fatalf("%q %v", out, err)
	}
}
