package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// maxDepth bounds graph nesting (If/Loop bodies inside attributes).
const maxDepth = 8

// Decode parses an ONNX model from its protobuf bytes. Unknown fields are
// skipped, as protobuf allows. Errors wrap ErrNotONNX and say which message
// and field failed.
func Decode(data []byte) (*Model, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty file", ErrNotONNX)
	}
	m := &Model{}
	d := decoder{}
	if err := d.model(data, m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotONNX, err)
	}
	// Every real model names an IR version and has a graph with outputs;
	// random bytes that happen to parse as protobuf rarely do.
	if m.IRVersion <= 0 || m.IRVersion > 100 {
		return nil, fmt.Errorf("%w: ir_version %d is not a known ONNX IR version", ErrNotONNX, m.IRVersion)
	}
	if len(m.Graph.Outputs) == 0 {
		return nil, fmt.Errorf("%w: the graph has no outputs", ErrNotONNX)
	}
	return m, nil
}

type decoder struct {
	depth int
}

// field walks the fields of one message, calling fn for each with its
// number, wire type and (for bytes fields) contents or (for varint and
// fixed fields) value.
func fields(b []byte, fn func(num protowire.Number, typ protowire.Type, v uint64, bs []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("bad tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		var (
			v  uint64
			bs []byte
		)
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var x uint32
			x, n = protowire.ConsumeFixed32(b)
			v = uint64(x)
		case protowire.Fixed64Type:
			v, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			bs, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("field %d: %v", num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(num, typ, v, bs); err != nil {
			return err
		}
	}
	return nil
}

func str(typ protowire.Type, bs []byte, what string) (string, error) {
	if typ != protowire.BytesType {
		return "", fmt.Errorf("%s: wrong wire type %d", what, typ)
	}
	if !utf8.Valid(bs) {
		return "", fmt.Errorf("%s: not UTF-8", what)
	}
	return string(bs), nil
}

func msg(typ protowire.Type, what string) error {
	if typ != protowire.BytesType {
		return fmt.Errorf("%s: wrong wire type %d", what, typ)
	}
	return nil
}

func (d *decoder) model(b []byte, m *Model) error {
	return fields(b, func(num protowire.Number, typ protowire.Type, v uint64, bs []byte) error {
		var err error
		switch num {
		case 1:
			m.IRVersion = int64(v)
		case 2:
			m.ProducerName, err = str(typ, bs, "producer_name")
		case 3:
			m.ProducerVersion, err = str(typ, bs, "producer_version")
		case 4:
			m.Domain, err = str(typ, bs, "domain")
		case 5:
			m.ModelVersion = int64(v)
		case 6:
			m.DocString, err = str(typ, bs, "doc_string")
		case 7:
			if err = msg(typ, "graph"); err == nil {
				err = d.graph(bs, &m.Graph)
			}
		case 8:
			if err = msg(typ, "opset_import"); err == nil {
				var o Opset
				err = fields(bs, func(num protowire.Number, typ protowire.Type, v uint64, bs []byte) error {
					var err error
					switch num {
					case 1:
						o.Domain, err = str(typ, bs, "opset_import.domain")
					case 2:
						o.Version = int64(v)
					}
					return err
				})
				m.Opsets = append(m.Opsets, o)
			}
		case 14:
			if err = msg(typ, "metadata_props"); err == nil {
				var p Property
				err = fields(bs, func(num protowire.Number, typ protowire.Type, _ uint64, bs []byte) error {
					var err error
					switch num {
					case 1:
						p.Key, err = str(typ, bs, "metadata_props.key")
					case 2:
						p.Value, err = str(typ, bs, "metadata_props.value")
					}
					return err
				})
				m.Metadata = append(m.Metadata, p)
			}
		}
		if err != nil {
			return fmt.Errorf("model: %w", err)
		}
		return nil
	})
}

func (d *decoder) graph(b []byte, g *Graph) error {
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > maxDepth {
		return fmt.Errorf("graphs nested more than %d deep", maxDepth)
	}
	return fields(b, func(num protowire.Number, typ protowire.Type, _ uint64, bs []byte) error {
		var err error
		switch num {
		case 1:
			if err = msg(typ, "node"); err == nil {
				var n Node
				err = d.node(bs, &n)
				g.Nodes = append(g.Nodes, n)
			}
		case 2:
			g.Name, err = str(typ, bs, "graph.name")
		case 5:
			if err = msg(typ, "initializer"); err == nil {
				var t Tensor
				err = tensor(bs, &t)
				g.Initializers = append(g.Initializers, t)
			}
		case 10:
			g.DocString, err = str(typ, bs, "graph.doc_string")
		case 11, 12, 13:
			if err = msg(typ, "value_info"); err == nil {
				var vi ValueInfo
				err = valueInfo(bs, &vi)
				switch num {
				case 11:
					g.Inputs = append(g.Inputs, vi)
				case 12:
					g.Outputs = append(g.Outputs, vi)
				default:
					g.ValueInfo = append(g.ValueInfo, vi)
				}
			}
		}
		if err != nil {
			return fmt.Errorf("graph %q: %w", g.Name, err)
		}
		return nil
	})
}

func (d *decoder) node(b []byte, n *Node) error {
	return fields(b, func(num protowire.Number, typ protowire.Type, _ uint64, bs []byte) error {
		var (
			err error
			s   string
		)
		switch num {
		case 1:
			if s, err = str(typ, bs, "node.input"); err == nil {
				n.Inputs = append(n.Inputs, s)
			}
		case 2:
			if s, err = str(typ, bs, "node.output"); err == nil {
				n.Outputs = append(n.Outputs, s)
			}
		case 3:
			n.Name, err = str(typ, bs, "node.name")
		case 4:
			n.OpType, err = str(typ, bs, "node.op_type")
		case 7:
			n.Domain, err = str(typ, bs, "node.domain")
		case 5:
			if err = msg(typ, "attribute"); err == nil {
				var a Attribute
				err = d.attribute(bs, &a)
				n.Attrs = append(n.Attrs, a)
			}
		}
		if err != nil {
			return fmt.Errorf("node %q: %w", n.Name, err)
		}
		return nil
	})
}

func (d *decoder) attribute(b []byte, a *Attribute) error {
	return fields(b, func(num protowire.Number, typ protowire.Type, v uint64, bs []byte) error {
		var err error
		switch num {
		case 1:
			a.Name, err = str(typ, bs, "attribute.name")
		case 20:
			a.Type = int32(v)
		case 2:
			if typ != protowire.Fixed32Type {
				return fmt.Errorf("attribute %q: f: wrong wire type %d", a.Name, typ)
			}
			a.F = math.Float32frombits(uint32(v))
		case 3:
			a.I = int64(v)
		case 4:
			if err = msg(typ, "attribute.s"); err == nil {
				a.S = append([]byte(nil), bs...)
			}
		case 5:
			if err = msg(typ, "attribute.t"); err == nil {
				a.T = &Tensor{}
				err = tensor(bs, a.T)
			}
		case 6:
			if err = msg(typ, "attribute.g"); err == nil {
				a.G = &Graph{}
				err = d.graph(bs, a.G)
			}
		case 7:
			a.Floats, err = appendFloats(a.Floats, typ, v, bs)
		case 8:
			a.Ints, err = appendInts(a.Ints, typ, v, bs)
		case 9:
			if err = msg(typ, "attribute.strings"); err == nil {
				a.Strings = append(a.Strings, append([]byte(nil), bs...))
			}
		}
		if err != nil {
			return fmt.Errorf("attribute %q: %w", a.Name, err)
		}
		return nil
	})
}

// appendFloats adds a repeated float field's values, packed or not.
func appendFloats(dst []float32, typ protowire.Type, v uint64, bs []byte) ([]float32, error) {
	switch typ {
	case protowire.Fixed32Type:
		return append(dst, math.Float32frombits(uint32(v))), nil
	case protowire.BytesType:
		if len(bs)%4 != 0 {
			return dst, fmt.Errorf("packed floats: %d bytes is not a multiple of 4", len(bs))
		}
		for i := 0; i < len(bs); i += 4 {
			dst = append(dst, math.Float32frombits(binary.LittleEndian.Uint32(bs[i:])))
		}
		return dst, nil
	}
	return dst, fmt.Errorf("floats: wrong wire type %d", typ)
}

// appendDoubles adds a repeated double field's values, packed or not.
func appendDoubles(dst []float64, typ protowire.Type, v uint64, bs []byte) ([]float64, error) {
	switch typ {
	case protowire.Fixed64Type:
		return append(dst, math.Float64frombits(v)), nil
	case protowire.BytesType:
		if len(bs)%8 != 0 {
			return dst, fmt.Errorf("packed doubles: %d bytes is not a multiple of 8", len(bs))
		}
		for i := 0; i < len(bs); i += 8 {
			dst = append(dst, math.Float64frombits(binary.LittleEndian.Uint64(bs[i:])))
		}
		return dst, nil
	}
	return dst, fmt.Errorf("doubles: wrong wire type %d", typ)
}

// appendInts adds a repeated varint field's values, packed or not.
func appendInts(dst []int64, typ protowire.Type, v uint64, bs []byte) ([]int64, error) {
	switch typ {
	case protowire.VarintType:
		return append(dst, int64(v)), nil
	case protowire.BytesType:
		for len(bs) > 0 {
			x, n := protowire.ConsumeVarint(bs)
			if n < 0 {
				return dst, fmt.Errorf("packed ints: %v", protowire.ParseError(n))
			}
			dst = append(dst, int64(x))
			bs = bs[n:]
		}
		return dst, nil
	}
	return dst, fmt.Errorf("ints: wrong wire type %d", typ)
}

func tensor(b []byte, t *Tensor) error {
	var i32 []int64
	err := fields(b, func(num protowire.Number, typ protowire.Type, v uint64, bs []byte) error {
		var err error
		switch num {
		case 1:
			t.Dims, err = appendInts(t.Dims, typ, v, bs)
		case 2:
			t.DataType = int32(v)
		case 4:
			t.Floats, err = appendFloats(t.Floats, typ, v, bs)
		case 5:
			i32, err = appendInts(i32, typ, v, bs)
		case 7:
			t.Int64s, err = appendInts(t.Int64s, typ, v, bs)
		case 8:
			t.Name, err = str(typ, bs, "tensor.name")
		case 9:
			if err = msg(typ, "tensor.raw_data"); err == nil {
				t.Raw = append([]byte(nil), bs...)
			}
		case 10:
			t.Doubles, err = appendDoubles(t.Doubles, typ, v, bs)
		case 14:
			t.External = v == 1
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	for _, d := range t.Dims {
		if d < 0 {
			return fmt.Errorf("tensor %q: negative dimension %d", t.Name, d)
		}
	}
	n := t.NumElements()
	if n < 0 {
		return fmt.Errorf("tensor %q: dimensions %v overflow", t.Name, t.Dims)
	}
	if len(i32) > 0 {
		// int32_data also carries int8/uint8/int16/bool/float16 values.
		t.Int64s = append(t.Int64s, i32...)
	}
	if t.Raw != nil && !t.External {
		if err := t.decodeRaw(n); err != nil {
			return fmt.Errorf("tensor %q: %w", t.Name, err)
		}
	}
	if t.External {
		return nil
	}
	got := int64(-1)
	switch t.DataType {
	case Float:
		got = int64(len(t.Floats))
	case Double:
		got = int64(len(t.Doubles))
	case Int64, Int32, Int8, Uint8, Bool:
		got = int64(len(t.Int64s))
	}
	if got >= 0 && got != n && !(got == 0 && n == 0) {
		return fmt.Errorf("tensor %q: %d values for dimensions %v (%d elements)", t.Name, got, t.Dims, n)
	}
	return nil
}

// decodeRaw turns raw_data into typed values for the types anther reads.
func (t *Tensor) decodeRaw(n int64) error {
	size := map[int32]int64{Float: 4, Double: 8, Int64: 8, Int32: 4, Int8: 1, Uint8: 1, Bool: 1}[t.DataType]
	if size == 0 {
		return nil // kept raw
	}
	if n > int64(len(t.Raw)) || int64(len(t.Raw)) != n*size {
		return fmt.Errorf("raw_data has %d bytes, want %d for %d %s values", len(t.Raw), n*size, n, TypeName(t.DataType))
	}
	r := t.Raw
	switch t.DataType {
	case Float:
		t.Floats = make([]float32, n)
		for i := range t.Floats {
			t.Floats[i] = math.Float32frombits(binary.LittleEndian.Uint32(r[4*i:]))
		}
	case Double:
		t.Doubles = make([]float64, n)
		for i := range t.Doubles {
			t.Doubles[i] = math.Float64frombits(binary.LittleEndian.Uint64(r[8*i:]))
		}
	case Int64:
		t.Int64s = make([]int64, n)
		for i := range t.Int64s {
			t.Int64s[i] = int64(binary.LittleEndian.Uint64(r[8*i:]))
		}
	case Int32:
		t.Int64s = make([]int64, n)
		for i := range t.Int64s {
			t.Int64s[i] = int64(int32(binary.LittleEndian.Uint32(r[4*i:])))
		}
	case Int8:
		t.Int64s = make([]int64, n)
		for i := range t.Int64s {
			t.Int64s[i] = int64(int8(r[i]))
		}
	case Uint8, Bool:
		t.Int64s = make([]int64, n)
		for i := range t.Int64s {
			t.Int64s[i] = int64(r[i])
		}
	}
	return nil
}

func valueInfo(b []byte, vi *ValueInfo) error {
	return fields(b, func(num protowire.Number, typ protowire.Type, _ uint64, bs []byte) error {
		var err error
		switch num {
		case 1:
			vi.Name, err = str(typ, bs, "value_info.name")
		case 2:
			if err = msg(typ, "value_info.type"); err == nil {
				err = typeProto(bs, vi)
			}
		}
		if err != nil {
			return fmt.Errorf("value %q: %w", vi.Name, err)
		}
		return nil
	})
}

func typeProto(b []byte, vi *ValueInfo) error {
	return fields(b, func(num protowire.Number, typ protowire.Type, _ uint64, bs []byte) error {
		if num != 1 { // only tensor_type
			return nil
		}
		if err := msg(typ, "tensor_type"); err != nil {
			return err
		}
		return fields(bs, func(num protowire.Number, typ protowire.Type, v uint64, bs []byte) error {
			switch num {
			case 1:
				vi.ElemType = int32(v)
			case 2:
				if err := msg(typ, "shape"); err != nil {
					return err
				}
				vi.HasShape = true
				return fields(bs, func(num protowire.Number, typ protowire.Type, _ uint64, bs []byte) error {
					if num != 1 {
						return nil
					}
					if err := msg(typ, "dim"); err != nil {
						return err
					}
					d := Dim{Value: -1}
					err := fields(bs, func(num protowire.Number, typ protowire.Type, v uint64, bs []byte) error {
						var err error
						switch num {
						case 1:
							d.Value = int64(v)
						case 2:
							d.Param, err = str(typ, bs, "dim_param")
						}
						return err
					})
					vi.Shape = append(vi.Shape, d)
					return err
				})
			}
			return nil
		})
	})
}
