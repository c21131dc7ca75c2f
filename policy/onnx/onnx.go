// Package onnx reads and writes the parts of the ONNX model format
// (onnx.proto, protobuf wire format) that anther needs without ONNX Runtime:
// the graph's inputs and outputs with their shapes, metadata_props (where
// exporters such as holosoma keep joint names and gains), nodes with their
// attributes, and initializers (weights). It is pure Go, allocation-heavy and
// meant for load time, never for the control loop.
//
// Decode is hardened against arbitrary input (it is fuzzed): it never panics,
// bounds its recursion, and refuses data it cannot represent. Marshal writes
// the same subset back, which tests and tools use to build small models.
package onnx

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrNotONNX is wrapped by Decode errors for data that is not a readable ONNX
// model.
var ErrNotONNX = errors.New("onnx: not an ONNX model")

// Tensor element types (TensorProto.DataType).
const (
	Float  int32 = 1
	Uint8  int32 = 2
	Int8   int32 = 3
	Int32  int32 = 6
	Int64  int32 = 7
	String int32 = 8
	Bool   int32 = 9
	Double int32 = 11
)

// TypeName names an element type as ONNX does ("float", "int64", ...).
func TypeName(t int32) string {
	names := map[int32]string{0: "undefined", 1: "float", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16",
		6: "int32", 7: "int64", 8: "string", 9: "bool", 10: "float16", 11: "double", 12: "uint32",
		13: "uint64", 14: "complex64", 15: "complex128", 16: "bfloat16"}
	if n, ok := names[t]; ok {
		return n
	}
	return fmt.Sprintf("type%d", t)
}

// Model is an ONNX ModelProto (the subset anther uses).
type Model struct {
	IRVersion       int64
	ProducerName    string
	ProducerVersion string
	Domain          string
	ModelVersion    int64
	DocString       string
	Opsets          []Opset
	Metadata        []Property // metadata_props, in file order
	Graph           Graph
}

// Opset is one operator set the model imports.
type Opset struct {
	Domain  string // "" is the default ONNX domain
	Version int64
}

// Property is one metadata_props entry.
type Property struct {
	Key, Value string
}

// Graph is a GraphProto.
type Graph struct {
	Name         string
	Nodes        []Node
	Initializers []Tensor
	Inputs       []ValueInfo // includes initializers in old (IR < 4) models
	Outputs      []ValueInfo
	ValueInfo    []ValueInfo
	DocString    string
}

// Node is a NodeProto: one operator application.
type Node struct {
	Name    string
	OpType  string
	Domain  string
	Inputs  []string
	Outputs []string
	Attrs   []Attribute
}

// Attribute is an AttributeProto. Type says which field holds the value.
type Attribute struct {
	Name    string
	Type    int32 // 1 float, 2 int, 3 string, 4 tensor, 5 graph, 6 floats, 7 ints, 8 strings
	F       float32
	I       int64
	S       []byte
	T       *Tensor
	G       *Graph
	Floats  []float32
	Ints    []int64
	Strings [][]byte
}

// Attribute types.
const (
	AttrFloat   int32 = 1
	AttrInt     int32 = 2
	AttrString  int32 = 3
	AttrTensor  int32 = 4
	AttrGraph   int32 = 5
	AttrFloats  int32 = 6
	AttrInts    int32 = 7
	AttrStrings int32 = 8
)

// Tensor is a TensorProto with its data decoded: float tensors fill Floats
// (from float_data or raw_data), integer ones Int64s (int32, int64, uint8,
// int8, bool), double ones Doubles. Raw keeps raw_data as stored.
type Tensor struct {
	Name     string
	Dims     []int64
	DataType int32
	Floats   []float32
	Int64s   []int64
	Doubles  []float64
	Raw      []byte
	External bool // data lives in an external file (not supported for reading values)
}

// NumElements is the product of the dimensions (1 for a scalar), or -1 if a
// dimension is negative or the product overflows.
func (t *Tensor) NumElements() int64 {
	return numElements(t.Dims)
}

func numElements(dims []int64) int64 {
	n := int64(1)
	for _, d := range dims {
		if d < 0 {
			return -1
		}
		if d != 0 && n > (1<<62)/d {
			return -1
		}
		n *= d
	}
	return n
}

// ValueInfo is a graph input or output: its name, element type and shape.
type ValueInfo struct {
	Name     string
	ElemType int32 // 0 when the type is not a tensor or is unknown
	Shape    []Dim // nil when unknown
	HasShape bool
}

// Dim is one dimension of a ValueInfo's shape: a fixed size (Value ≥ 0), a
// named symbolic size (Param, e.g. "batch"), or unknown (Value -1, Param "").
type Dim struct {
	Value int64
	Param string
}

// String renders the dimension: its size, its parameter name, or "?".
func (d Dim) String() string {
	switch {
	case d.Param != "":
		return d.Param
	case d.Value >= 0:
		return fmt.Sprint(d.Value)
	}
	return "?"
}

// ShapeString renders a shape as "[1,100]" or "[batch,100]".
func ShapeString(dims []Dim) string {
	parts := make([]string, len(dims))
	for i, d := range dims {
		parts[i] = d.String()
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// Dims returns the fixed sizes of the shape, with -1 for symbolic or unknown
// dimensions.
func (v *ValueInfo) Dims() []int64 {
	out := make([]int64, len(v.Shape))
	for i, d := range v.Shape {
		if d.Param != "" || d.Value < 0 {
			out[i] = -1
		} else {
			out[i] = d.Value
		}
	}
	return out
}

// Meta returns the metadata_props value for key.
func (m *Model) Meta(key string) (string, bool) {
	for _, p := range m.Metadata {
		if p.Key == key {
			return p.Value, true
		}
	}
	return "", false
}

// MetaMap returns metadata_props as a map (later duplicates win).
func (m *Model) MetaMap() map[string]string {
	out := make(map[string]string, len(m.Metadata))
	for _, p := range m.Metadata {
		out[p.Key] = p.Value
	}
	return out
}

// MetaKeys lists the metadata keys, sorted.
func (m *Model) MetaKeys() []string {
	keys := make([]string, 0, len(m.Metadata))
	for _, p := range m.Metadata {
		keys = append(keys, p.Key)
	}
	sort.Strings(keys)
	return keys
}

// Opset returns the version of the default ONNX operator set (0 if absent).
func (m *Model) Opset() int64 {
	for _, o := range m.Opsets {
		if o.Domain == "" || o.Domain == "ai.onnx" {
			return o.Version
		}
	}
	return 0
}

// Initializer returns the initializer called name, or nil.
func (g *Graph) Initializer(name string) *Tensor {
	for i := range g.Initializers {
		if g.Initializers[i].Name == name {
			return &g.Initializers[i]
		}
	}
	return nil
}

// RealInputs are the graph inputs that are not initializers (old exporters
// list weights as inputs too).
func (g *Graph) RealInputs() []ValueInfo {
	init := make(map[string]bool, len(g.Initializers))
	for _, t := range g.Initializers {
		init[t.Name] = true
	}
	var out []ValueInfo
	for _, in := range g.Inputs {
		if !init[in.Name] {
			out = append(out, in)
		}
	}
	return out
}

// Attr returns the node's attribute called name, or nil.
func (n *Node) Attr(name string) *Attribute {
	for i := range n.Attrs {
		if n.Attrs[i].Name == name {
			return &n.Attrs[i]
		}
	}
	return nil
}

// AttrFloat returns a float attribute, or def when absent.
func (n *Node) AttrFloat(name string, def float32) float32 {
	if a := n.Attr(name); a != nil && a.Type == AttrFloat {
		return a.F
	}
	return def
}

// AttrInt returns an int attribute, or def when absent.
func (n *Node) AttrInt(name string, def int64) int64 {
	if a := n.Attr(name); a != nil && a.Type == AttrInt {
		return a.I
	}
	return def
}
