// Package policytest helps test policies without trusting the code under
// test: a plain-Go evaluator for small ONNX graphs (Gemm, MatMul, Add, Elu,
// Tanh, ... in float64) that reads the weights straight from the protobuf,
// generators for tiny models (MLP, ACT-style chunked, recurrent, NaN), the
// observation layouts of the shared real policies written out by hand, and
// a policy.Session backed by the evaluator. Production code never imports it.
package policytest

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/anther-robotics/anther/policy"
	"github.com/anther-robotics/anther/policy/onnx"
)

// T is a float64 tensor.
type T struct {
	Shape []int64
	Data  []float64
}

func size(shape []int64) int {
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	return n
}

// Eval runs the graph of m on the inputs in float64 and returns every value
// it computed (graph outputs included), by name. It supports the operators
// small policies use: Gemm, MatMul, Add, Sub, Mul, Elu, Relu, Tanh, Sigmoid,
// Identity, Flatten, Reshape, Constant.
func Eval(m *onnx.Model, inputs map[string]T) (map[string]T, error) {
	vals := map[string]T{}
	for _, t := range m.Graph.Initializers {
		switch {
		case t.Floats != nil || t.DataType == onnx.Float:
			d := make([]float64, len(t.Floats))
			for i, f := range t.Floats {
				d[i] = float64(f)
			}
			vals[t.Name] = T{Shape: t.Dims, Data: d}
		case t.Int64s != nil:
			d := make([]float64, len(t.Int64s))
			for i, v := range t.Int64s {
				d[i] = float64(v)
			}
			vals[t.Name] = T{Shape: t.Dims, Data: d}
		}
	}
	for k, v := range inputs {
		vals[k] = v
	}
	for _, n := range m.Graph.Nodes {
		in := make([]T, len(n.Inputs))
		for i, name := range n.Inputs {
			if name == "" {
				continue
			}
			v, ok := vals[name]
			if !ok {
				return nil, fmt.Errorf("policytest: node %s (%s): no value %q", n.Name, n.OpType, name)
			}
			in[i] = v
		}
		out, err := op(&n, in)
		if err != nil {
			return nil, fmt.Errorf("policytest: node %s (%s): %w", n.Name, n.OpType, err)
		}
		vals[n.Outputs[0]] = out
	}
	for _, o := range m.Graph.Outputs {
		if _, ok := vals[o.Name]; !ok {
			return nil, fmt.Errorf("policytest: output %q not computed", o.Name)
		}
	}
	return vals, nil
}

func unary(x T, f func(float64) float64) T {
	y := T{Shape: x.Shape, Data: make([]float64, len(x.Data))}
	for i, v := range x.Data {
		y.Data[i] = f(v)
	}
	return y
}

func op(n *onnx.Node, in []T) (T, error) {
	switch n.OpType {
	case "Gemm":
		return gemm(in, float64(n.AttrFloat("alpha", 1)), float64(n.AttrFloat("beta", 1)),
			n.AttrInt("transA", 0) != 0, n.AttrInt("transB", 0) != 0)
	case "MatMul":
		return matmul(in[0], in[1])
	case "Add":
		return broadcast(in[0], in[1], func(a, b float64) float64 { return a + b })
	case "Sub":
		return broadcast(in[0], in[1], func(a, b float64) float64 { return a - b })
	case "Mul":
		return broadcast(in[0], in[1], func(a, b float64) float64 { return a * b })
	case "Elu":
		alpha := float64(n.AttrFloat("alpha", 1))
		return unary(in[0], func(v float64) float64 {
			if v > 0 {
				return v
			}
			return alpha * (math.Exp(v) - 1)
		}), nil
	case "Relu":
		return unary(in[0], func(v float64) float64 { return max(v, 0) }), nil
	case "Tanh":
		return unary(in[0], math.Tanh), nil
	case "Sigmoid":
		return unary(in[0], func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }), nil
	case "Identity":
		return in[0], nil
	case "Flatten":
		axis := int(n.AttrInt("axis", 1))
		x := in[0]
		a, b := int64(1), int64(1)
		for i, d := range x.Shape {
			if i < axis {
				a *= d
			} else {
				b *= d
			}
		}
		return T{Shape: []int64{a, b}, Data: x.Data}, nil
	case "Reshape":
		shape := make([]int64, len(in[1].Data))
		known, neg := int64(1), -1
		for i, v := range in[1].Data {
			shape[i] = int64(v)
			switch {
			case shape[i] == 0:
				shape[i] = in[0].Shape[i]
				known *= shape[i]
			case shape[i] < 0:
				neg = i
			default:
				known *= shape[i]
			}
		}
		if neg >= 0 {
			shape[neg] = int64(len(in[0].Data)) / known
		}
		if size(shape) != len(in[0].Data) {
			return T{}, fmt.Errorf("reshape %v to %v", in[0].Shape, shape)
		}
		return T{Shape: shape, Data: in[0].Data}, nil
	case "Constant":
		a := n.Attr("value")
		if a == nil || a.T == nil {
			return T{}, errors.New("constant without a tensor value")
		}
		d := make([]float64, len(a.T.Floats))
		for i, f := range a.T.Floats {
			d[i] = float64(f)
		}
		return T{Shape: a.T.Dims, Data: d}, nil
	}
	return T{}, fmt.Errorf("operator %s is not supported by the reference evaluator", n.OpType)
}

func gemm(in []T, alpha, beta float64, ta, tb bool) (T, error) {
	a, b := in[0], in[1]
	if len(a.Shape) != 2 || len(b.Shape) != 2 {
		return T{}, fmt.Errorf("gemm wants 2-D operands, got %v and %v", a.Shape, b.Shape)
	}
	M, K := int(a.Shape[0]), int(a.Shape[1])
	if ta {
		M, K = K, M
	}
	K2, N := int(b.Shape[0]), int(b.Shape[1])
	if tb {
		K2, N = N, K2
	}
	if K != K2 {
		return T{}, fmt.Errorf("gemm inner sizes %d and %d differ", K, K2)
	}
	at := func(i, k int) float64 {
		if ta {
			return a.Data[k*M+i]
		}
		return a.Data[i*K+k]
	}
	bt := func(k, j int) float64 {
		if tb {
			return b.Data[j*K+k]
		}
		return b.Data[k*N+j]
	}
	y := T{Shape: []int64{int64(M), int64(N)}, Data: make([]float64, M*N)}
	for i := 0; i < M; i++ {
		for j := 0; j < N; j++ {
			s := 0.0
			for k := 0; k < K; k++ {
				s += at(i, k) * bt(k, j)
			}
			y.Data[i*N+j] = alpha * s
		}
	}
	if len(in) > 2 && in[2].Data != nil {
		c, err := broadcast(T{Shape: y.Shape, Data: make([]float64, M*N)}, in[2], func(_, c float64) float64 { return c })
		if err != nil {
			return T{}, err
		}
		for i := range y.Data {
			y.Data[i] += beta * c.Data[i]
		}
	}
	return y, nil
}

func matmul(a, b T) (T, error) {
	if len(b.Shape) != 2 || len(a.Shape) < 2 {
		return T{}, fmt.Errorf("matmul supports [...,M,K]×[K,N], got %v × %v", a.Shape, b.Shape)
	}
	K, N := int(b.Shape[0]), int(b.Shape[1])
	if int(a.Shape[len(a.Shape)-1]) != K {
		return T{}, fmt.Errorf("matmul inner sizes differ: %v × %v", a.Shape, b.Shape)
	}
	M := len(a.Data) / K
	shape := slices.Clone(a.Shape)
	shape[len(shape)-1] = int64(N)
	y := T{Shape: shape, Data: make([]float64, M*N)}
	for i := 0; i < M; i++ {
		for j := 0; j < N; j++ {
			s := 0.0
			for k := 0; k < K; k++ {
				s += a.Data[i*K+k] * b.Data[k*N+j]
			}
			y.Data[i*N+j] = s
		}
	}
	return y, nil
}

// broadcast applies f elementwise with numpy broadcasting.
func broadcast(a, b T, f func(a, b float64) float64) (T, error) {
	n := max(len(a.Shape), len(b.Shape))
	pad := func(s []int64) []int64 {
		out := make([]int64, n)
		for i := range out {
			out[i] = 1
		}
		copy(out[n-len(s):], s)
		return out
	}
	as, bs := pad(a.Shape), pad(b.Shape)
	shape := make([]int64, n)
	for i := range shape {
		switch {
		case as[i] == bs[i] || bs[i] == 1:
			shape[i] = as[i]
		case as[i] == 1:
			shape[i] = bs[i]
		default:
			return T{}, fmt.Errorf("cannot broadcast %v with %v", a.Shape, b.Shape)
		}
	}
	y := T{Shape: shape, Data: make([]float64, size(shape))}
	idx := make([]int64, n)
	for k := range y.Data {
		r := int64(k)
		for i := n - 1; i >= 0; i-- {
			idx[i] = r % shape[i]
			r /= shape[i]
		}
		ai, bi := int64(0), int64(0)
		for i := 0; i < n; i++ {
			ai = ai*as[i] + min(idx[i], as[i]-1)
			bi = bi*bs[i] + min(idx[i], bs[i]-1)
		}
		y.Data[k] = f(a.Data[ai], b.Data[bi])
	}
	return y, nil
}

// Session is a policy.Session backed by Eval: a slow, allocating, obviously
// correct stand-in for ONNX Runtime that runs anywhere (race-detector tests).
type Session struct {
	M    *onnx.Model
	ins  []*policy.Tensor
	outs []*policy.Tensor
	// Runs counts Run calls.
	Runs int
}

// NewSession prepares tensors for the model's inputs and outputs (symbolic
// dimensions become 1).
func NewSession(m *onnx.Model) (*Session, error) {
	s := &Session{M: m}
	mk := func(vi onnx.ValueInfo) (*policy.Tensor, error) {
		if vi.ElemType != onnx.Float {
			return nil, fmt.Errorf("policytest: %q is %s, not float", vi.Name, onnx.TypeName(vi.ElemType))
		}
		d := vi.Dims()
		for i := range d {
			if d[i] < 0 {
				d[i] = 1
			}
		}
		return &policy.Tensor{Name: vi.Name, Shape: d, Data: make([]float32, size(d))}, nil
	}
	for _, vi := range m.Graph.RealInputs() {
		t, err := mk(vi)
		if err != nil {
			return nil, err
		}
		s.ins = append(s.ins, t)
	}
	for _, vi := range m.Graph.Outputs {
		t, err := mk(vi)
		if err != nil {
			return nil, err
		}
		s.outs = append(s.outs, t)
	}
	return s, nil
}

// Inputs are the input tensors.
func (s *Session) Inputs() []*policy.Tensor { return s.ins }

// Outputs are the output tensors.
func (s *Session) Outputs() []*policy.Tensor { return s.outs }

// Run evaluates the model (in float64, results rounded to float32).
func (s *Session) Run() error {
	s.Runs++
	in := map[string]T{}
	for _, t := range s.ins {
		d := make([]float64, len(t.Data))
		for i, v := range t.Data {
			d[i] = float64(v)
		}
		in[t.Name] = T{Shape: t.Shape, Data: d}
	}
	vals, err := Eval(s.M, in)
	if err != nil {
		return err
	}
	for _, t := range s.outs {
		v := vals[t.Name]
		if len(v.Data) != len(t.Data) {
			return fmt.Errorf("policytest: output %q has %d values, want %d", t.Name, len(v.Data), len(t.Data))
		}
		for i, x := range v.Data {
			t.Data[i] = float32(x)
		}
	}
	return nil
}

var _ policy.Session = (*Session)(nil)
