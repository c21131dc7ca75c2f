package onnx_test

import (
	"fmt"

	"github.com/anther-robotics/anther/policy/onnx"
)

// Build a one-node model, write it, and read it back.
func ExampleDecode() {
	m := &onnx.Model{IRVersion: 8, Opsets: []onnx.Opset{{Version: 17}},
		Metadata: []onnx.Property{{Key: "dof_names", Value: `["knee"]`}},
		Graph: onnx.Graph{
			Inputs:  []onnx.ValueInfo{onnx.FloatInput("obs", 1, 3)},
			Outputs: []onnx.ValueInfo{onnx.FloatInput("act", 1, 3)},
			Nodes:   []onnx.Node{{OpType: "Tanh", Inputs: []string{"obs"}, Outputs: []string{"act"}}},
		}}
	back, err := onnx.Decode(m.Marshal())
	if err != nil {
		fmt.Println(err)
		return
	}
	in := back.Graph.RealInputs()[0]
	names, _ := back.Meta("dof_names")
	fmt.Println(in.Name, onnx.ShapeString(in.Shape), back.Graph.Nodes[0].OpType, names)
	// Output: obs [1,3] Tanh ["knee"]
}
