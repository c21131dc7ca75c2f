// Package telemetry publishes what the robot is doing to the outside:
// Prometheus metrics (and, with a later issue, the MQTT bridge). It reads
// the loop's lock-free counters and histograms; nothing here runs on the
// loop's thread.
package telemetry

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anther-robotics/anther/control"
)

// LoopCollector exports a control loop's timing and counters as Prometheus
// metrics. It reads them at scrape time, so the loop does no extra work.
type LoopCollector struct {
	loop     *control.Loop
	lateness *prometheus.Desc
	tick     *prometheus.Desc
	ticks    *prometheus.Desc
	overruns *prometheus.Desc
	missed   *prometheus.Desc
	busErrs  *prometheus.Desc
	lc       *prometheus.Desc
}

// NewLoopCollector returns a collector for loop, labelled with the robot name.
func NewLoopCollector(loop *control.Loop, robotName string) *LoopCollector {
	labels := prometheus.Labels{"robot": robotName}
	d := func(name, help string, vars ...string) *prometheus.Desc {
		return prometheus.NewDesc("anther_"+name, help, vars, labels)
	}
	return &LoopCollector{
		loop:     loop,
		lateness: d("loop_lateness_seconds", "How late each control tick woke after its deadline."),
		tick:     d("loop_tick_seconds", "Duration of each control tick, read to publish."),
		ticks:    d("loop_ticks_total", "Control ticks run."),
		overruns: d("loop_overruns_total", "Ticks that ended after the next deadline."),
		missed:   d("loop_missed_periods_total", "Periods skipped after overruns."),
		busErrs:  d("bus_errors_total", "Ticks whose bus read or write failed."),
		lc:       d("lifecycle", "Robot lifecycle state (1 for the current one).", "state"),
	}
}

// Describe implements prometheus.Collector.
func (c *LoopCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.lateness, c.tick, c.ticks, c.overruns, c.missed, c.busErrs, c.lc} {
		ch <- d
	}
}

// bucketEdges are the histogram edges exported to Prometheus, seconds.
var bucketEdges = []time.Duration{
	10 * time.Microsecond, 25 * time.Microsecond, 50 * time.Microsecond, 100 * time.Microsecond,
	200 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond,
	5 * time.Millisecond, 10 * time.Millisecond, 50 * time.Millisecond,
}

func histogram(desc *prometheus.Desc, h *control.Histogram) prometheus.Metric {
	buckets := make(map[float64]uint64, len(bucketEdges))
	for _, e := range bucketEdges {
		buckets[e.Seconds()] = h.CountBelow(e)
	}
	n := h.Count()
	return prometheus.MustNewConstHistogram(desc, n, h.Mean().Seconds()*float64(n), buckets)
}

// Collect implements prometheus.Collector.
func (c *LoopCollector) Collect(ch chan<- prometheus.Metric) {
	t := c.loop.Timing()
	ch <- histogram(c.lateness, &t.Lateness)
	ch <- histogram(c.tick, &t.Tick)
	ch <- prometheus.MustNewConstMetric(c.ticks, prometheus.CounterValue, float64(t.Ticks.Load()))
	ch <- prometheus.MustNewConstMetric(c.overruns, prometheus.CounterValue, float64(t.Overruns.Load()))
	ch <- prometheus.MustNewConstMetric(c.missed, prometheus.CounterValue, float64(t.Missed.Load()))
	ch <- prometheus.MustNewConstMetric(c.busErrs, prometheus.CounterValue, float64(c.loop.BusErrors()))
	cur := c.loop.Lifecycle()
	for _, s := range []string{"unconfigured", "inactive", "active", "holding", "fault", "estopped"} {
		v := 0.0
		if cur.String() == s {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.lc, prometheus.GaugeValue, v, s)
	}
}
