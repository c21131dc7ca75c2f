package ort

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	onnxrt "github.com/yalue/onnxruntime_go"

	"github.com/anther-robotics/anther/policy"
	"github.com/anther-robotics/anther/policy/onnx"
)

// Options tunes a session.
type Options struct {
	// IntraOpThreads and InterOpThreads size ONNX Runtime's thread pools
	// (0 means 1: for small in-loop policies the default pools occasionally
	// stalled for milliseconds, see ../shared/spec/setup.md).
	IntraOpThreads, InterOpThreads int
	// Dims gives concrete shapes for inputs and outputs whose shapes have
	// symbolic dimensions; without an entry a symbolic dimension becomes 1
	// (the batch).
	Dims map[string][]int64
}

// Session is an ONNX Runtime session over tensors allocated once at open:
// Run allocates nothing in Go. It implements policy.Session. Not safe for
// concurrent use; Close it before the Runtime.
type Session struct {
	rt      *Runtime
	name    string
	model   *onnx.Model
	s       *onnxrt.AdvancedSession
	ins     []*policy.Tensor
	outs    []*policy.Tensor
	ortIns  []*onnxrt.Tensor[float32]
	ortOuts []*onnxrt.Tensor[float32]
	closed  bool
}

var _ policy.Session = (*Session)(nil)

// ReadModel reads and decodes an ONNX file with clear errors for a missing
// file and for a file that is not ONNX.
func ReadModel(path string) ([]byte, *onnx.Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("policy: model %s: no such file", path)
		}
		return nil, nil, fmt.Errorf("policy: model %s: %w", path, err)
	}
	m, err := onnx.Decode(data)
	if err != nil {
		return nil, nil, fmt.Errorf("policy: model %s is not a readable ONNX file: %w", path, err)
	}
	return data, m, nil
}

// NewSession opens the model at path.
func (rt *Runtime) NewSession(path string, o Options) (*Session, error) {
	data, m, err := ReadModel(path)
	if err != nil {
		return nil, err
	}
	return rt.NewSessionFromModel(path, data, m, o)
}

// NewSessionFromModel opens a model already read and decoded (name is used in
// errors).
func (rt *Runtime) NewSessionFromModel(name string, data []byte, m *onnx.Model, o Options) (*Session, error) {
	if err := rt.check(); err != nil {
		return nil, err
	}
	s := &Session{rt: rt, name: name, model: m}
	ok := false
	defer func() {
		if !ok {
			_ = s.Close()
		}
	}()
	var inNames, outNames []string
	var inVals, outVals []onnxrt.Value
	add := func(vi onnx.ValueInfo, kind string) (*policy.Tensor, *onnxrt.Tensor[float32], error) {
		if vi.ElemType != onnx.Float {
			return nil, nil, fmt.Errorf("policy: model %s: %s %q is %s; only float32 tensors are supported",
				name, kind, vi.Name, onnx.TypeName(vi.ElemType))
		}
		shape, err := concreteShape(vi, o.Dims[vi.Name])
		if err != nil {
			return nil, nil, fmt.Errorf("policy: model %s: %s %q: %w", name, kind, vi.Name, err)
		}
		t, err := onnxrt.NewEmptyTensor[float32](onnxrt.NewShape(shape...))
		if err != nil {
			return nil, nil, fmt.Errorf("policy: model %s: %s %q %v: %w", name, kind, vi.Name, shape, err)
		}
		return &policy.Tensor{Name: vi.Name, Shape: shape, Data: t.GetData()}, t, nil
	}
	for _, vi := range m.Graph.RealInputs() {
		pt, t, err := add(vi, "input")
		if err != nil {
			return nil, err
		}
		s.ins, s.ortIns = append(s.ins, pt), append(s.ortIns, t)
		inNames, inVals = append(inNames, vi.Name), append(inVals, t)
	}
	for _, vi := range m.Graph.Outputs {
		pt, t, err := add(vi, "output")
		if err != nil {
			return nil, err
		}
		s.outs, s.ortOuts = append(s.outs, pt), append(s.ortOuts, t)
		outNames, outVals = append(outNames, vi.Name), append(outVals, t)
	}
	if len(inNames) == 0 {
		return nil, fmt.Errorf("policy: model %s has no inputs (an init graph? use RunInit)", name)
	}
	opts, err := sessionOptions(o)
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	s.s, err = onnxrt.NewAdvancedSessionWithONNXData(data, inNames, outNames, inVals, outVals, opts)
	if err != nil {
		return nil, fmt.Errorf("policy: ONNX Runtime cannot open %s: %w", name, err)
	}
	ok = true
	return s, nil
}

func sessionOptions(o Options) (*onnxrt.SessionOptions, error) {
	opts, err := onnxrt.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("policy: session options: %w", err)
	}
	intra, inter := max(o.IntraOpThreads, 1), max(o.InterOpThreads, 1)
	if err := opts.SetIntraOpNumThreads(intra); err != nil {
		opts.Destroy()
		return nil, fmt.Errorf("policy: intra-op threads: %w", err)
	}
	if err := opts.SetInterOpNumThreads(inter); err != nil {
		opts.Destroy()
		return nil, fmt.Errorf("policy: inter-op threads: %w", err)
	}
	return opts, nil
}

// concreteShape resolves a value's shape: the override if given (it must
// agree with every fixed dimension), else the fixed dimensions with symbolic
// ones set to 1.
func concreteShape(vi onnx.ValueInfo, override []int64) ([]int64, error) {
	if !vi.HasShape {
		if override == nil {
			return nil, errors.New("has no shape in the model; give one in Options.Dims")
		}
		return slices.Clone(override), nil
	}
	dims := vi.Dims()
	if override != nil {
		if len(override) != len(dims) {
			return nil, fmt.Errorf("shape %v has %d dimensions, the model's %s has %d", override, len(override), onnx.ShapeString(vi.Shape), len(dims))
		}
		for i, d := range dims {
			if d >= 0 && override[i] != d {
				return nil, fmt.Errorf("shape %v does not fit the model's %s", override, onnx.ShapeString(vi.Shape))
			}
			if override[i] <= 0 {
				return nil, fmt.Errorf("shape %v has a non-positive dimension", override)
			}
		}
		return slices.Clone(override), nil
	}
	for i, d := range dims {
		if d < 0 {
			dims[i] = 1
		}
	}
	return dims, nil
}

// Name is the model's file name (or the name it was opened with).
func (s *Session) Name() string { return s.name }

// Model is the decoded model.
func (s *Session) Model() *onnx.Model { return s.model }

// Inputs are the input tensors, in the model's order.
func (s *Session) Inputs() []*policy.Tensor { return s.ins }

// Outputs are the output tensors, in the model's order.
func (s *Session) Outputs() []*policy.Tensor { return s.outs }

// Run runs the model once over the tensors. It allocates nothing in Go.
func (s *Session) Run() error {
	if s.s == nil {
		return errors.New("policy: session is closed")
	}
	if err := s.s.Run(); err != nil {
		return fmt.Errorf("policy: run %s: %w", s.name, err)
	}
	return nil
}

// Close releases the session and its tensors; idempotent.
func (s *Session) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if s.s != nil {
		_ = s.s.Destroy()
		s.s = nil
	}
	for _, t := range s.ortIns {
		_ = t.Destroy()
	}
	for _, t := range s.ortOuts {
		_ = t.Destroy()
	}
	s.ortIns, s.ortOuts = nil, nil
	return nil
}

// Bare exposes the underlying onnxruntime_go session (for benchmarks that
// compare the wrapper with a bare Run).
func (s *Session) Bare() *onnxrt.AdvancedSession { return s.s }
