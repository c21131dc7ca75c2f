package teleop

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/robot"
)

// Event is one thing that happened: a lifecycle change, a safety trip, an
// operator action, a log line.
type Event struct {
	Seq   uint64         `json:"seq"`
	Time  time.Time      `json:"time"`
	Kind  string         `json:"kind"` // lifecycle, trip, operator, log, recording, policy, upload
	Level string         `json:"level,omitempty"`
	Msg   string         `json:"msg"`
	Attrs map[string]any `json:"attrs,omitempty"`
}

// Events keeps the most recent events and fans them out to subscribers
// (WebSocket clients, MQTT). Publishing never blocks: a subscriber that
// falls behind loses events and is told how many.
type Events struct {
	mu     sync.Mutex
	seq    uint64
	recent []Event // ring of the last cap events, oldest first
	subs   map[chan Event]struct{}
}

// NewEvents returns an empty event hub keeping the last 256 events.
func NewEvents() *Events {
	return &Events{subs: map[chan Event]struct{}{}}
}

// Publish records an event and hands it to every subscriber that has room.
func (e *Events) Publish(kind, level, msg string, attrs map[string]any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seq++
	ev := Event{Seq: e.seq, Time: time.Now(), Kind: kind, Level: level, Msg: msg, Attrs: attrs}
	e.recent = append(e.recent, ev)
	if len(e.recent) > 256 {
		e.recent = e.recent[len(e.recent)-256:]
	}
	for ch := range e.subs {
		select {
		case ch <- ev:
		default: // dropped; the client sees the gap in Seq
		}
	}
}

// Recent returns a copy of the kept events, oldest first.
func (e *Events) Recent() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Event(nil), e.recent...)
}

// Subscribe returns a channel of new events and a cancel function.
func (e *Events) Subscribe() (<-chan Event, func()) {
	ch := make(chan Event, 64)
	e.mu.Lock()
	e.subs[ch] = struct{}{}
	e.mu.Unlock()
	return ch, func() {
		e.mu.Lock()
		delete(e.subs, ch)
		e.mu.Unlock()
	}
}

// WatchLoop publishes lifecycle changes and safety trips seen in the
// monitor's steps. Call before the monitor runs.
func (e *Events) WatchLoop(mon *control.Monitor) {
	lastLC := robot.Lifecycle(-1)
	lastTrip := control.TripNone
	mon.Subscribe(func(st *control.Step) {
		if st.Lifecycle != lastLC {
			e.Publish("lifecycle", "info", "robot is "+st.Lifecycle.String(), map[string]any{"lifecycle": st.Lifecycle.String(), "tick": st.Seq})
			lastLC = st.Lifecycle
		}
		if st.Trip != lastTrip {
			if st.Trip != control.TripNone {
				e.Publish("trip", "warn", "safety trip: "+st.Trip.String(), map[string]any{"trip": st.Trip.String(), "tick": st.Seq})
			}
			lastTrip = st.Trip
		}
	})
}

// LogHandler is a slog.Handler that passes records to next and publishes
// those at or above level as "log" events.
type LogHandler struct {
	next   slog.Handler
	events *Events
	level  slog.Level
	attrs  []slog.Attr
}

// NewLogHandler tees next's records of level and above into events.
func NewLogHandler(next slog.Handler, events *Events, level slog.Level) *LogHandler {
	return &LogHandler{next: next, events: events, level: level}
}

// Enabled implements slog.Handler.
func (h *LogHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *LogHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= h.level {
		attrs := map[string]any{}
		for _, a := range h.attrs {
			attrs[a.Key] = a.Value.String()
		}
		r.Attrs(func(a slog.Attr) bool {
			attrs[a.Key] = a.Value.String()
			return true
		})
		h.events.Publish("log", r.Level.String(), r.Message, attrs)
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h *LogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &LogHandler{next: h.next.WithAttrs(as), events: h.events, level: h.level, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

// WithGroup implements slog.Handler.
func (h *LogHandler) WithGroup(name string) slog.Handler {
	return &LogHandler{next: h.next.WithGroup(name), events: h.events, level: h.level, attrs: h.attrs}
}
