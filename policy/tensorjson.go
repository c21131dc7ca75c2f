package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// maxJSONValues bounds the values one JSON document may carry (64 Mi).
const maxJSONValues = 1 << 26

// DecodeTensorsJSON reads `anther policy eval` input: {"inputs": {name:
// nested lists}}. Each tensor's shape is its nesting (a rectangular list of
// lists of numbers); a bare number is a scalar of shape [].
func DecodeTensorsJSON(data []byte) (map[string]*Tensor, error) {
	var doc struct {
		Inputs map[string]json.RawMessage `json:"inputs"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("policy: input JSON: %w (want {\"inputs\": {\"name\": [[...]]}})", err)
	}
	if len(doc.Inputs) == 0 {
		return nil, errors.New(`policy: input JSON has no inputs (want {"inputs": {"name": [[...]]}})`)
	}
	out := make(map[string]*Tensor, len(doc.Inputs))
	for name, raw := range doc.Inputs {
		var v any
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			return nil, fmt.Errorf("policy: input %q: %w", name, err)
		}
		t := &Tensor{Name: name}
		shape, err := nestedShape(v, 0)
		if err != nil {
			return nil, fmt.Errorf("policy: input %q: %w", name, err)
		}
		t.Shape = shape
		if t.Data, err = flattenJSON(v, shape, 0, make([]float32, 0, numel(shape))); err != nil {
			return nil, fmt.Errorf("policy: input %q: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// nestedShape finds the shape of a nested list from its first elements.
func nestedShape(v any, depth int) ([]int64, error) {
	if depth > 16 {
		return nil, errors.New("lists nested more than 16 deep")
	}
	switch x := v.(type) {
	case json.Number:
		return []int64{}, nil
	case []any:
		if len(x) == 0 {
			return nil, errors.New("empty list (dimensions must be at least 1)")
		}
		inner, err := nestedShape(x[0], depth+1)
		if err != nil {
			return nil, err
		}
		shape := append([]int64{int64(len(x))}, inner...)
		n := int64(1)
		for _, d := range shape {
			if n > maxJSONValues/d {
				return nil, errors.New("too many values")
			}
			n *= d
		}
		return shape, nil
	}
	return nil, fmt.Errorf("want numbers or lists, got %T", v)
}

// flattenJSON checks the list is rectangular and collects its values.
func flattenJSON(v any, shape []int64, depth int, dst []float32) ([]float32, error) {
	if depth == len(shape) {
		n, ok := v.(json.Number)
		if !ok {
			return nil, fmt.Errorf("ragged list: want a number at depth %d, got %T", depth, v)
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			return nil, fmt.Errorf("bad number %s", n)
		}
		return append(dst, float32(f)), nil
	}
	l, ok := v.([]any)
	if !ok || int64(len(l)) != shape[depth] {
		return nil, fmt.Errorf("ragged list: want %d elements at depth %d", shape[depth], depth)
	}
	var err error
	for _, e := range l {
		if dst, err = flattenJSON(e, shape, depth+1, dst); err != nil {
			return nil, err
		}
	}
	return dst, nil
}

// EncodeTensorsJSON writes `anther policy eval` output: {"outputs": {name:
// nested lists}} with each tensor nested by its shape. NaN and ±Inf, which
// JSON cannot hold, are written as null.
func EncodeTensorsJSON(ts []*Tensor) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("{\"outputs\": {")
	for i, t := range ts {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n  ")
		name, _ := json.Marshal(t.Name)
		b.Write(name)
		b.WriteString(": ")
		if numel(t.Shape) != len(t.Data) {
			return nil, fmt.Errorf("policy: output %q has %d values for shape %v", t.Name, len(t.Data), t.Shape)
		}
		writeNested(&b, t.Shape, t.Data)
	}
	b.WriteString("\n}}\n")
	return b.Bytes(), nil
}

func writeNested(b *bytes.Buffer, shape []int64, data []float32) {
	if len(shape) == 0 {
		f := float64(data[0])
		if math.IsNaN(f) || math.IsInf(f, 0) {
			b.WriteString("null")
			return
		}
		b.WriteString(strconv.FormatFloat(f, 'g', -1, 32))
		return
	}
	b.WriteString("[")
	step := len(data) / int(max(shape[0], 1))
	for i := 0; i < int(shape[0]); i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		writeNested(b, shape[1:], data[i*step:(i+1)*step])
	}
	b.WriteString("]")
}
