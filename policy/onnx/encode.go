package onnx

import (
	"encoding/binary"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Marshal encodes the model as ONNX protobuf bytes. Tensors are written with
// raw_data for float/int64 values (as PyTorch's exporter does); attributes,
// value infos and metadata as onnx.proto defines them. Decode(Marshal(m))
// gives back m (up to raw_data being decoded into typed values).
func (m *Model) Marshal() []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(m.IRVersion))
	b = appendString(b, 2, m.ProducerName)
	b = appendString(b, 3, m.ProducerVersion)
	b = appendString(b, 4, m.Domain)
	if m.ModelVersion != 0 {
		b = protowire.AppendTag(b, 5, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(m.ModelVersion))
	}
	b = appendString(b, 6, m.DocString)
	b = appendMsg(b, 7, m.Graph.marshal())
	for _, o := range m.Opsets {
		var ob []byte
		ob = appendString(ob, 1, o.Domain)
		ob = protowire.AppendTag(ob, 2, protowire.VarintType)
		ob = protowire.AppendVarint(ob, uint64(o.Version))
		b = appendMsg(b, 8, ob)
	}
	for _, p := range m.Metadata {
		var pb []byte
		pb = appendString(pb, 1, p.Key)
		pb = appendString(pb, 2, p.Value)
		b = appendMsg(b, 14, pb)
	}
	return b
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendMsg(b []byte, num protowire.Number, m []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

func appendPackedInts(b []byte, num protowire.Number, v []int64) []byte {
	if len(v) == 0 {
		return b
	}
	var p []byte
	for _, x := range v {
		p = protowire.AppendVarint(p, uint64(x))
	}
	return appendMsg(b, num, p)
}

func (g *Graph) marshal() []byte {
	var b []byte
	for i := range g.Nodes {
		b = appendMsg(b, 1, g.Nodes[i].marshal())
	}
	b = appendString(b, 2, g.Name)
	for i := range g.Initializers {
		b = appendMsg(b, 5, g.Initializers[i].marshal())
	}
	b = appendString(b, 10, g.DocString)
	for i := range g.Inputs {
		b = appendMsg(b, 11, g.Inputs[i].marshal())
	}
	for i := range g.Outputs {
		b = appendMsg(b, 12, g.Outputs[i].marshal())
	}
	for i := range g.ValueInfo {
		b = appendMsg(b, 13, g.ValueInfo[i].marshal())
	}
	return b
}

func (n *Node) marshal() []byte {
	var b []byte
	for _, s := range n.Inputs {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	for _, s := range n.Outputs {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	b = appendString(b, 3, n.Name)
	b = appendString(b, 4, n.OpType)
	for i := range n.Attrs {
		b = appendMsg(b, 5, n.Attrs[i].marshal())
	}
	b = appendString(b, 7, n.Domain)
	return b
}

func (a *Attribute) marshal() []byte {
	var b []byte
	b = appendString(b, 1, a.Name)
	switch a.Type {
	case AttrFloat:
		b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.F))
	case AttrInt:
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(a.I))
	case AttrString:
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendBytes(b, a.S)
	case AttrTensor:
		if a.T != nil {
			b = appendMsg(b, 5, a.T.marshal())
		}
	case AttrGraph:
		if a.G != nil {
			b = appendMsg(b, 6, a.G.marshal())
		}
	case AttrFloats:
		var p []byte
		for _, f := range a.Floats {
			p = binary.LittleEndian.AppendUint32(p, math.Float32bits(f))
		}
		b = appendMsg(b, 7, p)
	case AttrInts:
		b = appendPackedInts(b, 8, a.Ints)
	case AttrStrings:
		for _, s := range a.Strings {
			b = protowire.AppendTag(b, 9, protowire.BytesType)
			b = protowire.AppendBytes(b, s)
		}
	}
	b = protowire.AppendTag(b, 20, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(a.Type))
	return b
}

func (t *Tensor) marshal() []byte {
	var b []byte
	b = appendPackedInts(b, 1, t.Dims)
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(t.DataType))
	b = appendString(b, 8, t.Name)
	var raw []byte
	switch {
	case t.Raw != nil:
		raw = t.Raw
	case t.DataType == Float:
		raw = make([]byte, 0, 4*len(t.Floats))
		for _, f := range t.Floats {
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(f))
		}
	case t.DataType == Double:
		for _, f := range t.Doubles {
			raw = binary.LittleEndian.AppendUint64(raw, math.Float64bits(f))
		}
	case t.DataType == Int64:
		for _, v := range t.Int64s {
			raw = binary.LittleEndian.AppendUint64(raw, uint64(v))
		}
	case t.DataType == Int32:
		for _, v := range t.Int64s {
			raw = binary.LittleEndian.AppendUint32(raw, uint32(int32(v)))
		}
	}
	if raw != nil || t.NumElements() == 0 {
		b = protowire.AppendTag(b, 9, protowire.BytesType)
		b = protowire.AppendBytes(b, raw)
	}
	return b
}

func (v *ValueInfo) marshal() []byte {
	var tt []byte
	tt = protowire.AppendTag(tt, 1, protowire.VarintType)
	tt = protowire.AppendVarint(tt, uint64(v.ElemType))
	if v.HasShape || v.Shape != nil {
		var sh []byte
		for _, d := range v.Shape {
			var db []byte
			if d.Param != "" {
				db = appendString(db, 2, d.Param)
			} else if d.Value >= 0 {
				db = protowire.AppendTag(db, 1, protowire.VarintType)
				db = protowire.AppendVarint(db, uint64(d.Value))
			}
			sh = appendMsg(sh, 1, db)
		}
		tt = appendMsg(tt, 2, sh)
	}
	var tp []byte
	tp = appendMsg(tp, 1, tt)
	var b []byte
	b = appendString(b, 1, v.Name)
	b = appendMsg(b, 2, tp)
	return b
}

// FloatTensor makes a float32 initializer.
func FloatTensor(name string, dims []int64, values []float32) Tensor {
	return Tensor{Name: name, Dims: dims, DataType: Float, Floats: values}
}

// Int64Tensor makes an int64 initializer (e.g. a Reshape target shape).
func Int64Tensor(name string, dims []int64, values []int64) Tensor {
	return Tensor{Name: name, Dims: dims, DataType: Int64, Int64s: values}
}

// FloatInput makes a float32 graph input or output with fixed dimensions
// (a negative size becomes a symbolic dimension named "N").
func FloatInput(name string, dims ...int64) ValueInfo {
	vi := ValueInfo{Name: name, ElemType: Float, HasShape: true}
	for _, d := range dims {
		if d < 0 {
			vi.Shape = append(vi.Shape, Dim{Value: -1, Param: "N"})
		} else {
			vi.Shape = append(vi.Shape, Dim{Value: d})
		}
	}
	return vi
}
