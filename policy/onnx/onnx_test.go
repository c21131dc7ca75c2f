package onnx_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/anther-robotics/anther/policy/onnx"
)

func tiny() *onnx.Model {
	return &onnx.Model{IRVersion: 8, ProducerName: "test", ProducerVersion: "1", Opsets: []onnx.Opset{{Version: 17}},
		Metadata: []onnx.Property{{Key: "dof_names", Value: `["a"]`}, {Key: "kp", Value: "[1]"}},
		Graph: onnx.Graph{Name: "g",
			Inputs:  []onnx.ValueInfo{onnx.FloatInput("x", -1, 2)},
			Outputs: []onnx.ValueInfo{onnx.FloatInput("y", -1, 1)},
			Initializers: []onnx.Tensor{
				onnx.FloatTensor("w", []int64{1, 2}, []float32{0.5, -2}),
				onnx.Int64Tensor("shape", []int64{2}, []int64{-1, 1}),
			},
			Nodes: []onnx.Node{{Name: "mm", OpType: "Gemm", Inputs: []string{"x", "w"}, Outputs: []string{"y"}, Attrs: []onnx.Attribute{
				{Name: "transB", Type: onnx.AttrInt, I: 1}, {Name: "alpha", Type: onnx.AttrFloat, F: 0.5},
				{Name: "ints", Type: onnx.AttrInts, Ints: []int64{1, -2, 3}}, {Name: "fs", Type: onnx.AttrFloats, Floats: []float32{1.5}},
				{Name: "s", Type: onnx.AttrString, S: []byte("hi")}}}}}}
}

func TestRoundTrip(t *testing.T) {
	m, err := onnx.Decode(tiny().Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if m.IRVersion != 8 || m.Opset() != 17 || m.ProducerName != "test" || m.Graph.Name != "g" {
		t.Fatalf("%+v", m)
	}
	if v, _ := m.Meta("kp"); v != "[1]" || len(m.MetaKeys()) != 2 {
		t.Fatalf("metadata %+v", m.Metadata)
	}
	in := m.Graph.RealInputs()
	if len(in) != 1 || onnx.ShapeString(in[0].Shape) != "[N,2]" || in[0].Dims()[0] != -1 || in[0].ElemType != onnx.Float {
		t.Fatalf("inputs %+v", in)
	}
	w := m.Graph.Initializer("w")
	if w == nil || w.Floats[1] != -2 || m.Graph.Initializer("shape").Int64s[0] != -1 {
		t.Fatalf("initializers %+v", m.Graph.Initializers)
	}
	n := m.Graph.Nodes[0]
	if n.AttrInt("transB", 0) != 1 || n.AttrFloat("alpha", 1) != 0.5 || n.Attr("ints").Ints[1] != -2 ||
		n.Attr("fs").Floats[0] != 1.5 || string(n.Attr("s").S) != "hi" || n.AttrInt("missing", 7) != 7 {
		t.Fatalf("attributes %+v", n.Attrs)
	}
}

func TestDecodeErrors(t *testing.T) {
	good := tiny().Marshal()
	noOut := tiny()
	noOut.Graph.Outputs = nil
	badRaw := tiny()
	badRaw.Graph.Initializers[0].Raw = []byte{1, 2, 3}
	for name, data := range map[string][]byte{
		"empty":        nil,
		"text":         []byte("hello, this is not a model"),
		"truncated":    good[:len(good)/2],
		"no outputs":   noOut.Marshal(),
		"raw mismatch": badRaw.Marshal(),
	} {
		if _, err := onnx.Decode(data); err == nil || !errors.Is(err, onnx.ErrNotONNX) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// The shared real policies decode, with their documented inputs and metadata.
func TestSharedModels(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "testdata", "policies")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared test data absent (%s, i.e. ../shared/testdata from the repo root): %v", dir, err)
	}
	for file, want := range map[string]string{
		"holosoma_ppo_g1_29dof.onnx": "actor_obs[1,100]", "bhl_policy_humanoid.onnx": "obs[1,75]", "bhl_policy_biped_50hz.onnx": "obs[1,45]"} {
		data, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		m, err := onnx.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		in := m.Graph.RealInputs()[0]
		if got := in.Name + onnx.ShapeString(in.Shape); got != want {
			t.Errorf("%s: input %s, want %s", file, got, want)
		}
		if _, err := onnx.Decode(m.Marshal()); err != nil {
			t.Errorf("%s: re-encoded model does not decode: %v", file, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(tiny().Marshal())
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := onnx.Decode(data)
		if err != nil {
			return
		}
		m2, err := onnx.Decode(m.Marshal())
		if err != nil {
			t.Fatalf("a decoded model does not survive Marshal: %v", err)
		}
		if len(m2.Graph.Nodes) != len(m.Graph.Nodes) || len(m2.Graph.Outputs) != len(m.Graph.Outputs) ||
			len(m2.Metadata) != len(m.Metadata) {
			t.Fatal("Marshal lost parts of the model")
		}
	})
}
