package telemetry

import "github.com/prometheus/client_golang/prometheus"

type bridgeDescs struct {
	connected, connects, published, dropped, backlog, commands *prometheus.Desc
}

func newBridgeDescs(robotID string) bridgeDescs {
	labels := prometheus.Labels{"robot_id": robotID}
	d := func(name, help string, vars ...string) *prometheus.Desc {
		return prometheus.NewDesc("anther_mqtt_"+name, help, vars, labels)
	}
	return bridgeDescs{
		connected: d("connected", "1 while the MQTT bridge is connected to its broker."),
		connects:  d("connects_total", "Successful connections to the broker (reconnects included)."),
		published: d("published_total", "Messages published, by topic.", "topic"),
		dropped:   d("publish_dropped_total", "Messages dropped instead of published, by topic and reason.", "topic", "reason"),
		backlog:   d("event_backlog", "Events waiting in the offline buffer."),
		commands:  d("commands_total", "Commands received, by result (ok, refused, dropped).", "result"),
	}
}

// Describe implements prometheus.Collector.
func (b *Bridge) Describe(ch chan<- *prometheus.Desc) {
	d := &b.descs
	for _, x := range []*prometheus.Desc{d.connected, d.connects, d.published, d.dropped, d.backlog, d.commands} {
		ch <- x
	}
}

// Collect implements prometheus.Collector: anther_mqtt_connected,
// anther_mqtt_connects_total, anther_mqtt_published_total{topic},
// anther_mqtt_publish_dropped_total{topic,reason} (state: behind, offline,
// error; events: buffer_full; reply: unsent), anther_mqtt_event_backlog and
// anther_mqtt_commands_total{result}.
func (b *Bridge) Collect(ch chan<- prometheus.Metric) {
	s := b.Stats()
	d := &b.descs
	gauge := func(desc *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, l...)
	}
	counter := func(desc *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), l...)
	}
	connected := 0.0
	if s.Connected {
		connected = 1
	}
	gauge(d.connected, connected)
	counter(d.connects, s.Connects)
	counter(d.published, s.StatePublished, TopicState)
	counter(d.published, s.EventsPublished, TopicEvents)
	counter(d.dropped, s.StateDroppedBehind, TopicState, "behind")
	counter(d.dropped, s.StateDroppedOffline, TopicState, "offline")
	counter(d.dropped, s.StateDroppedError, TopicState, "error")
	counter(d.dropped, s.EventsDropped, TopicEvents, "buffer_full")
	counter(d.dropped, s.RepliesDropped, "reply", "unsent")
	gauge(d.backlog, float64(s.EventBacklog))
	counter(d.commands, s.Commands-s.CommandsRefused-s.CommandsDropped, "ok")
	counter(d.commands, s.CommandsRefused, "refused")
	counter(d.commands, s.CommandsDropped, "dropped")
}

var _ prometheus.Collector = (*Bridge)(nil)
