package telemetry

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/robot"
)

// fakeController stands in for the loop where no loop runs.
type fakeController struct {
	lc     atomic.Int32
	estops atomic.Int32
	timing control.Timing
}

func (f *fakeController) EStop()                      { f.estops.Add(1); f.lc.Store(int32(robot.EStopped)) }
func (f *fakeController) Request(control.Request)     {}
func (f *fakeController) SetTargets(*control.Targets) {}
func (f *fakeController) Lifecycle() robot.Lifecycle  { return robot.Lifecycle(f.lc.Load()) }
func (f *fakeController) Mode() control.Mode          { return control.ModeHold }
func (f *fakeController) Timing() *control.Timing     { return &f.timing }

var testJoints = []string{"shoulder", "elbow", "wrist"}

func newTestBridge(t *testing.T, mod func(*BridgeConfig)) (*Bridge, *fakeController) {
	t.Helper()
	fc := &fakeController{}
	fc.lc.Store(int32(robot.Active))
	cfg := BridgeConfig{Broker: "tcp://127.0.0.1:1", RobotID: "unit", Controller: fc, Joints: testJoints,
		LoopRate: 100, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mod != nil {
		mod(&cfg)
	}
	b, err := NewBridge(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b, fc
}

func step(seq uint64, at time.Time, lc robot.Lifecycle) *control.Step {
	s := &control.Step{Seq: seq, Time: at, Lifecycle: lc, Mode: control.ModeTarget}
	s.State.N, s.Command.N = len(testJoints), len(testJoints)
	s.Command.Torque = lc == robot.Active
	for i := range testJoints {
		s.State.Position[i] = 0.1 * float64(i)
		s.Target[i] = 0.2 * float64(i)
		s.Command.Position[i] = 0.15 * float64(i)
	}
	return s
}

func TestNewBridgeChecksConfig(t *testing.T) {
	for _, mod := range []func(*BridgeConfig){
		func(c *BridgeConfig) { c.RobotID = "a/b" },
		func(c *BridgeConfig) { c.RobotID = "+" },
		func(c *BridgeConfig) { c.RobotID = "" },
		func(c *BridgeConfig) { c.Broker = "http://x:1" },
		func(c *BridgeConfig) { c.Broker = "tcp://" },
		func(c *BridgeConfig) { c.Joints = nil },
		func(c *BridgeConfig) { c.Controller = nil },
		func(c *BridgeConfig) { c.StateRate = -1 },
		func(c *BridgeConfig) { c.TLS = &tlsConfigForTest },
	} {
		fc := &fakeController{}
		cfg := BridgeConfig{Broker: "tcp://127.0.0.1:1", RobotID: "r", Controller: fc, Joints: testJoints}
		mod(&cfg)
		if _, err := NewBridge(cfg); err == nil || !strings.HasPrefix(err.Error(), "telemetry: ") {
			t.Errorf("NewBridge(%+v): err=%v, want a telemetry: error", cfg, err)
		}
	}
}

// TestDecimation: the state rate is kept on the loop's clock, skipped loop
// periods are made up for (bounded), and a long stall restarts the schedule.
func TestDecimation(t *testing.T) {
	b, _ := newTestBridge(t, func(c *BridgeConfig) { c.StateRate = 50; c.StateBuffer = 1024 })
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	var picked []uint64
	drain := func() {
		var st control.Step
		for b.ring.Pop(&st) {
			picked = append(picked, st.Seq)
		}
	}
	// 100 Hz for 1 s: every other step, 50 of them.
	for i := 0; i < 100; i++ {
		b.Observe(step(uint64(i), at(10*i), robot.Active))
	}
	drain()
	if len(picked) != 50 || picked[0] != 0 || picked[1] != 2 || picked[49] != 98 {
		t.Fatalf("100 Hz → 50 Hz picked %v", picked)
	}
	// The loop skips 3 periods (ticks at 1000, then 1040 …): the slots of
	// 1020 and 1040 are both filled.
	picked = nil
	for i, ms := range []int{1000, 1040, 1050, 1060, 1070, 1080} {
		b.Observe(step(uint64(200+i), at(ms), robot.Active))
	}
	drain()
	if want := []uint64{200, 201, 202, 203, 205}; !equal(picked, want) {
		t.Errorf("after skipped periods picked %v, want %v", picked, want)
	}
	// A 1 s stall: no burst afterwards.
	picked = nil
	for i := 0; i < 10; i++ {
		b.Observe(step(uint64(300+i), at(2080+10*i), robot.Active))
	}
	drain()
	if len(picked) != 5 {
		t.Errorf("after a stall picked %v, want every other step", picked)
	}
	if st := b.Stats(); st.StateOffered != uint64(50+5+5) || st.StateDroppedBehind != 0 {
		t.Errorf("stats %+v", st)
	}
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestStateRingDropsWhenBehind: Observe never blocks; when the publisher is
// behind, steps are dropped and counted.
func TestStateRingDropsWhenBehind(t *testing.T) {
	b, _ := newTestBridge(t, func(c *BridgeConfig) { c.StateRate = 100; c.StateBuffer = 4 })
	t0 := time.Unix(1000, 0)
	for i := 0; i < 10; i++ {
		b.Observe(step(uint64(i), t0.Add(time.Duration(i)*10*time.Millisecond), robot.Active))
	}
	st := b.Stats()
	if st.StateOffered != 10 || st.StatePending != 4 || st.StateDroppedBehind != 6 {
		t.Errorf("stats %+v", st)
	}
}

// TestEventBufferBounded: while offline, events are kept up to the buffer
// size; then the oldest are dropped and counted.
func TestEventBufferBounded(t *testing.T) {
	b, _ := newTestBridge(t, func(c *BridgeConfig) { c.EventBuffer = 8 })
	for i := 0; i < 8; i++ {
		if !b.Emit(Event{Kind: KindEpisode, Msg: "e"}) {
			t.Fatalf("event %d dropped with room in the buffer", i)
		}
	}
	for i := 0; i < 5; i++ {
		if b.Emit(Event{Kind: KindEpisode, Msg: "e"}) {
			t.Fatalf("event %d accepted without dropping into a full buffer", i)
		}
	}
	st := b.Stats()
	if st.EventBacklog != 8 || st.EventsDropped != 5 {
		t.Errorf("stats %+v", st)
	}
	e, ok := b.events.peek()
	if !ok || e.Seq != 6 {
		t.Errorf("oldest kept event %+v, want seq 6", e)
	}
}

// TestStateEncodingAllocs: the state message shape is built once; encoding
// a step into a buffer with room allocates nothing.
func TestStateEncodingAllocs(t *testing.T) {
	enc := newStateEncoder("r", testJoints)
	s := step(7, time.Unix(1000, 5).UTC(), robot.Active)
	s.State.Velocity[1] = math.NaN()
	s.State.Effort[2] = math.Inf(-1)
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { buf = enc.encode(buf[:0], 3, s) }); n != 0 {
		t.Errorf("encode allocates %v times", n)
	}
	var m struct {
		Seq      uint64     `json:"seq"`
		Tick     uint64     `json:"tick"`
		Velocity []*float64 `json:"velocity"`
		Effort   []*float64 `json:"effort"`
		Command  []float64  `json:"command"`
		Torque   bool       `json:"torque"`
	}
	if err := json.Unmarshal(buf, &m); err != nil {
		t.Fatalf("%v: %s", err, buf)
	}
	if m.Seq != 3 || m.Tick != 7 || m.Velocity[1] != nil || m.Effort[2] != nil || m.Command[2] != 0.3 || !m.Torque {
		t.Errorf("decoded %+v from %s", m, buf)
	}
	if err := loadSchemas(t).validate("anther/r/state", buf); err != nil {
		t.Error(err)
	}
}

// TestSchemas validates one payload of every kind the bridge produces —
// events of every kind the loop's steps imply, state, status online,
// offline and last will, timing, replies of every code — against
// docs/mqtt, and checks that the schemas refuse broken ones. (The suite
// validates every message it receives from real brokers as well.)
func TestSchemas(t *testing.T) {
	s := loadSchemas(t)
	b, fc := newTestBridge(t, nil)
	t0 := time.Unix(1000, 0).UTC()
	seq := uint64(0)
	feed := func(lc robot.Lifecycle, trip control.Trip, faults uint64) {
		st := step(seq, t0.Add(time.Duration(seq)*10*time.Millisecond), lc)
		st.Trip, st.Faults = trip, faults
		for i := range testJoints {
			if faults&(1<<i) != 0 {
				st.State.Fault[i] = robot.FaultNoReply | robot.FaultOverheat
			}
		}
		b.Observe(st)
		seq++
	}
	feed(robot.Inactive, control.TripNone, 0)
	feed(robot.Active, control.TripNone, 0)
	feed(robot.Active, control.TripNone, 0b101)
	feed(robot.Active, control.TripNone, 0)
	feed(robot.Holding, control.TripHeartbeat, 0)
	feed(robot.Fault, control.TripHoldExpired, 0)
	feed(robot.EStopped, control.TripEStop, 0)
	b.Emit(Event{Kind: KindEpisode, Msg: "episode 3 saved", Data: map[string]any{"episode": 3, "frames": 900}})
	b.Emit(Event{Kind: KindUpload, Level: "error", Msg: "upload failed", Data: map[string]any{"bytes": 1 << 20}})
	b.Emit(Event{Kind: KindConnection, Msg: "reconnected", Data: map[string]any{"connects": uint64(2), "offline_s": 1.5}})

	kinds := map[string]bool{}
	for {
		e, ok := b.events.peek()
		if !ok {
			break
		}
		b.events.pop(e.Seq)
		p, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		kinds[e.Kind] = true
		if err := s.validate("anther/unit/events", p); err != nil {
			t.Error(err)
		}
	}
	for _, k := range []string{KindLifecycle, KindEStop, KindTrip, KindFault, KindEpisode, KindUpload, KindConnection} {
		if !kinds[k] {
			t.Errorf("no %s event produced", k)
		}
	}

	valid := map[string]any{}
	on := b.status(StatusOnline)
	on.Connects = 1
	valid["status"] = on
	off := b.status(StatusOffline)
	off.Reason = "shutdown"
	valid["status "] = off
	valid["timing"] = Timing{Version: Version, Robot: "unit", Time: t0, LoopHz: 100, Loop: fc.Timing().Report(), MQTT: b.Stats()}
	for _, code := range []string{CodeOK, CodeInvalid, CodeRefused, CodeUnavailable, CodeFailed, CodeBusy} {
		r := Reply{Version: Version, Robot: "unit", ID: "x", Verb: VerbRecord, OK: code == CodeOK, Code: code, Time: t0, Tick: 9, Lifecycle: "active"}
		if code != CodeOK {
			r.Error = "because"
		} else {
			r.Data = RecordStatus{Recording: true, Episode: 2}
		}
		valid["cmd/record/reply "+code] = r
	}
	for topic, v := range valid {
		p, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.validate("anther/unit/"+strings.TrimSpace(strings.Fields(topic)[0]), p); err != nil {
			t.Error(err)
		}
	}
	if err := s.validate("anther/unit/status", b.will); err != nil {
		t.Errorf("last will: %v", err)
	}

	// The schemas have teeth.
	for topic, bad := range map[string]string{
		"status":          `{"version":1,"robot":"unit","status":"online","remote_control":false}`,
		"status ":         `{"version":2,"robot":"unit","status":"offline","reason":"shutdown","remote_control":false}`,
		"events":          `{"version":1,"robot":"unit","seq":1,"time":"2026-01-01T00:00:00Z","kind":"lifecycle","level":"info","msg":"x"}`,
		"events ":         `{"version":1,"robot":"unit","seq":1,"time":"yesterday","kind":"episode","level":"info","msg":"x"}`,
		"cmd/goto/reply":  `{"version":1,"robot":"unit","id":"","verb":"goto","ok":false,"code":"ok","time":"2026-01-01T00:00:00Z","tick":1}`,
		"cmd/goto/reply ": `{"version":1,"robot":"unit","id":"","verb":"goto","ok":true,"code":"ok","error":"x","time":"2026-01-01T00:00:00Z","tick":1}`,
		"timing":          `{"version":1,"robot":"unit","time":"2026-01-01T00:00:00Z","loop_hz":100,"loop":{},"mqtt":{}}`,
	} {
		if err := s.validate("anther/unit/"+strings.TrimSpace(topic), []byte(bad)); err == nil {
			t.Errorf("%s: schema accepted %s", topic, bad)
		}
	}
	p := newStateEncoder("unit", testJoints).encode(nil, 0, step(0, t0, robot.Active))
	broken := bytes.Replace(p, []byte(`"lifecycle":"active"`), []byte(`"lifecycle":"dancing"`), 1)
	if err := s.validate("anther/unit/state", broken); err == nil {
		t.Errorf("state schema accepted %s", broken)
	}
	var ve *jsonschema.ValidationError
	if err := s.validate("anther/unit/state", broken); !errors.As(err, &ve) {
		t.Errorf("want a validation error, got %v", err)
	}
}

// TestEStopAppliedOnArrival: the command callback latches the e-stop before
// anything else, whatever the payload, and only on the robot's own topic.
func TestEStopAppliedOnArrival(t *testing.T) {
	b, fc := newTestBridge(t, nil)
	for _, m := range []fakeMessage{
		{"anther/other/cmd/estop", ""},
		{"anther/unit/cmd/estop/reply", ""},
		{"anther/unit/cmdx/estop", ""},
	} {
		b.onCommand(nil, m)
	}
	if n := fc.estops.Load(); n != 0 {
		t.Fatalf("e-stopped by another topic (%d)", n)
	}
	b.onCommand(nil, fakeMessage{"anther/unit/cmd/estop", "\x00garbage"})
	if n := fc.estops.Load(); n != 1 {
		t.Fatalf("e-stops = %d, want 1", n)
	}
	in := <-b.cmds
	r := b.execute(t.Context(), in)
	if !r.OK || r.Code != CodeOK {
		t.Errorf("reply %+v", r)
	}
}

type fakeMessage struct{ topic, payload string }

func (m fakeMessage) Duplicate() bool   { return false }
func (m fakeMessage) Qos() byte         { return 1 }
func (m fakeMessage) Retained() bool    { return false }
func (m fakeMessage) Topic() string     { return m.topic }
func (m fakeMessage) MessageID() uint16 { return 1 }
func (m fakeMessage) Payload() []byte   { return []byte(m.payload) }
func (m fakeMessage) Ack()              {}

// TestPushNeverWaits: what the loop does for telemetry — pushing its step
// into the monitor's ring — returns at once even when nobody drains the
// ring (the step is dropped and counted) and allocates nothing.
func TestPushNeverWaits(t *testing.T) {
	ring := control.NewRing(4)
	s := step(0, time.Unix(1, 0), robot.Active)
	for i := 0; i < 4; i++ {
		if !ring.Push(s) {
			t.Fatal("push into a ring with room failed")
		}
	}
	done := make(chan bool)
	go func() { done <- ring.Push(s) }()
	select {
	case ok := <-done:
		if ok || ring.Dropped() != 1 {
			t.Errorf("push into a full ring: ok=%v dropped=%d", ok, ring.Dropped())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("push into a full ring blocked")
	}
	if n := testing.AllocsPerRun(100, func() { ring.Push(s) }); n != 0 {
		t.Errorf("push allocates %v times", n)
	}
}
