package ort

import (
	"fmt"
	"path/filepath"

	"github.com/anther-robotics/anther/policy"
)

// LoadConfig says how to load a policy.
type LoadConfig struct {
	SpecPath string        // spec file; "" searches metadata and a sidecar (policy.LoadSpec)
	Rate     float64       // overrides the spec's policy rate when > 0
	Policy   policy.Config // robot, cameras, stats
	Session  Options
}

// Loaded is a policy ready to run, with the session it owns.
type Loaded struct {
	Policy  *policy.Policy
	Session *Session
	Spec    *policy.Spec
}

// Close releases the session.
func (l *Loaded) Close() error { return l.Session.Close() }

// Load reads the model at modelPath, finds its spec, opens an ONNX Runtime
// session, runs the recurrent init graph if the spec has one, and binds the
// policy to the robot in lc.Policy.Robot.
func (rt *Runtime) Load(modelPath string, lc LoadConfig) (*Loaded, error) {
	data, m, err := ReadModel(modelPath)
	if err != nil {
		return nil, err
	}
	spec, err := policy.LoadSpec(modelPath, lc.SpecPath, m)
	if err != nil {
		return nil, err
	}
	if lc.Rate > 0 {
		spec.Rate = lc.Rate
	}
	cfg := lc.Policy
	if r := spec.Recurrent; r != nil && r.InitModel != "" && cfg.InitCarry == nil {
		path := r.InitModel
		if !filepath.IsAbs(path) {
			path = filepath.Join(spec.Dir, path)
		}
		outs, err := rt.RunInit(path)
		if err != nil {
			return nil, fmt.Errorf("policy: init graph: %w", err)
		}
		for _, o := range outs {
			if o.Name == r.Input || len(outs) == 1 {
				cfg.InitCarry = o.Data
				break
			}
		}
		if cfg.InitCarry == nil {
			return nil, fmt.Errorf("policy: init graph %s has no output %q", path, r.Input)
		}
	}
	sess, err := rt.NewSessionFromModel(modelPath, data, m, lc.Session)
	if err != nil {
		return nil, err
	}
	p, err := policy.New(spec, sess, cfg)
	if err != nil {
		_ = sess.Close()
		return nil, err
	}
	return &Loaded{Policy: p, Session: sess, Spec: spec}, nil
}
