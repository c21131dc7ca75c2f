package policytest

import (
	"testing"

	"github.com/anther-robotics/anther/policy/onnx"
)

func TestEvalOperators(t *testing.T) {
	m := &onnx.Model{IRVersion: 8, Graph: onnx.Graph{
		Inputs:  []onnx.ValueInfo{onnx.FloatInput("x", 1, 2)},
		Outputs: []onnx.ValueInfo{onnx.FloatInput("y", 1, 2)},
		Initializers: []onnx.Tensor{
			onnx.FloatTensor("w", []int64{2, 2}, []float32{1, 2, 3, 4}), // used transposed
			onnx.FloatTensor("b", []int64{2}, []float32{0.5, -0.5}),
		},
		Nodes: []onnx.Node{
			{OpType: "Gemm", Inputs: []string{"x", "w", "b"}, Outputs: []string{"g"},
				Attrs: []onnx.Attribute{{Name: "transB", Type: onnx.AttrInt, I: 1}, {Name: "alpha", Type: onnx.AttrFloat, F: 2}}},
			{OpType: "Elu", Inputs: []string{"g"}, Outputs: []string{"y"}},
		}}}
	out, err := Eval(m, map[string]T{"x": {Shape: []int64{1, 2}, Data: []float64{1, -1}}})
	if err != nil {
		t.Fatal(err)
	}
	// x·wᵀ = [1−2, 3−4] = [−1, −1]; ×2 + b = [−1.5, −2.5]; elu.
	y := out["y"].Data
	if len(y) != 2 || y[0] > -0.77 || y[0] < -0.78 || y[1] > -0.91 || y[1] < -0.92 {
		t.Fatalf("y = %v", y)
	}
	if _, err := broadcast(T{Shape: []int64{2, 3}, Data: make([]float64, 6)}, T{Shape: []int64{2}, Data: []float64{1, 2}},
		func(a, b float64) float64 { return a + b }); err == nil {
		t.Fatal("broadcast [2,3] with [2] accepted")
	}
}
