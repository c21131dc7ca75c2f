package ort_test

import (
	"path/filepath"
	"testing"

	"github.com/anther-robotics/anther/policy"
	"github.com/anther-robotics/anther/policy/ort"
)

// BenchmarkInference compares, per shared model, a bare onnxruntime_go Run
// on prebuilt tensors, the wrapper's Session.Run, and a whole policy step
// (observation building + Run + action decoding). Run with
//
//	go test -run '^$' -bench Inference -benchmem ./policy/ort
func BenchmarkInference(b *testing.B) {
	needRT(b)
	dir := shared(b)
	for _, c := range realCases {
		d := desc(b, c.robot)
		l, err := rt.Load(filepath.Join(dir, c.model), ort.LoadConfig{Policy: policy.Config{Robot: d}})
		if err != nil {
			b.Fatal(err)
		}
		bare := l.Session.Bare()
		b.Run(c.model+"/bare", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bare.Run(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.model+"/session", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := l.Session.Run(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.model+"/step", func(b *testing.B) {
			ch := l.Policy.NewChunk()
			var o policy.Observation
			o.State.N = len(d.Joints)
			b.ReportAllocs()
			for b.Loop() {
				o.Step++
				if err := l.Policy.Infer(&o, ch); err != nil {
					b.Fatal(err)
				}
			}
		})
		_ = l.Close()
	}
}
