package policy

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"strings"
	"time"

	"github.com/anther-robotics/anther/robot"
)

// IMU reports the robot base's attitude and rotation rate. The runner calls
// ReadIMU on the control loop's thread, so it must not allocate, lock or
// block. gravity is the unit gravity vector in the base frame (0,0,−1 when
// upright), gyro the base angular velocity in rad/s.
type IMU interface {
	ReadIMU(now time.Time, gravity, gyro *[3]float64) error
}

// ImageSource gives a policy camera frames. LatestImage copies the newest
// frame into dst as RGB, row-major, height×width×3 bytes, or fails (no frame
// yet, too old, wrong size). It runs on the inference goroutine.
type ImageSource interface {
	LatestImage(dst []byte, width, height int) error
}

// Observation is what one inference sees: the robot's state at a policy
// step, the IMU, and the operator's commands. The runner fills it.
type Observation struct {
	Step     int64     // policy step (0 at start)
	Time     time.Time // time of the step
	State    robot.State
	Gravity  [3]float64 // projected gravity, base frame
	Gyro     [3]float64 // base angular velocity, rad/s
	Commands [MaxCommands]float64
	Reset    bool // the policy restarts at this step: clear history, phase, carry
	epoch    uint64
}

// Chunk is the result of one inference: N consecutive steps of joint
// targets (indexed by the robot's joint index) starting at policy step Step.
// An MLP policy gives N = 1.
type Chunk struct {
	Step    int64
	N       int
	Targets [][robot.MaxJoints]float64
	Raw     []float32 // N × action dim, after clipping, before unnormalization
	NaN     bool      // the model output a NaN or Inf
}

// Config is what binding a policy to a robot needs.
type Config struct {
	Robot     *robot.Description     // required: joint names, home pose
	Images    map[string]ImageSource // cameras for image terms, by name
	Stats     Stats                  // overrides the spec's stats file
	InitCarry []float32              // first recurrent carry (from the init graph); nil: zeros
	Logger    *slog.Logger
}

// Policy is a model bound to a robot: it builds the model's input tensors
// from an Observation, runs the model, and turns its output into joint
// targets. Infer allocates nothing. A Policy is used by one goroutine (the
// runner's inference goroutine) at a time.
type Policy struct {
	spec *Spec
	sess Session
	desc *robot.Description
	log  *slog.Logger

	jointIdx []int     // policy joint → robot joint index
	defaults []float64 // policy order
	mask     uint64    // robot joints the action drives

	// action
	out        *Tensor
	chunkN     int
	actIdx     []int // action k → robot joint
	actScale   []float64
	actOffset  []float64
	clip       bool
	clipLo     float64
	clipHi     float64
	actNorm    *Normalizer
	lastAction []float64

	inputs []*inputBinding

	carryIn, carryOut *Tensor
	carry, initCarry  []float32

	phase    []float64
	phaseDt  float64
	standing bool
	lastStep int64
	started  bool
	cmdStand [3]int // indices of lin_vel_x, lin_vel_y, ang_vel_yaw (−1: absent)
}

type inputBinding struct {
	spec    *InputSpec
	t       *Tensor
	terms   []termBinding
	frameN  int
	frame   []float32
	hist    []float32 // History frames, oldest first after rotation by head
	head    int       // index of the oldest frame
	filled  bool
	offsets []int
}

type termBinding struct {
	spec   *TermSpec
	dim    int
	joints []int // robot joint index per element (joint terms)
	pol    []int // policy joint index per element (for defaults)
	cmds   []int
	scale  []float64
	norm   *Normalizer
	img    ImageSource
	imgBuf []byte
}

// New binds spec to a session and a robot: it checks the session's inputs
// and outputs against the spec (names, sizes), maps the policy's joints to
// the robot's by name, reads normalization statistics, and preallocates
// everything Infer needs.
func New(spec *Spec, sess Session, cfg Config) (*Policy, error) {
	if cfg.Robot == nil {
		return nil, errors.New("policy: no robot description")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	p := &Policy{spec: spec, sess: sess, desc: cfg.Robot, log: log, lastStep: -1}
	d := cfg.Robot
	var missing []string
	p.jointIdx = make([]int, len(spec.Joints))
	for i, name := range spec.Joints {
		idx, ok := d.Joint(name)
		if !ok {
			missing = append(missing, name)
			continue
		}
		p.jointIdx[i] = int(idx)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("policy: robot %s lacks the policy's joints %s (robot joints: %s)",
			d.Name, strings.Join(missing, ", "), strings.Join(d.JointNames(), ", "))
	}
	p.defaults = make([]float64, len(spec.Joints))
	if spec.Defaults != nil {
		copy(p.defaults, spec.Defaults)
	} else {
		for i, idx := range p.jointIdx {
			p.defaults[i] = float64(d.Joints[idx].Home)
		}
		log.Info("policy: default joint positions taken from the robot's home pose", "policy", spec.Name, "robot", d.Name)
	}
	polIndex := map[string]int{}
	for i, n := range spec.Joints {
		polIndex[n] = i
	}

	stats := cfg.Stats
	if stats == nil && spec.Normalization != nil && spec.Normalization.Stats != "" {
		path := spec.Normalization.Stats
		if !filepath.IsAbs(path) {
			path = filepath.Join(spec.Dir, path)
		}
		var err error
		if stats, err = ReadStats(path); err != nil {
			return nil, err
		}
	}
	norm := func(mode, key string, dim, per int, def string) (*Normalizer, error) {
		if mode == "" {
			mode = def
		}
		if mode == "" || mode == "identity" {
			return nil, nil
		}
		st, ok := stats[key]
		if !ok {
			return nil, fmt.Errorf("policy: %s normalization needs stats for %q (stats have %v)", mode, key, stats.Features())
		}
		n, err := NewNormalizer(mode, st, dim, per)
		if err != nil {
			return nil, fmt.Errorf("policy: stats for %q: %w", key, err)
		}
		return n, nil
	}
	var ns NormSpec
	if spec.Normalization != nil {
		ns = *spec.Normalization
	}

	// Output and action.
	outs := sess.Outputs()
	if len(outs) == 0 {
		return nil, errors.New("policy: the model has no outputs")
	}
	p.out = outs[0]
	if spec.Action.Output != "" {
		if p.out = find(outs, spec.Action.Output); p.out == nil {
			return nil, fmt.Errorf("policy: the model has no output %q for the action (outputs: %s)", spec.Action.Output, names(outs))
		}
	} else if spec.Recurrent != nil && p.out.Name == spec.Recurrent.Output && len(outs) > 1 {
		p.out = outs[1]
	}
	aj := spec.ActionJoints()
	A := len(aj)
	total := numel(p.out.Shape)
	if total%A != 0 {
		return nil, fmt.Errorf("policy: output %q %s has %d values, not a whole number of %d-joint actions",
			p.out.Name, ShapeString(p.out.Shape), total, A)
	}
	p.chunkN = total / A
	if c := spec.Action.Chunk.Size; c > 0 && c != p.chunkN {
		return nil, fmt.Errorf("policy: output %q %s holds %d actions of %d joints, the spec says chunks of %d",
			p.out.Name, ShapeString(p.out.Shape), p.chunkN, A, c)
	}
	p.actIdx = make([]int, A)
	p.actScale = make([]float64, A)
	p.actOffset = make([]float64, A)
	for k, name := range aj {
		pi := polIndex[name]
		p.actIdx[k] = p.jointIdx[pi]
		p.mask |= 1 << p.actIdx[k]
		p.actScale[k] = pick(spec.Action.Scale, k, 1)
		switch spec.Action.Offset {
		case "default":
			p.actOffset[k] = p.defaults[pi]
		case "values":
			p.actOffset[k] = spec.Action.Offsets[k]
		}
	}
	if c := spec.Action.Clip; c != nil {
		p.clip, p.clipLo, p.clipHi = true, c[0], c[1]
	}
	var err error
	if p.actNorm, err = norm(spec.Action.Normalize, spec.Action.StatsKey, A, 1, ns.Action); err != nil {
		return nil, err
	}
	p.lastAction = make([]float64, A)

	// Inputs.
	ins := sess.Inputs()
	used := map[string]bool{}
	for i := range spec.Inputs {
		is := &spec.Inputs[i]
		var t *Tensor
		if is.Name == "" {
			var free []*Tensor
			for _, x := range ins {
				if spec.Recurrent == nil || x.Name != spec.Recurrent.Input {
					free = append(free, x)
				}
			}
			if len(free) != 1 || len(spec.Inputs) != 1 {
				return nil, fmt.Errorf("policy: the spec's input has no name and the model has inputs %s: name it", names(ins))
			}
			t = free[0]
		} else if t = find(ins, is.Name); t == nil {
			return nil, fmt.Errorf("policy: the model has no input %q (inputs: %s)", is.Name, names(ins))
		}
		used[t.Name] = true
		b := &inputBinding{spec: is, t: t, frameN: is.FrameDim(spec)}
		if want := b.frameN * is.History; want != len(t.Data) {
			return nil, fmt.Errorf("policy: input %q is %s (%d values) but the spec builds %d (%d per frame × history %d)",
				t.Name, ShapeString(t.Shape), len(t.Data), want, b.frameN, is.History)
		}
		if is.History == 1 {
			b.frame = t.Data // no history: terms are written straight into the tensor
		} else {
			b.frame = make([]float32, b.frameN)
			b.hist = make([]float32, b.frameN*is.History)
		}
		off := 0
		for k := range is.Terms {
			ts := &is.Terms[k]
			tb := termBinding{spec: ts, dim: ts.Dim(spec)}
			b.offsets = append(b.offsets, off)
			off += tb.dim
			tb.scale = make([]float64, tb.dim)
			for e := range tb.scale {
				tb.scale[e] = pick(ts.Scale, e, 1)
			}
			switch ts.Kind {
			case TermJointPos, TermJointPosRel, TermJointVel, TermState:
				js := ts.Joints
				if js == nil {
					js = spec.Joints
				}
				for _, n := range js {
					tb.pol = append(tb.pol, polIndex[n])
					tb.joints = append(tb.joints, p.jointIdx[polIndex[n]])
				}
				if ts.Kind == TermState {
					if tb.norm, err = norm(ts.Normalize, ts.StatsKey, tb.dim, 1, ns.State); err != nil {
						return nil, err
					}
				}
			case TermCommand:
				for _, c := range ts.Components {
					tb.cmds = append(tb.cmds, spec.Command(c))
				}
			case TermImage:
				src := cfg.Images[ts.Camera]
				if src == nil {
					return nil, fmt.Errorf("policy: input %q needs camera %q; none is configured", t.Name, ts.Camera)
				}
				tb.img = src
				tb.imgBuf = make([]byte, 3*ts.Width*ts.Height)
				if tb.norm, err = norm(ts.Normalize, ts.StatsKey, tb.dim, ts.Width*ts.Height, ns.Images); err != nil {
					return nil, err
				}
			}
			b.terms = append(b.terms, tb)
		}
		p.inputs = append(p.inputs, b)
	}
	if r := spec.Recurrent; r != nil {
		if p.carryIn = find(ins, r.Input); p.carryIn == nil {
			return nil, fmt.Errorf("policy: the model has no carry input %q (inputs: %s)", r.Input, names(ins))
		}
		if p.carryOut = find(outs, r.Output); p.carryOut == nil {
			return nil, fmt.Errorf("policy: the model has no carry output %q (outputs: %s)", r.Output, names(outs))
		}
		if len(p.carryIn.Data) != len(p.carryOut.Data) {
			return nil, fmt.Errorf("policy: carry input %q %s and output %q %s differ in size",
				r.Input, ShapeString(p.carryIn.Shape), r.Output, ShapeString(p.carryOut.Shape))
		}
		used[r.Input] = true
		p.carry = make([]float32, len(p.carryIn.Data))
		p.initCarry = make([]float32, len(p.carryIn.Data))
		if cfg.InitCarry != nil {
			if len(cfg.InitCarry) != len(p.initCarry) {
				return nil, fmt.Errorf("policy: the init graph gives %d carry values, the model's carry %q holds %d",
					len(cfg.InitCarry), r.Input, len(p.initCarry))
			}
			copy(p.initCarry, cfg.InitCarry)
		}
	}
	for _, x := range ins {
		if !used[x.Name] {
			return nil, fmt.Errorf("policy: the spec does not say how to fill the model's input %q %s", x.Name, ShapeString(x.Shape))
		}
	}
	if ph := spec.Phase; ph != nil {
		p.phase = make([]float64, len(ph.Offsets))
		p.phaseDt = 2 * math.Pi / (spec.Rate * ph.Period)
	}
	p.cmdStand = [3]int{spec.Command("lin_vel_x"), spec.Command("lin_vel_y"), spec.Command("ang_vel_yaw")}
	return p, nil
}

func pick(v []float64, i int, def float64) float64 {
	switch len(v) {
	case 0:
		return def
	case 1:
		return v[0]
	}
	return v[i]
}

// Spec is the policy's spec.
func (p *Policy) Spec() *Spec { return p.spec }

// Mask has bit i set for each robot joint the policy drives.
func (p *Policy) Mask() uint64 { return p.mask }

// ChunkSize is how many steps one inference yields (1 for MLPs).
func (p *Policy) ChunkSize() int { return p.chunkN }

// Defaults are the default joint positions in policy order.
func (p *Policy) Defaults() []float64 { return p.defaults }

// NewChunk allocates a chunk big enough for this policy's output.
func (p *Policy) NewChunk() *Chunk {
	return &Chunk{Targets: make([][robot.MaxJoints]float64, p.chunkN), Raw: make([]float32, p.chunkN*len(p.actIdx))}
}

// Reset clears the history, the last action, the gait phase and the carry;
// the next Infer starts afresh.
func (p *Policy) Reset() {
	p.started = false
}

func (p *Policy) reset() {
	for _, b := range p.inputs {
		clear(b.hist)
		b.head, b.filled = 0, false
	}
	clear(p.lastAction)
	if p.carry != nil {
		copy(p.carry, p.initCarry)
	}
	if ph := p.spec.Phase; ph != nil {
		copy(p.phase, ph.Offsets)
	}
	p.standing = false
	p.lastStep = -1
	p.started = true
}

// Infer runs one policy step on o and writes the resulting actions into c
// (from NewChunk). It does not allocate.
func (p *Policy) Infer(o *Observation, c *Chunk) error {
	if o.Reset || !p.started {
		p.reset()
	}
	p.advancePhase(o)
	for _, b := range p.inputs {
		if err := p.fill(b, o); err != nil {
			return err
		}
	}
	if p.carryIn != nil {
		copy(p.carryIn.Data, p.carry)
	}
	if err := p.sess.Run(); err != nil {
		return err
	}
	if p.carryOut != nil {
		copy(p.carry, p.carryOut.Data)
	}
	p.decode(o.Step, c)
	p.lastStep = o.Step
	return nil
}

func (p *Policy) advancePhase(o *Observation) {
	ph := p.spec.Phase
	if ph == nil {
		return
	}
	k := int64(1)
	if p.lastStep >= 0 && o.Step > p.lastStep {
		k = o.Step - p.lastStep
	}
	for i := range p.phase {
		p.phase[i] = math.Mod(p.phase[i]+float64(k)*p.phaseDt+math.Pi, 2*math.Pi) - math.Pi
	}
	if ph.StandThreshold <= 0 {
		return
	}
	cmd := func(i int) float64 {
		if i < 0 {
			return 0
		}
		return o.Commands[i]
	}
	lin := math.Hypot(cmd(p.cmdStand[0]), cmd(p.cmdStand[1]))
	if lin < ph.StandThreshold && math.Abs(cmd(p.cmdStand[2])) < ph.StandThreshold {
		for i := range p.phase {
			p.phase[i] = math.Pi
		}
		p.standing = true
	} else if p.standing {
		copy(p.phase, ph.Offsets)
		p.standing = false
	}
}

// fill builds the current frame of one input, pushes it into the history and
// writes the input tensor in the spec's layout.
func (p *Policy) fill(b *inputBinding, o *Observation) error {
	for k := range b.terms {
		tb := &b.terms[k]
		dst := b.frame[b.offsets[k] : b.offsets[k]+tb.dim]
		ts := tb.spec
		if ts.Kind == TermImage {
			if err := tb.img.LatestImage(tb.imgBuf, ts.Width, ts.Height); err != nil {
				return fmt.Errorf("policy: camera %s: %w", ts.Camera, err)
			}
			hw := ts.Width * ts.Height
			for c := 0; c < 3; c++ {
				for px := 0; px < hw; px++ {
					v := float64(tb.imgBuf[px*3+c]) / 255
					i := c*hw + px
					dst[i] = float32(clipTo(ts.Clip, tb.norm.Apply(i, v)))
				}
			}
			continue
		}
		p.termValues(tb, o, dst)
	}
	// History ring: frames live at hist[f*F:(f+1)*F]; head is the oldest.
	H, F := b.spec.History, b.frameN
	if H == 1 {
		return nil
	}
	if !b.filled {
		b.filled = true
		for f := 0; f < H; f++ {
			if b.spec.Fill == "first" || f == H-1 {
				copy(b.hist[f*F:], b.frame)
			} else {
				clear(b.hist[f*F : (f+1)*F])
			}
		}
		b.head = 0
	} else {
		copy(b.hist[b.head*F:], b.frame)
		b.head = (b.head + 1) % H
	}
	out := b.t.Data
	if b.spec.Layout == LayoutFrame || H == 1 {
		for h := 0; h < H; h++ {
			f := (b.head + h) % H
			copy(out[h*F:], b.hist[f*F:(f+1)*F])
		}
		return nil
	}
	o2 := 0
	for k := range b.terms {
		off, dim := b.offsets[k], b.terms[k].dim
		for h := 0; h < H; h++ {
			f := (b.head + h) % H
			copy(out[o2:], b.hist[f*F+off:f*F+off+dim])
			o2 += dim
		}
	}
	return nil
}

// termValues writes one term's scaled, normalized, clipped values.
func (p *Policy) termValues(tb *termBinding, o *Observation, dst []float32) {
	s, ts := &o.State, tb.spec
	switch ts.Kind {
	case TermJointPos, TermState:
		for e, j := range tb.joints {
			tb.put(dst, e, s.Position[j])
		}
	case TermJointPosRel:
		for e, j := range tb.joints {
			tb.put(dst, e, s.Position[j]-p.defaults[tb.pol[e]])
		}
	case TermJointVel:
		for e, j := range tb.joints {
			tb.put(dst, e, s.Velocity[j])
		}
	case TermLastAction:
		for e, v := range p.lastAction {
			tb.put(dst, e, v)
		}
	case TermProjectedGravity:
		for e, v := range o.Gravity {
			tb.put(dst, e, v)
		}
	case TermGyro:
		for e, v := range o.Gyro {
			tb.put(dst, e, v)
		}
	case TermCommand:
		for e, c := range tb.cmds {
			tb.put(dst, e, o.Commands[c])
		}
	case TermPhaseSin:
		for e, ph := range p.phase {
			tb.put(dst, e, math.Sin(ph))
		}
	case TermPhaseCos:
		for e, ph := range p.phase {
			tb.put(dst, e, math.Cos(ph))
		}
	case TermConstant:
		for e, v := range ts.Value {
			tb.put(dst, e, v)
		}
	}
}

// put scales, normalizes and clips element e and stores it as float32.
func (tb *termBinding) put(dst []float32, e int, v float64) {
	v *= tb.scale[e]
	if tb.norm != nil {
		v = tb.norm.Apply(e, v)
	}
	if c := tb.spec.Clip; c != nil {
		v = max(c[0], min(c[1], v))
	}
	dst[e] = float32(v)
}

func clipTo(c []float64, v float64) float64 {
	if c == nil {
		return v
	}
	return max(c[0], min(c[1], v))
}

// decode turns the output tensor into targets.
func (p *Policy) decode(step int64, c *Chunk) {
	A := len(p.actIdx)
	data := p.out.Data
	c.Step, c.N, c.NaN = step, p.chunkN, false
	for k := 0; k < p.chunkN; k++ {
		tg := &c.Targets[k]
		for j := 0; j < A; j++ {
			raw := float64(data[k*A+j])
			if math.IsNaN(raw) || math.IsInf(raw, 0) {
				c.NaN = true
			}
			if p.clip {
				raw = max(p.clipLo, min(p.clipHi, raw))
			}
			c.Raw[k*A+j] = float32(raw)
			if k == 0 {
				p.lastAction[j] = raw
			}
			v := p.actNorm.Invert(j, raw)
			tg[p.actIdx[j]] = v*p.actScale[j] + p.actOffset[j]
		}
	}
}
