package control

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/anther-robotics/anther/robot"
)

// Monitor is the non-real-time side of the loop: it drains a ring the loop
// pushes into, keeps the latest step for readers (HTTP, metrics), logs
// lifecycle transitions once each, and warns about overruns and bus errors
// at most once per second. It never slows the loop: if it falls behind, the
// ring drops and counts.
type Monitor struct {
	loop *Loop
	ring *Ring
	log  *slog.Logger

	mu     sync.Mutex
	latest Step
	have   bool
	subs   []func(*Step)
}

// NewMonitor returns a monitor draining ring, which must be one of loop's sinks.
func NewMonitor(loop *Loop, ring *Ring, log *slog.Logger) *Monitor {
	return &Monitor{loop: loop, ring: ring, log: log}
}

// Latest copies the newest step into dst; false if there is none yet.
func (m *Monitor) Latest(dst *Step) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.have {
		return false
	}
	*dst = m.latest
	return true
}

// Subscribe calls fn (on the monitor's goroutine) with every step drained.
// fn must be quick; call before Run.
func (m *Monitor) Subscribe(fn func(*Step)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.subs = append(m.subs, fn)
}

// Run drains the ring every poll interval until ctx ends.
func (m *Monitor) Run(ctx context.Context, poll time.Duration) error {
	t := time.NewTicker(poll)
	defer t.Stop()
	var (
		st        Step
		lastLC    = robot.Lifecycle(-1)
		overruns  uint64
		busErrs   uint64
		lastWarn  time.Time
		lastFault uint64
	)
	for {
		for m.ring.Pop(&st) {
			if st.Lifecycle != lastLC {
				m.log.Info("lifecycle", "state", st.Lifecycle.String(), "mode", st.Mode.String())
				lastLC = st.Lifecycle
			}
			if st.Faults != lastFault {
				if st.Faults != 0 {
					m.log.Warn("joint faults", "joints", st.Faults)
				}
				lastFault = st.Faults
			}
			m.mu.Lock()
			m.latest, m.have = st, true
			subs := m.subs
			m.mu.Unlock()
			for _, fn := range subs {
				fn(&st)
			}
		}
		if now := time.Now(); now.Sub(lastWarn) >= time.Second {
			if o := m.loop.timing.Overruns.Load(); o != overruns {
				m.log.Warn("control loop overran its period", "overruns", o-overruns, "total", o, "period", m.loop.period)
				overruns, lastWarn = o, now
			}
			if e := m.loop.BusErrors(); e != busErrs {
				m.log.Warn("bus errors", "new", e-busErrs, "total", e, "last", m.loop.LastBusError())
				busErrs, lastWarn = e, now
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
