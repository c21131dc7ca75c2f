package control

import (
	"sync/atomic"
	"time"
)

// Histogram counts durations in fixed buckets: 1 µs wide up to 1 ms, 100 µs
// wide up to 100 ms, then one overflow bucket. Add is lock-free and does not
// allocate (the loop records, other goroutines read); percentiles are exact
// to the bucket width.
type Histogram struct {
	buckets [histBuckets]atomic.Uint64
	count   atomic.Uint64
	sum     atomic.Int64
	max     atomic.Int64
}

const (
	histFine    = 1000 // 1 µs buckets below 1 ms
	histCoarse  = 990  // 100 µs buckets from 1 ms to 100 ms
	histBuckets = histFine + histCoarse + 1
)

func bucketOf(d time.Duration) int {
	us := int64(d / time.Microsecond)
	switch {
	case us < 0:
		return 0
	case us < histFine:
		return int(us)
	case us < 100000:
		return histFine + int((us-histFine)/100)
	}
	return histBuckets - 1
}

// upper returns the upper edge of bucket i.
func upper(i int) time.Duration {
	if i < histFine {
		return time.Duration(i+1) * time.Microsecond
	}
	if i < histBuckets-1 {
		return time.Duration(histFine+(i-histFine+1)*100) * time.Microsecond
	}
	return time.Duration(1<<63 - 1)
}

// Add records one duration. Negative durations count as 0.
func (h *Histogram) Add(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.buckets[bucketOf(d)].Add(1)
	h.count.Add(1)
	h.sum.Add(int64(d))
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			break
		}
	}
}

// Reset clears the histogram. Call it only while nothing else Adds.
func (h *Histogram) Reset() {
	for i := range h.buckets {
		h.buckets[i].Store(0)
	}
	h.count.Store(0)
	h.sum.Store(0)
	h.max.Store(0)
}

// Count is the number of recorded durations.
func (h *Histogram) Count() uint64 { return h.count.Load() }

// Max is the largest recorded duration.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean is the average recorded duration.
func (h *Histogram) Mean() time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / int64(n))
}

// Quantile returns the upper bucket edge below which a fraction q of the
// durations lie (capped by the maximum seen).
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.5)
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen >= rank {
			return min(upper(i), h.Max())
		}
	}
	return h.Max()
}

// Summary is a histogram's headline numbers, in microseconds, as the API
// and `anther bench loop` report them.
type Summary struct {
	Count  uint64  `json:"count"`
	MeanUS float64 `json:"mean_us"`
	P50US  float64 `json:"p50_us"`
	P99US  float64 `json:"p99_us"`
	P999US float64 `json:"p99_9_us"`
	MaxUS  float64 `json:"max_us"`
}

// Summary computes the headline numbers.
func (h *Histogram) Summary() Summary {
	us := func(d time.Duration) float64 { return float64(d) / 1e3 }
	return Summary{
		Count:  h.Count(),
		MeanUS: us(h.Mean()),
		P50US:  us(h.Quantile(0.50)),
		P99US:  us(h.Quantile(0.99)),
		P999US: us(h.Quantile(0.999)),
		MaxUS:  us(h.Max()),
	}
}

// Timing is the loop's timing record: how late each tick woke, how long each
// section of the tick took, and how often the loop overran its period.
type Timing struct {
	Lateness Histogram // wake time − deadline
	Read     Histogram // bus.Read
	Intent   Histogram // choosing the target
	Limits   Histogram // safety limits
	Write    Histogram // bus.Write
	Tick     Histogram // whole tick, read to publish
	Ticks    atomic.Uint64
	Overruns atomic.Uint64 // ticks that ended after the next deadline
	Missed   atomic.Uint64 // periods skipped after overruns
}

// TimingReport is a Timing snapshot for the API, logs and benchmarks.
type TimingReport struct {
	Ticks    uint64  `json:"ticks"`
	Overruns uint64  `json:"overruns"`
	Missed   uint64  `json:"missed"`
	Lateness Summary `json:"lateness"`
	Read     Summary `json:"read"`
	Intent   Summary `json:"intent"`
	Limits   Summary `json:"limits"`
	Write    Summary `json:"write"`
	Tick     Summary `json:"tick"`
}

// Report summarises t.
func (t *Timing) Report() TimingReport {
	return TimingReport{
		Ticks: t.Ticks.Load(), Overruns: t.Overruns.Load(), Missed: t.Missed.Load(),
		Lateness: t.Lateness.Summary(), Read: t.Read.Summary(), Intent: t.Intent.Summary(),
		Limits: t.Limits.Summary(), Write: t.Write.Summary(), Tick: t.Tick.Summary(),
	}
}

// CountBelow is the number of recorded durations at or below edge, to the
// bucket width.
func (h *Histogram) CountBelow(edge time.Duration) uint64 {
	var n uint64
	for i := range h.buckets {
		if upper(i) > edge {
			break
		}
		n += h.buckets[i].Load()
	}
	return n
}
