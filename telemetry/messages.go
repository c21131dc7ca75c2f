package telemetry

import (
	"math"
	"strconv"
	"time"

	"github.com/anther-robotics/anther/control"
)

// Version is the version of every MQTT payload anther publishes and of the
// command payloads it accepts. It is the "version" field of each message;
// docs/mqtt/*.schema.json describe version 1.
const Version = 1

// Topic names under anther/<robot-id>/.
const (
	TopicState  = "state"  // joint state at the telemetry rate, QoS 0
	TopicEvents = "events" // events, QoS 1, buffered while offline
	TopicStatus = "status" // retained; the last will says "offline"
	TopicTiming = "timing" // loop statistics at 1 Hz, QoS 0
	TopicCmd    = "cmd"    // inbound commands: cmd/<verb>; replies on cmd/<verb>/reply
)

// Topic returns the topic anther/<robotID>/<name>.
func Topic(robotID, name string) string { return "anther/" + robotID + "/" + name }

// Status values of the status topic.
const (
	StatusOnline  = "online"
	StatusOffline = "offline"
)

// Status is the retained message on anther/<id>/status. The broker
// publishes the last will (Status "offline", no lifecycle) if the robot's
// connection dies; the robot publishes it itself when it stops cleanly.
type Status struct {
	Version       int       `json:"version"`
	Robot         string    `json:"robot"`
	Status        string    `json:"status"`                // online | offline
	Time          time.Time `json:"time,omitzero"`         // when this status was published (absent in the last will)
	Reason        string    `json:"reason,omitempty"`      // offline: "shutdown" or "connection lost" (the will)
	Lifecycle     string    `json:"lifecycle,omitempty"`   // robot lifecycle (online only)
	Mode          string    `json:"mode,omitempty"`        // source of intent (online only)
	RemoteControl bool      `json:"remote_control"`        // commands other than estop accepted
	Connects      uint64    `json:"connects,omitempty"`    // successful connections since start (1 = first)
	Joints        []string  `json:"joints,omitempty"`      // joint names, in the order of the state arrays
	LoopHz        float64   `json:"loop_hz,omitempty"`     // control loop rate
	StateHz       float64   `json:"state_hz,omitempty"`    // state topic rate
	Software      string    `json:"software,omitempty"`    // anther version
	Verbs         []string  `json:"verbs,omitempty"`       // command verbs understood
	Description   string    `json:"description,omitempty"` // robot description name (profile)
	Unavailable   []string  `json:"unavailable,omitempty"` // verbs whose engine is not wired in yet
	StartedAt     time.Time `json:"started_at,omitzero"`   // when the bridge started
}

// Event is one message on anther/<id>/events: a lifecycle change, an
// e-stop, a safety trip, joint faults, a remote command, a recorded
// episode, an upload. Seq increases by one per event the bridge accepted, so
// a consumer sees gaps (events dropped from a full offline buffer) and
// duplicates (at-least-once delivery after a reconnect).
type Event struct {
	Version int            `json:"version"`
	Robot   string         `json:"robot"`
	Seq     uint64         `json:"seq"`
	Time    time.Time      `json:"time"`
	Kind    string         `json:"kind"`  // lifecycle, estop, trip, fault, command, connection, episode, upload, policy, …
	Level   string         `json:"level"` // info, warn, error
	Msg     string         `json:"msg"`
	Data    map[string]any `json:"data,omitempty"`
}

// Event kinds the bridge itself publishes. Other parts (recorder, uploader,
// policy runner) publish their own kinds through Bridge.Emit.
const (
	KindLifecycle  = "lifecycle"
	KindEStop      = "estop"
	KindTrip       = "trip"
	KindFault      = "fault"
	KindCommand    = "command"
	KindConnection = "connection"
	KindEpisode    = "episode" // recorder: an episode started, saved or discarded
	KindUpload     = "upload"  // uploader: a dataset upload progressed or ended
	KindPolicy     = "policy"  // policy runner: started, stopped, failed
)

// Timing is the message on anther/<id>/timing, once a second: the loop's
// timing report and the bridge's own publish counters.
type Timing struct {
	Version int                  `json:"version"`
	Robot   string               `json:"robot"`
	Time    time.Time            `json:"time"`
	LoopHz  float64              `json:"loop_hz"`
	Loop    control.TimingReport `json:"loop"`
	MQTT    BridgeStats          `json:"mqtt"`
}

// Reply answers a command on anther/<id>/cmd/<verb>/reply.
type Reply struct {
	Version   int       `json:"version"`
	Robot     string    `json:"robot"`
	ID        string    `json:"id"` // the command's correlation id ("" if it had none or could not be read)
	Verb      string    `json:"verb"`
	OK        bool      `json:"ok"`
	Code      string    `json:"code"` // ok, invalid, refused, unavailable, failed, busy
	Error     string    `json:"error,omitempty"`
	Time      time.Time `json:"time"`
	Tick      uint64    `json:"tick"`                // loop ticks completed when the command was applied
	Lifecycle string    `json:"lifecycle,omitempty"` // robot lifecycle after the command
	Data      any       `json:"data,omitempty"`      // verb-specific (record, policy)
}

// Reply codes.
const (
	CodeOK          = "ok"
	CodeInvalid     = "invalid"     // the payload could not be read or failed its checks
	CodeRefused     = "refused"     // remote control disabled, or not allowed in this lifecycle state
	CodeUnavailable = "unavailable" // the engine behind the verb (recorder, policy) is not wired in
	CodeFailed      = "failed"      // the engine tried and failed
	CodeBusy        = "busy"        // too many commands waiting
)

// stateEncoder writes state messages. The parts that never change (version,
// robot, joint names) are encoded once, in NewBridge; each message only
// appends the numbers.
type stateEncoder struct {
	prefix []byte
	n      int
}

func newStateEncoder(robotID string, joints []string) *stateEncoder {
	b := []byte(`{"version":`)
	b = strconv.AppendInt(b, Version, 10)
	b = append(b, `,"robot":`...)
	b = strconv.AppendQuote(b, robotID)
	b = append(b, `,"joints":[`...)
	for i, j := range joints {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, j)
	}
	b = append(b, ']')
	return &stateEncoder{prefix: b, n: len(joints)}
}

// encode appends the state message for s (message number seq) to dst.
func (e *stateEncoder) encode(dst []byte, seq uint64, s *control.Step) []byte {
	n := min(e.n, s.State.N)
	if n <= 0 {
		n = e.n
	}
	b := append(dst, e.prefix...)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"tick":`...)
	b = strconv.AppendUint(b, s.Seq, 10)
	b = append(b, `,"time":"`...)
	b = s.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","lifecycle":"`...)
	b = append(b, s.Lifecycle.String()...)
	b = append(b, `","mode":"`...)
	b = append(b, s.Mode.String()...)
	b = append(b, `","torque":`...)
	b = strconv.AppendBool(b, s.Command.Torque)
	b = append(b, `,"bus_error":`...)
	b = strconv.AppendBool(b, s.BusErr)
	b = floats(b, "position", s.State.Position[:n])
	b = floats(b, "velocity", s.State.Velocity[:n])
	b = floats(b, "effort", s.State.Effort[:n])
	b = floats(b, "temperature", s.State.Temperature[:n])
	b = floats(b, "target", s.Target[:n])
	b = floats(b, "command", s.Command.Position[:n])
	b = append(b, `,"fault":[`...)
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(s.State.Fault[i]), 10)
	}
	b = append(b, `]}`...)
	return b
}

// floats appends ,"name":[v,…] with 7 significant digits; NaN and ±Inf,
// which JSON cannot carry, become null.
func floats(b []byte, name string, v []float64) []byte {
	b = append(b, `,"`...)
	b = append(b, name...)
	b = append(b, `":[`...)
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			b = append(b, "null"...)
			continue
		}
		b = strconv.AppendFloat(b, x, 'g', 7, 64)
	}
	return append(b, ']')
}
