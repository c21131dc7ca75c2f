package ort

import (
	"fmt"
	"sort"

	onnxrt "github.com/yalue/onnxruntime_go"

	"github.com/anther-robotics/anther/policy"
	"github.com/anther-robotics/anther/policy/onnx"
)

// Eval runs one forward pass of the model at path over the given inputs
// (name → tensor; shapes as given, so symbolic dimensions can take any size)
// and returns every output. It allocates freely: it is for tools
// (`anther policy eval`), not for the control loop.
func (rt *Runtime) Eval(path string, inputs map[string]*policy.Tensor) ([]*policy.Tensor, error) {
	if err := rt.check(); err != nil {
		return nil, err
	}
	data, m, err := ReadModel(path)
	if err != nil {
		return nil, err
	}
	var (
		inNames  []string
		inVals   []onnxrt.Value
		outNames []string
	)
	defer func() {
		for _, v := range inVals {
			_ = v.Destroy()
		}
	}()
	want := m.Graph.RealInputs()
	for _, vi := range want {
		in, ok := inputs[vi.Name]
		if !ok {
			return nil, fmt.Errorf("policy: %s needs input %q %s (%s); the JSON has %s", path, vi.Name,
				onnx.ShapeString(vi.Shape), onnx.TypeName(vi.ElemType), keys(inputs))
		}
		if vi.ElemType != onnx.Float {
			return nil, fmt.Errorf("policy: %s: input %q is %s; only float32 inputs are supported", path, vi.Name, onnx.TypeName(vi.ElemType))
		}
		if err := fits(vi, in.Shape); err != nil {
			return nil, fmt.Errorf("policy: %s: input %q: %w", path, vi.Name, err)
		}
		t, err := onnxrt.NewTensor(onnxrt.NewShape(in.Shape...), append([]float32(nil), in.Data...))
		if err != nil {
			return nil, fmt.Errorf("policy: %s: input %q: %w", path, vi.Name, err)
		}
		inNames, inVals = append(inNames, vi.Name), append(inVals, t)
	}
	if len(inputs) != len(want) {
		for name := range inputs {
			found := false
			for _, vi := range want {
				found = found || vi.Name == name
			}
			if !found {
				return nil, fmt.Errorf("policy: %s has no input %q (inputs: %s)", path, name, viNames(want))
			}
		}
	}
	for _, vi := range m.Graph.Outputs {
		outNames = append(outNames, vi.Name)
	}
	opts, err := sessionOptions(Options{})
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	s, err := onnxrt.NewDynamicAdvancedSessionWithONNXData(data, inNames, outNames, opts)
	if err != nil {
		return nil, fmt.Errorf("policy: ONNX Runtime cannot open %s: %w", path, err)
	}
	defer s.Destroy()
	outVals := make([]onnxrt.Value, len(outNames))
	if len(inVals) == 0 {
		return runBound(s, m, path)
	}
	if err := s.Run(inVals, outVals); err != nil {
		return nil, fmt.Errorf("policy: run %s: %w", path, err)
	}
	return collect(path, outNames, outVals)
}

// RunInit runs a graph that takes no inputs (a recurrent policy's init graph,
// K-Scale kinfer style) and returns its outputs.
func (rt *Runtime) RunInit(path string) ([]*policy.Tensor, error) {
	return rt.Eval(path, nil)
}

// runBound runs a zero-input graph through an IoBinding (the plain Run API
// needs at least one input).
func runBound(s *onnxrt.DynamicAdvancedSession, m *onnx.Model, path string) ([]*policy.Tensor, error) {
	b, err := s.CreateIoBinding()
	if err != nil {
		return nil, fmt.Errorf("policy: %s: io binding: %w", path, err)
	}
	defer b.Destroy()
	var outs []*onnxrt.Tensor[float32]
	defer func() {
		for _, t := range outs {
			_ = t.Destroy()
		}
	}()
	var res []*policy.Tensor
	for _, vi := range m.Graph.Outputs {
		if vi.ElemType != onnx.Float {
			return nil, fmt.Errorf("policy: %s: output %q is %s; only float32 is supported", path, vi.Name, onnx.TypeName(vi.ElemType))
		}
		shape, err := concreteShape(vi, nil)
		if err != nil {
			return nil, fmt.Errorf("policy: %s: output %q: %w", path, vi.Name, err)
		}
		t, err := onnxrt.NewEmptyTensor[float32](onnxrt.NewShape(shape...))
		if err != nil {
			return nil, fmt.Errorf("policy: %s: output %q: %w", path, vi.Name, err)
		}
		outs = append(outs, t)
		if err := b.BindOutput(vi.Name, t); err != nil {
			return nil, fmt.Errorf("policy: %s: bind %q: %w", path, vi.Name, err)
		}
		res = append(res, &policy.Tensor{Name: vi.Name, Shape: shape})
	}
	if err := s.RunWithBinding(b); err != nil {
		return nil, fmt.Errorf("policy: run %s: %w", path, err)
	}
	for i, t := range outs {
		res[i].Data = append([]float32(nil), t.GetData()...)
	}
	return res, nil
}

func collect(path string, names []string, vals []onnxrt.Value) ([]*policy.Tensor, error) {
	var out []*policy.Tensor
	for i, v := range vals {
		if v == nil {
			continue
		}
		defer v.Destroy()
		t, ok := v.(*onnxrt.Tensor[float32])
		if !ok {
			return nil, fmt.Errorf("policy: %s: output %q is not a float32 tensor", path, names[i])
		}
		out = append(out, &policy.Tensor{Name: names[i], Shape: append([]int64(nil), t.GetShape()...),
			Data: append([]float32(nil), t.GetData()...)})
	}
	return out, nil
}

func fits(vi onnx.ValueInfo, shape []int64) error {
	if !vi.HasShape {
		return nil
	}
	dims := vi.Dims()
	if len(dims) != len(shape) {
		return fmt.Errorf("shape %s has %d dimensions, the model wants %s", policy.ShapeString(shape), len(shape), onnx.ShapeString(vi.Shape))
	}
	for i, d := range dims {
		if d >= 0 && shape[i] != d {
			return fmt.Errorf("shape %s does not fit the model's %s", policy.ShapeString(shape), onnx.ShapeString(vi.Shape))
		}
	}
	return nil
}

func keys(m map[string]*policy.Tensor) string {
	if len(m) == 0 {
		return "no inputs"
	}
	k := make([]string, 0, len(m))
	for n := range m {
		k = append(k, fmt.Sprintf("%q", n))
	}
	sort.Strings(k)
	return fmt.Sprint(k)
}

func viNames(v []onnx.ValueInfo) string {
	var s []string
	for _, x := range v {
		s = append(s, fmt.Sprintf("%q", x.Name))
	}
	return fmt.Sprint(s)
}

// IOInfo is one input or output as ONNX Runtime sees it.
type IOInfo struct {
	Name  string  `json:"name"`
	Type  string  `json:"type"`
	Shape []int64 `json:"shape"` // -1 for symbolic dimensions
}

// Inspect asks ONNX Runtime for the model's inputs and outputs (a check that
// the library can load it).
func (rt *Runtime) Inspect(path string) (ins, outs []IOInfo, err error) {
	if err := rt.check(); err != nil {
		return nil, nil, err
	}
	data, _, err := ReadModel(path)
	if err != nil {
		return nil, nil, err
	}
	i, o, err := onnxrt.GetInputOutputInfoWithONNXData(data)
	if err != nil {
		return nil, nil, fmt.Errorf("policy: ONNX Runtime cannot load %s: %w", path, err)
	}
	conv := func(v []onnxrt.InputOutputInfo) []IOInfo {
		out := make([]IOInfo, len(v))
		for k, x := range v {
			out[k] = IOInfo{Name: x.Name, Type: x.DataType.String(), Shape: append([]int64(nil), x.Dimensions...)}
		}
		return out
	}
	return conv(i), conv(o), nil
}
