package policy

import (
	"sync/atomic"
	"time"
)

// Latency is a lock-free histogram of inference durations: 100 ns buckets
// up to 100 µs, 1 µs buckets up to 10 ms, 100 µs buckets up to 100 ms, then
// one overflow bucket. Add does not allocate; readers may run concurrently.
type Latency struct {
	buckets [latBuckets]atomic.Uint64
	count   atomic.Uint64
	sum     atomic.Int64
	max     atomic.Int64
}

const (
	latFine    = 1000 // 100 ns
	latMid     = 9900 // 1 µs, 100 µs..10 ms
	latCoarse  = 900  // 100 µs, 10..100 ms
	latBuckets = latFine + latMid + latCoarse + 1
)

func latBucket(d time.Duration) int {
	ns := int64(d)
	switch {
	case ns < 0:
		return 0
	case ns < 100_000:
		return int(ns / 100)
	case ns < 10_000_000:
		return latFine + int((ns-100_000)/1000)
	case ns < 100_000_000:
		return latFine + latMid + int((ns-10_000_000)/100_000)
	}
	return latBuckets - 1
}

func latUpper(i int) time.Duration {
	switch {
	case i < latFine:
		return time.Duration(i+1) * 100
	case i < latFine+latMid:
		return time.Duration(100_000 + (i-latFine+1)*1000)
	case i < latBuckets-1:
		return time.Duration(10_000_000 + (i-latFine-latMid+1)*100_000)
	}
	return time.Duration(1<<63 - 1)
}

// Add records one duration.
func (h *Latency) Add(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.buckets[latBucket(d)].Add(1)
	h.count.Add(1)
	h.sum.Add(int64(d))
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// Count is the number of recorded durations.
func (h *Latency) Count() uint64 { return h.count.Load() }

// Quantile returns the upper edge of the bucket holding quantile q (0..1),
// capped at the maximum seen.
func (h *Latency) Quantile(q float64) time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.5)
	if rank < 1 {
		rank = 1
	}
	var c uint64
	for i := range h.buckets {
		c += h.buckets[i].Load()
		if c >= rank {
			return min(latUpper(i), time.Duration(h.max.Load()))
		}
	}
	return time.Duration(h.max.Load())
}

// LatencySummary is a latency distribution in microseconds.
type LatencySummary struct {
	Count  uint64  `json:"count"`
	MeanUS float64 `json:"mean_us"`
	P50US  float64 `json:"p50_us"`
	P99US  float64 `json:"p99_us"`
	MaxUS  float64 `json:"max_us"`
}

// Summary reports count, mean, p50, p99 and max.
func (h *Latency) Summary() LatencySummary {
	n := h.count.Load()
	s := LatencySummary{Count: n}
	if n == 0 {
		return s
	}
	us := func(d time.Duration) float64 { return float64(d) / 1e3 }
	s.MeanUS = float64(h.sum.Load()) / float64(n) / 1e3
	s.P50US = us(h.Quantile(0.5))
	s.P99US = us(h.Quantile(0.99))
	s.MaxUS = us(time.Duration(h.max.Load()))
	return s
}
