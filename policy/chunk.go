package policy

import (
	"math"
	"sync/atomic"

	"github.com/anther-robotics/anther/robot"
)

// plan is what the loop reads: joint targets for consecutive policy steps
// starting at first. It is written by the inference goroutine and handed to
// the loop through a triple buffer.
type plan struct {
	seq     uint64
	epoch   uint64
	valid   bool
	first   int64
	n       int
	targets [][robot.MaxJoints]float64
}

// aggregator merges overlapping chunks into a plan indexed by absolute
// policy step. It lives on the inference goroutine.
type aggregator struct {
	mode   string
	weight float64 // AggWeighted: weight of the new chunk
	coeff  float64 // AggEnsemble
	joints []int   // robot joints to aggregate
	val    [][robot.MaxJoints]float64
	wsum   []float64
	count  []int
	stepOf []int64
	end    int64
	seq    uint64
}

func newAggregator(c ChunkSpec, chunkN int, joints []int) *aggregator {
	n := 2*chunkN + 2
	g := &aggregator{mode: c.Aggregation, weight: c.Weight, coeff: c.EnsembleCoeff, joints: joints,
		val: make([][robot.MaxJoints]float64, n), wsum: make([]float64, n), count: make([]int, n), stepOf: make([]int64, n)}
	g.reset()
	return g
}

func (g *aggregator) reset() {
	for i := range g.stepOf {
		g.stepOf[i] = -1
	}
	g.end = 0
}

// add merges chunk c, dropping steps before cur (already past).
func (g *aggregator) add(c *Chunk, cur int64) {
	n := int64(len(g.stepOf))
	for k := 0; k < c.N; k++ {
		s := c.Step + int64(k)
		if s < cur {
			continue
		}
		slot := s % n
		if g.stepOf[slot] != s {
			g.stepOf[slot], g.count[slot], g.wsum[slot] = s, 0, 0
		}
		v, nv := &g.val[slot], &c.Targets[k]
		switch {
		case g.count[slot] == 0 || g.mode == AggLatest:
			for _, j := range g.joints {
				v[j] = nv[j]
			}
			g.wsum[slot] = 1
		case g.mode == AggWeighted:
			for _, j := range g.joints {
				v[j] = (1-g.weight)*v[j] + g.weight*nv[j]
			}
		case g.mode == AggEnsemble:
			// ACT temporal ensembling: the i-th prediction for a step
			// (i = 0 the oldest) weighs exp(−coeff·i).
			w := math.Exp(-g.coeff * float64(g.count[slot]))
			ws := g.wsum[slot]
			for _, j := range g.joints {
				v[j] = (v[j]*ws + nv[j]*w) / (ws + w)
			}
			g.wsum[slot] = ws + w
		}
		g.count[slot]++
		if s+1 > g.end {
			g.end = s + 1
		}
	}
}

// publish writes the plan from step cur on into dst.
func (g *aggregator) publish(dst *plan, cur int64, epoch uint64) {
	g.seq++
	dst.seq, dst.epoch, dst.first, dst.valid = g.seq, epoch, cur, true
	n := int64(len(g.stepOf))
	k := 0
	for s := cur; s < g.end && k < len(dst.targets); s++ {
		slot := s % n
		if g.stepOf[slot] != s {
			break
		}
		dst.targets[k] = g.val[slot]
		k++
	}
	dst.n = k
}

// triple is a wait-free single-writer single-reader triple buffer: the
// writer fills Back() and Publish()es it; the reader's Read() returns the
// newest published buffer, which stays the reader's until its next Read.
type triple[T any] struct {
	buf   [3]T
	mid   atomic.Uint32 // index of the middle buffer | dirty bit
	back  uint32        // writer's
	front uint32        // reader's
}

const tripleDirty = 4

func (t *triple[T]) init() {
	t.back, t.front = 0, 2
	t.mid.Store(1)
}

// Back is the buffer the writer fills next.
func (t *triple[T]) Back() *T { return &t.buf[t.back] }

// Publish hands the back buffer to the reader.
func (t *triple[T]) Publish() {
	old := t.mid.Swap(t.back | tripleDirty)
	t.back = old &^ tripleDirty
}

// Read returns the newest buffer and whether it is new since the last Read.
func (t *triple[T]) Read() (*T, bool) {
	if t.mid.Load()&tripleDirty == 0 {
		return &t.buf[t.front], false
	}
	old := t.mid.Swap(t.front)
	t.front = old &^ tripleDirty
	return &t.buf[t.front], true
}
