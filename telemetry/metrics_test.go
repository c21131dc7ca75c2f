package telemetry

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
)

type fakeParts struct{ lat control.Histogram }

func (f *fakeParts) MotorErrors(dst []MotorErrors) []MotorErrors {
	return append(dst, MotorErrors{Bus: "main", Joint: "elbow", ID: 3, NoReply: 4, Corrupt: 1, Hardware: 2})
}

func (f *fakeParts) CameraStats(dst []CameraStats) []CameraStats {
	return append(dst, CameraStats{Name: "head", Frames: 300, Dropped: 2, FPS: 29.9})
}

func (f *fakeParts) PolicyLatency() (string, *control.Histogram) { return "act", &f.lat }
func (f *fakeParts) RecorderStats() RecorderStats {
	return RecorderStats{Backlog: 5, Frames: 900, Dropped: 1}
}
func (f *fakeParts) UploadedBytes() uint64 { return 1 << 20 }

// TestMetrics: the loop collector with every part hook registered, and the
// bridge's MQTT counters, gathered from one registry.
func TestMetrics(t *testing.T) {
	d, err := robot.Load("so101-follower")
	if err != nil {
		t.Fatal(err)
	}
	loop, err := control.New(control.Config{Rate: 100, Bus: sim.NewBus(d), Limits: control.LimitsFromDescription(d, 0.01)})
	if err != nil {
		t.Fatal(err)
	}
	lc := NewLoopCollector(loop, d.Name)
	parts := &fakeParts{}
	parts.lat.Add(3 * time.Millisecond)
	lc.AddMotorErrors(parts)
	lc.AddCameras(parts)
	lc.AddPolicy(parts)
	lc.AddRecorder(parts)
	lc.AddUploads(parts)
	b, _ := newTestBridge(t, nil)
	b.Observe(step(0, time.Unix(1, 0), robot.Active)) // offered, waiting in the ring
	b.Emit(Event{Kind: KindEpisode, Msg: "x"})
	reg := prometheus.NewRegistry()
	reg.MustRegister(lc, b)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		got[f.GetName()] = f
	}
	value := func(name string, labels map[string]string) (float64, bool) {
		f := got[name]
		if f == nil {
			return 0, false
		}
	next:
		for _, m := range f.GetMetric() {
			for k, v := range labels {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == k && lp.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount()), true
			}
		}
		return 0, false
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"anther_bus_motor_errors_total", map[string]string{"joint": "elbow", "kind": "no_reply", "id": "3"}, 4},
		{"anther_bus_motor_errors_total", map[string]string{"joint": "elbow", "kind": "hardware"}, 2},
		{"anther_camera_frames_total", map[string]string{"camera": "head"}, 300},
		{"anther_camera_dropped_frames_total", map[string]string{"camera": "head"}, 2},
		{"anther_camera_fps", map[string]string{"camera": "head"}, 29.9},
		{"anther_policy_latency_seconds", map[string]string{"model": "act"}, 1},
		{"anther_recorder_backlog", nil, 5},
		{"anther_recorder_dropped_frames_total", nil, 1},
		{"anther_upload_bytes_total", nil, 1 << 20},
		{"anther_loop_overruns_total", map[string]string{"robot": d.Name}, 0},
		{"anther_mqtt_connected", map[string]string{"robot_id": "unit"}, 0},
		{"anther_mqtt_event_backlog", nil, 1},
		{"anther_mqtt_publish_dropped_total", map[string]string{"topic": "state", "reason": "offline"}, 0},
		{"anther_mqtt_publish_dropped_total", map[string]string{"topic": "events", "reason": "buffer_full"}, 0},
		{"anther_mqtt_published_total", map[string]string{"topic": "state"}, 0},
	} {
		v, ok := value(c.name, c.labels)
		if !ok || v != c.want {
			var names []string
			for n := range got {
				names = append(names, n)
			}
			t.Errorf("%s%v = %v (found %v), want %v; have %s", c.name, c.labels, v, ok, c.want, strings.Join(names, " "))
		}
	}
}
