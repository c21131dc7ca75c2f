// Package telemetry publishes what the robot is doing to the outside:
// Prometheus metrics (LoopCollector, with hooks for the parts other
// packages own) and the MQTT bridge (Bridge: state, events, status, timing
// and fleet commands on anther/<robot-id>/…, payloads in docs/mqtt/), plus
// an embedded MQTT broker for robots with none configured (Broker). It reads
// the loop's lock-free counters and steps; nothing here runs on the loop's
// thread.
package telemetry

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anther-robotics/anther/control"
)

// LoopCollector exports a control loop's timing and counters as Prometheus
// metrics, and those of the parts registered with its Add methods (bus
// drivers, cameras, policy runner, recorder, uploader). It reads them at
// scrape time, so neither the loop nor the parts do extra work.
type LoopCollector struct {
	loop     *control.Loop
	lateness *prometheus.Desc
	tick     *prometheus.Desc
	ticks    *prometheus.Desc
	overruns *prometheus.Desc
	missed   *prometheus.Desc
	busErrs  *prometheus.Desc
	lc       *prometheus.Desc
	parts    partDescs

	mu        sync.Mutex
	motors    []MotorErrorSource
	cameras   []CameraSource
	policies  []PolicyLatencySource
	recorders []RecorderSource
	uploads   []UploadSource
}

// MotorErrors is one motor's error counts since its bus was opened.
type MotorErrors struct {
	Bus      string // bus name from the description
	Joint    string // joint name
	ID       int    // motor ID on the bus
	NoReply  uint64 // reads it did not answer (after retries)
	Corrupt  uint64 // replies lost to damage (CRC, framing)
	Hardware uint64 // hardware alerts (overheat, overload, electrical, voltage)
}

// MotorErrorSource is a bus driver that counts errors per motor
// (drivers/dynamixel and drivers/feetech implement it, e.g. from their
// Health). MotorErrors appends one entry per motor to dst; it is called at
// scrape time from the HTTP goroutine and must be safe for that.
type MotorErrorSource interface {
	MotorErrors(dst []MotorErrors) []MotorErrors
}

// CameraStats is one camera's frame counters.
type CameraStats struct {
	Name    string  // camera name from the description
	Frames  uint64  // frames delivered
	Dropped uint64  // frames lost (decoder behind, stale, capture errors)
	FPS     float64 // measured frame rate over the last second or so
}

// CameraSource is the camera layer (drivers/camera); CameraStats appends
// one entry per camera to dst. Called at scrape time.
type CameraSource interface {
	CameraStats(dst []CameraStats) []CameraStats
}

// PolicyLatencySource is the policy runner (policy/): the histogram of its
// inference latencies (one Act or chunk computation each), recorded
// lock-free by the runner, and the name of the model.
type PolicyLatencySource interface {
	PolicyLatency() (model string, h *control.Histogram)
}

// RecorderStats is the episode recorder's queue state.
type RecorderStats struct {
	Backlog int    // frames waiting to be written or encoded
	Frames  uint64 // frames written
	Dropped uint64 // frames dropped because the writer was behind
}

// RecorderSource is the episode recorder (dataset/).
type RecorderSource interface {
	RecorderStats() RecorderStats
}

// UploadSource is the dataset uploader (dataset/hub): bytes sent so far.
type UploadSource interface {
	UploadedBytes() uint64
}

type partDescs struct {
	motorErrs, camFrames, camDropped, camFPS     *prometheus.Desc
	policyLat, recBacklog, recFrames, recDropped *prometheus.Desc
	uploadBytes                                  *prometheus.Desc
}

// AddMotorErrors registers a bus driver's per-motor error counters
// (anther_bus_motor_errors_total). Safe from any goroutine, at any time.
func (c *LoopCollector) AddMotorErrors(src MotorErrorSource) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.motors = append(c.motors, src)
}

// AddCameras registers cameras (anther_camera_frames_total,
// anther_camera_dropped_frames_total, anther_camera_fps).
func (c *LoopCollector) AddCameras(src CameraSource) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cameras = append(c.cameras, src)
}

// AddPolicy registers a policy runner (anther_policy_latency_seconds).
func (c *LoopCollector) AddPolicy(src PolicyLatencySource) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.policies = append(c.policies, src)
}

// AddRecorder registers the episode recorder (anther_recorder_backlog,
// anther_recorder_frames_total, anther_recorder_dropped_frames_total).
func (c *LoopCollector) AddRecorder(src RecorderSource) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recorders = append(c.recorders, src)
}

// AddUploads registers the dataset uploader (anther_upload_bytes_total).
func (c *LoopCollector) AddUploads(src UploadSource) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.uploads = append(c.uploads, src)
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
		parts: partDescs{
			motorErrs:   d("bus_motor_errors_total", "Errors per motor, by kind (no_reply, corrupt, hardware).", "bus", "joint", "id", "kind"),
			camFrames:   d("camera_frames_total", "Frames delivered per camera.", "camera"),
			camDropped:  d("camera_dropped_frames_total", "Frames lost per camera.", "camera"),
			camFPS:      d("camera_fps", "Measured frame rate per camera.", "camera"),
			policyLat:   d("policy_latency_seconds", "Policy inference latency.", "model"),
			recBacklog:  d("recorder_backlog", "Frames waiting in the episode recorder."),
			recFrames:   d("recorder_frames_total", "Frames written by the episode recorder."),
			recDropped:  d("recorder_dropped_frames_total", "Frames the episode recorder dropped because it was behind."),
			uploadBytes: d("upload_bytes_total", "Dataset bytes uploaded."),
		},
	}
}

// Describe implements prometheus.Collector.
func (c *LoopCollector) Describe(ch chan<- *prometheus.Desc) {
	p := &c.parts
	for _, d := range []*prometheus.Desc{c.lateness, c.tick, c.ticks, c.overruns, c.missed, c.busErrs, c.lc,
		p.motorErrs, p.camFrames, p.camDropped, p.camFPS, p.policyLat, p.recBacklog, p.recFrames, p.recDropped, p.uploadBytes} {
		ch <- d
	}
}

// bucketEdges are the histogram edges exported to Prometheus, seconds.
var bucketEdges = []time.Duration{
	10 * time.Microsecond, 25 * time.Microsecond, 50 * time.Microsecond, 100 * time.Microsecond,
	200 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond,
	5 * time.Millisecond, 10 * time.Millisecond, 50 * time.Millisecond,
}

func histogram(desc *prometheus.Desc, h *control.Histogram, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(bucketEdges))
	for _, e := range bucketEdges {
		buckets[e.Seconds()] = h.CountBelow(e)
	}
	n := h.Count()
	return prometheus.MustNewConstHistogram(desc, n, h.Mean().Seconds()*float64(n), buckets, labels...)
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
	c.collectParts(ch)
}

// collectParts reads the registered parts.
func (c *LoopCollector) collectParts(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	motors, cameras, policies := c.motors, c.cameras, c.policies
	recorders, uploads := c.recorders, c.uploads
	c.mu.Unlock()
	p := &c.parts
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	var me []MotorErrors
	for _, src := range motors {
		me = src.MotorErrors(me[:0])
		for _, m := range me {
			id := strconv.Itoa(m.ID)
			counter(p.motorErrs, m.NoReply, m.Bus, m.Joint, id, "no_reply")
			counter(p.motorErrs, m.Corrupt, m.Bus, m.Joint, id, "corrupt")
			counter(p.motorErrs, m.Hardware, m.Bus, m.Joint, id, "hardware")
		}
	}
	var cs []CameraStats
	for _, src := range cameras {
		cs = src.CameraStats(cs[:0])
		for _, s := range cs {
			counter(p.camFrames, s.Frames, s.Name)
			counter(p.camDropped, s.Dropped, s.Name)
			ch <- prometheus.MustNewConstMetric(p.camFPS, prometheus.GaugeValue, s.FPS, s.Name)
		}
	}
	for _, src := range policies {
		if model, h := src.PolicyLatency(); h != nil {
			ch <- histogram(p.policyLat, h, model)
		}
	}
	var rs RecorderStats
	for _, src := range recorders {
		s := src.RecorderStats()
		rs.Backlog += s.Backlog
		rs.Frames += s.Frames
		rs.Dropped += s.Dropped
	}
	if len(recorders) > 0 {
		ch <- prometheus.MustNewConstMetric(p.recBacklog, prometheus.GaugeValue, float64(rs.Backlog))
		counter(p.recFrames, rs.Frames)
		counter(p.recDropped, rs.Dropped)
	}
	var up uint64
	for _, src := range uploads {
		up += src.UploadedBytes()
	}
	if len(uploads) > 0 {
		counter(p.uploadBytes, up)
	}
}
