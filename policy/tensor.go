package policy

import (
	"fmt"
	"strings"
)

// Tensor is one float32 input or output of a model: its name, its concrete
// shape, and its data in row-major order. A Session owns its tensors; the
// policy writes inputs and reads outputs in place between runs.
type Tensor struct {
	Name  string
	Shape []int64
	Data  []float32
}

// ShapeString renders a shape as "[1,100]".
func ShapeString(shape []int64) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		if d < 0 {
			parts[i] = "?"
		} else {
			parts[i] = fmt.Sprint(d)
		}
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// Session runs one model over preallocated tensors. Implementations (the
// ONNX Runtime one in policy/ort, the pure-Go reference in policy/policytest)
// allocate every tensor when they are created; Run reads Inputs' Data and
// writes Outputs' Data in place and must not allocate. A Session is used by
// one goroutine at a time.
type Session interface {
	Inputs() []*Tensor
	Outputs() []*Tensor
	Run() error
}

// find returns the tensor called name, or nil.
func find(ts []*Tensor, name string) *Tensor {
	for _, t := range ts {
		if t.Name == name {
			return t
		}
	}
	return nil
}

func names(ts []*Tensor) string {
	n := make([]string, len(ts))
	for i, t := range ts {
		n[i] = t.Name + ShapeString(t.Shape)
	}
	return strings.Join(n, ", ")
}

func numel(shape []int64) int {
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	return n
}
