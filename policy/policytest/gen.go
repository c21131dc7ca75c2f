package policytest

import (
	"math"
	"math/rand/v2"

	"github.com/anther-robotics/anther/policy/onnx"
)

// weights returns n deterministic pseudo-random values in [−scale, scale].
func weights(r *rand.Rand, n int, scale float64) []float32 {
	w := make([]float32, n)
	for i := range w {
		w[i] = float32((2*r.Float64() - 1) * scale)
	}
	return w
}

func model(g onnx.Graph, meta ...onnx.Property) *onnx.Model {
	return &onnx.Model{IRVersion: 8, ProducerName: "anther-policytest", Opsets: []onnx.Opset{{Version: 17}},
		Graph: g, Metadata: meta}
}

func node(op, name string, in []string, out string, attrs ...onnx.Attribute) onnx.Node {
	return onnx.Node{Name: name, OpType: op, Inputs: in, Outputs: []string{out}, Attrs: attrs}
}

// MLP makes a Gemm–Tanh–Gemm network from input [1,in] to output [1,out]
// with weights drawn from seed (the shape of the exported locomotion
// policies, with Tanh for Elu).
func MLP(inName, outName string, in, hidden, out int, seed uint64) *onnx.Model {
	r := rand.New(rand.NewPCG(seed, 1))
	g := onnx.Graph{Name: "mlp",
		Inputs:  []onnx.ValueInfo{onnx.FloatInput(inName, 1, int64(in))},
		Outputs: []onnx.ValueInfo{onnx.FloatInput(outName, 1, int64(out))},
		Initializers: []onnx.Tensor{
			onnx.FloatTensor("w0", []int64{int64(hidden), int64(in)}, weights(r, hidden*in, 1/math.Sqrt(float64(in)))),
			onnx.FloatTensor("b0", []int64{int64(hidden)}, weights(r, hidden, 0.1)),
			onnx.FloatTensor("w1", []int64{int64(out), int64(hidden)}, weights(r, out*hidden, 1/math.Sqrt(float64(hidden)))),
			onnx.FloatTensor("b1", []int64{int64(out)}, weights(r, out, 0.1)),
		},
		Nodes: []onnx.Node{
			node("Gemm", "gemm0", []string{inName, "w0", "b0"}, "h0", onnx.Attribute{Name: "transB", Type: onnx.AttrInt, I: 1}),
			node("Tanh", "tanh0", []string{"h0"}, "a0"),
			node("Gemm", "gemm1", []string{"a0", "w1", "b1"}, outName, onnx.Attribute{Name: "transB", Type: onnx.AttrInt, I: 1}),
		},
	}
	return model(g)
}

// NaNModel is an MLP whose output bias holds a NaN: every output is NaN.
func NaNModel(inName, outName string, in, out int) *onnx.Model {
	m := MLP(inName, outName, in, 8, out, 7)
	b := m.Graph.Initializer("b1")
	b.Floats[0] = float32(math.NaN())
	// Spread the NaN to every output through a matrix of ones.
	m.Graph.Nodes[2].Outputs[0] = "pre"
	m.Graph.Initializers = append(m.Graph.Initializers,
		onnx.FloatTensor("ones", []int64{int64(out), int64(out)}, ones(out*out)))
	m.Graph.Nodes = append(m.Graph.Nodes, node("MatMul", "spread", []string{"pre", "ones"}, outName))
	return m
}

func ones(n int) []float32 {
	o := make([]float32, n)
	for i := range o {
		o[i] = 1
	}
	return o
}

// ACTConfig sizes an ACT-style model.
type ACTConfig struct {
	State     int    // observation.state size
	Action    int    // action size
	Chunk     int    // actions per chunk
	Hidden    int    // hidden width
	Camera    string // "" for no image input; else observation.images.<Camera>
	W, H      int    // image size
	Seed      uint64
	BatchDim  bool // output [1, chunk, action] instead of [chunk, action]
	OutputRaw bool // (unused) reserved
}

// ACT makes a tiny ACT-style imitation policy: inputs observation.state
// [1,S] (and observation.images.<cam> [1,3,H,W]), output action [chunk, A]:
//
//	h = tanh(state·Ws + flatten(image)·Wi + b);  action = reshape(h·Wo + bo)
//
// built only from MatMul, Add, Tanh, Flatten and Reshape.
func ACT(c ACTConfig) *onnx.Model {
	r := rand.New(rand.NewPCG(c.Seed, 2))
	S, A, C, Hd := int64(c.State), int64(c.Action), int64(c.Chunk), int64(c.Hidden)
	outShape := []int64{C, A}
	if c.BatchDim {
		outShape = []int64{1, C, A}
	}
	g := onnx.Graph{Name: "act",
		Inputs:  []onnx.ValueInfo{onnx.FloatInput("observation.state", 1, S)},
		Outputs: []onnx.ValueInfo{onnx.FloatInput("action", outShape...)},
		Initializers: []onnx.Tensor{
			onnx.FloatTensor("ws", []int64{S, Hd}, weights(r, int(S*Hd), 1/math.Sqrt(float64(S)))),
			onnx.FloatTensor("b", []int64{Hd}, weights(r, int(Hd), 0.1)),
			onnx.FloatTensor("wo", []int64{Hd, C * A}, weights(r, int(Hd*C*A), 1/math.Sqrt(float64(Hd)))),
			onnx.FloatTensor("bo", []int64{C * A}, weights(r, int(C*A), 0.1)),
			onnx.Int64Tensor("shape", []int64{int64(len(outShape))}, outShape),
		},
	}
	g.Nodes = append(g.Nodes, node("MatMul", "state_proj", []string{"observation.state", "ws"}, "hs"))
	pre := "hs"
	if c.Camera != "" {
		img := "observation.images." + c.Camera
		P := int64(3 * c.W * c.H)
		g.Inputs = append(g.Inputs, onnx.FloatInput(img, 1, 3, int64(c.H), int64(c.W)))
		g.Initializers = append(g.Initializers, onnx.FloatTensor("wi", []int64{P, Hd}, weights(r, int(P*Hd), 1/math.Sqrt(float64(P)))))
		g.Nodes = append(g.Nodes,
			node("Flatten", "flat", []string{img}, "flat", onnx.Attribute{Name: "axis", Type: onnx.AttrInt, I: 1}),
			node("MatMul", "img_proj", []string{"flat", "wi"}, "hi"),
			node("Add", "mix", []string{"hs", "hi"}, "hsi"))
		pre = "hsi"
	}
	g.Nodes = append(g.Nodes,
		node("Add", "bias", []string{pre, "b"}, "hb"),
		node("Tanh", "act", []string{"hb"}, "h"),
		node("MatMul", "head", []string{"h", "wo"}, "o"),
		node("Add", "head_bias", []string{"o", "bo"}, "ob"),
		node("Reshape", "chunk", []string{"ob", "shape"}, "action"))
	return model(g)
}

// Recurrent makes a kinfer-style step graph and its init graph. The step
// takes obs [1,D] and carry [1,K] and gives action [1,A] and carry_out
// [1,K]:
//
//	h = tanh(obs·W1 + carry·W2 + b);  action = h·W3;  carry_out = h
//
// The init graph has no inputs and outputs carry [1,K] (a fixed vector).
func Recurrent(D, K, A int, seed uint64) (step, init *onnx.Model) {
	r := rand.New(rand.NewPCG(seed, 3))
	d, k, a := int64(D), int64(K), int64(A)
	g := onnx.Graph{Name: "step",
		Inputs:  []onnx.ValueInfo{onnx.FloatInput("obs", 1, d), onnx.FloatInput("carry", 1, k)},
		Outputs: []onnx.ValueInfo{onnx.FloatInput("action", 1, a), onnx.FloatInput("carry_out", 1, k)},
		Initializers: []onnx.Tensor{
			onnx.FloatTensor("w1", []int64{d, k}, weights(r, D*K, 1/math.Sqrt(float64(D)))),
			onnx.FloatTensor("w2", []int64{k, k}, weights(r, K*K, 1/math.Sqrt(float64(K)))),
			onnx.FloatTensor("b", []int64{k}, weights(r, K, 0.1)),
			onnx.FloatTensor("w3", []int64{k, a}, weights(r, K*A, 1/math.Sqrt(float64(K)))),
		},
		Nodes: []onnx.Node{
			node("MatMul", "in", []string{"obs", "w1"}, "x1"),
			node("MatMul", "rec", []string{"carry", "w2"}, "x2"),
			node("Add", "sum", []string{"x1", "x2"}, "x3"),
			node("Add", "bias", []string{"x3", "b"}, "x4"),
			node("Tanh", "h", []string{"x4"}, "h"),
			node("MatMul", "out", []string{"h", "w3"}, "action"),
			node("Identity", "carry", []string{"h"}, "carry_out"),
		},
	}
	ig := onnx.Graph{Name: "init",
		Outputs:      []onnx.ValueInfo{onnx.FloatInput("carry", 1, k)},
		Initializers: []onnx.Tensor{onnx.FloatTensor("c0", []int64{1, k}, weights(r, K, 0.5))},
		Nodes:        []onnx.Node{node("Identity", "init", []string{"c0"}, "carry")},
	}
	return model(g), model(ig)
}
