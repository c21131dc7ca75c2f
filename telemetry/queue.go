package telemetry

import "sync"

// eventQueue is the bounded offline buffer of the events topic: a FIFO that
// drops its oldest event when full (and counts it). Push never blocks.
type eventQueue struct {
	mu      sync.Mutex
	buf     []Event // ring of cap events
	head    int     // index of the oldest
	n       int
	seq     uint64 // of the last event pushed
	dropped uint64
	ready   chan struct{} // signalled (non-blocking) when an event arrives
}

func newEventQueue(size int) *eventQueue {
	return &eventQueue{buf: make([]Event, size), ready: make(chan struct{}, 1)}
}

// push numbers e (Seq) and appends it; false if the oldest event was
// dropped to make room.
func (q *eventQueue) push(e Event) bool {
	q.mu.Lock()
	q.seq++
	e.Seq = q.seq
	ok := true
	if q.n == len(q.buf) {
		q.buf[q.head] = Event{}
		q.head = (q.head + 1) % len(q.buf)
		q.n--
		q.dropped++
		ok = false
	}
	q.buf[(q.head+q.n)%len(q.buf)] = e
	q.n++
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return ok
}

// peek returns the oldest event without removing it.
func (q *eventQueue) peek() (Event, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return Event{}, false
	}
	return q.buf[q.head], true
}

// pop removes the oldest event if it is still the one with seq (it may have
// been dropped while it was being published).
func (q *eventQueue) pop(seq uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n > 0 && q.buf[q.head].Seq == seq {
		q.buf[q.head] = Event{}
		q.head = (q.head + 1) % len(q.buf)
		q.n--
	}
}

// stats returns the backlog and the number of events dropped so far.
func (q *eventQueue) stats() (backlog int, dropped uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n, q.dropped
}
