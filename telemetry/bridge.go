package telemetry

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/robot"
)

// BridgeConfig configures a Bridge. Broker, RobotID, Controller and Joints
// are required; zero values of the rest take the defaults given.
type BridgeConfig struct {
	Broker        string      // broker URL: tcp://HOST:PORT, or ssl://HOST:PORT with TLS
	RobotID       string      // the <robot-id> topic level: letters, digits, '.', '_', '-'
	Username      string      // broker login ("" = anonymous)
	Password      string      // with Username
	TLS           *tls.Config // for ssl:// (or tls://, mqtts://) brokers; LoadTLS builds one
	RemoteControl bool        // accept commands other than estop

	Controller  Controller // the control loop
	Joints      []string   // joint names, in the loop's joint order
	LoopRate    float64    // control loop rate, Hz (for the status message)
	StateRate   float64    // state messages per second; default 50
	Description string     // robot description name, for the status message
	Software    string     // anther version, for the status message

	EventBuffer          int           // events kept while offline; default 1024
	StateBuffer          int           // decimated steps waiting to be published; default 32
	KeepAlive            time.Duration // MQTT keep-alive; default 10 s
	MaxReconnectInterval time.Duration // cap of the reconnect backoff; default 10 s
	CommandTimeout       time.Duration // bound on a command (lifecycle wait, recorder/policy call); default 5 s
	Logger               *slog.Logger
}

// Defaults of BridgeConfig.
const (
	DefaultStateRate   = 50
	DefaultEventBuffer = 1024
	DefaultStateBuffer = 32
)

// maxCatchUp is how many state slots the decimator makes up for after the
// loop skipped periods.
const maxCatchUp = 5

var robotIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidRobotID reports whether id can be the <robot-id> topic level.
func ValidRobotID(id string) bool { return robotIDPattern.MatchString(id) }

// BridgeStats are a bridge's counters since it was made. Every decimated
// step is eventually counted once as published or as dropped (behind,
// offline, error) — StateOffered = StatePublished + StateDropped() +
// StatePending.
type BridgeStats struct {
	Connected           bool   `json:"connected"`
	Connects            uint64 `json:"connects"`
	StateOffered        uint64 `json:"state_offered"`         // steps the decimator picked
	StatePublished      uint64 `json:"state_published"`       // handed to the MQTT client
	StateDroppedBehind  uint64 `json:"state_dropped_behind"`  // the publisher was behind: ring full
	StateDroppedOffline uint64 `json:"state_dropped_offline"` // not connected: state is dropped, not queued
	StateDroppedError   uint64 `json:"state_dropped_error"`   // the client refused the publish
	StatePending        int    `json:"state_pending"`         // in the ring now
	EventsPublished     uint64 `json:"events_published"`      // acknowledged by the broker
	EventsDropped       uint64 `json:"events_dropped"`        // the offline buffer overflowed (oldest dropped)
	EventBacklog        int    `json:"event_backlog"`         // waiting in the offline buffer
	Commands            uint64 `json:"commands"`              // commands received on our topics
	CommandsRefused     uint64 `json:"commands_refused"`      // answered with ok=false
	CommandsDropped     uint64 `json:"commands_dropped"`      // too many waiting (e-stops are applied anyway)
	RepliesDropped      uint64 `json:"replies_dropped"`       // replies that could not be sent
}

// StateDropped is the number of state messages dropped for any reason.
func (s BridgeStats) StateDropped() uint64 {
	return s.StateDroppedBehind + s.StateDroppedOffline + s.StateDroppedError
}

type counters struct {
	connects, offered, published, offline, pubErr  atomic.Uint64
	eventsPublished, commands, refused, cmdDropped atomic.Uint64
	repliesDropped                                 atomic.Uint64
}

// inbound is a command handed from the client's callback to the command
// goroutine.
type inbound struct {
	verb    string
	payload []byte
	tick    uint64 // estop: loop ticks completed right after EStop()
}

// observer is Observe's own state; only the goroutine calling Observe
// touches it.
type observer struct {
	started bool
	next    time.Time
	lc      robot.Lifecycle
	trip    control.Trip
	faults  uint64
}

type recorderBox struct{ r Recorder }
type policyBox struct{ p PolicyRunner }

// Bridge connects one robot to an MQTT broker (paho): it publishes joint
// state decimated to StateRate (QoS 0, dropped while offline), events (QoS
// 1, kept in a bounded buffer while offline), a retained status with an
// "offline" last will, loop timing at 1 Hz, and answers commands on
// anther/<id>/cmd/<verb>. Feed it steps with Observe (a Monitor
// subscriber); start it with Run. Nothing in it runs on the loop's thread.
type Bridge struct {
	cfg         BridgeConfig
	log         *slog.Logger
	ctl         Controller
	enc         *stateEncoder
	joints      map[string]int
	statePeriod time.Duration
	topics      struct{ state, events, status, timing, cmdPrefix, cmdFilter string }
	will        []byte
	started     time.Time

	ring        *control.Ring
	stateReady  chan struct{}
	events      *eventQueue
	cmds        chan inbound
	statusDirty chan struct{}
	connUp      chan struct{}
	lostAt      atomic.Int64 // unix ns of the last connection loss (0: none)
	client      mqtt.Client
	ran         atomic.Bool
	subscribed  atomic.Bool

	recorder atomic.Pointer[recorderBox]
	policy   atomic.Pointer[policyBox]

	obs    observer
	lastMu sync.Mutex
	last   control.Step // newest step observed (for hold)
	have   bool

	n     counters
	descs bridgeDescs
}

// NewBridge checks cfg and prepares a bridge. It does not connect.
func NewBridge(cfg BridgeConfig) (*Bridge, error) {
	if !ValidRobotID(cfg.RobotID) {
		return nil, fmt.Errorf("telemetry: robot id %q: use 1–64 letters, digits, '.', '_' or '-'", cfg.RobotID)
	}
	u, err := url.Parse(cfg.Broker)
	if err != nil {
		return nil, fmt.Errorf("telemetry: broker URL: %w", err)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ws":
		if cfg.TLS != nil {
			return nil, fmt.Errorf("telemetry: TLS options need an ssl:// (or mqtts://) broker URL, not %s://", u.Scheme)
		}
	case "ssl", "tls", "mqtts", "wss":
	default:
		return nil, fmt.Errorf("telemetry: broker URL %q: scheme must be tcp, ssl, mqtts, ws or wss", cfg.Broker)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("telemetry: broker URL %q has no host", cfg.Broker)
	}
	if cfg.Controller == nil {
		return nil, errors.New("telemetry: no controller")
	}
	if len(cfg.Joints) == 0 || len(cfg.Joints) > robot.MaxJoints {
		return nil, fmt.Errorf("telemetry: %d joints (want 1..%d)", len(cfg.Joints), robot.MaxJoints)
	}
	if cfg.StateRate == 0 {
		cfg.StateRate = DefaultStateRate
	}
	if cfg.StateRate < 0 || cfg.StateRate > 1000 {
		return nil, fmt.Errorf("telemetry: state rate %g Hz is outside (0, 1000]", cfg.StateRate)
	}
	if cfg.EventBuffer <= 0 {
		cfg.EventBuffer = DefaultEventBuffer
	}
	if cfg.StateBuffer <= 0 {
		cfg.StateBuffer = DefaultStateBuffer
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = 10 * time.Second
	}
	if cfg.MaxReconnectInterval <= 0 {
		cfg.MaxReconnectInterval = 10 * time.Second
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	b := &Bridge{
		cfg:         cfg,
		log:         cfg.Logger,
		ctl:         cfg.Controller,
		enc:         newStateEncoder(cfg.RobotID, cfg.Joints),
		joints:      make(map[string]int, len(cfg.Joints)),
		statePeriod: time.Duration(float64(time.Second) / cfg.StateRate),
		ring:        control.NewRing(cfg.StateBuffer),
		stateReady:  make(chan struct{}, 1),
		events:      newEventQueue(cfg.EventBuffer),
		cmds:        make(chan inbound, 32),
		statusDirty: make(chan struct{}, 1),
		connUp:      make(chan struct{}, 1),
		started:     time.Now(),
	}
	for i, j := range cfg.Joints {
		b.joints[j] = i
	}
	id := cfg.RobotID
	b.topics.state = Topic(id, TopicState)
	b.topics.events = Topic(id, TopicEvents)
	b.topics.status = Topic(id, TopicStatus)
	b.topics.timing = Topic(id, TopicTiming)
	b.topics.cmdPrefix = Topic(id, TopicCmd) + "/"
	b.topics.cmdFilter = b.topics.cmdPrefix + "+"
	b.will, err = json.Marshal(Status{Version: Version, Robot: id, Status: StatusOffline,
		Reason: "connection lost", RemoteControl: cfg.RemoteControl})
	if err != nil {
		return nil, fmt.Errorf("telemetry: last will: %w", err)
	}
	b.descs = newBridgeDescs(id)
	b.client = mqtt.NewClient(b.clientOptions()) // touches nothing until Connect
	return b, nil
}

// SetRecorder wires the episode recorder in (nil: record commands answer
// "unavailable"). Safe from any goroutine, before or during Run.
func (b *Bridge) SetRecorder(r Recorder) {
	if r == nil {
		b.recorder.Store(nil)
	} else {
		b.recorder.Store(&recorderBox{r})
	}
	b.markStatus()
}

// SetPolicy wires the policy runner in (nil: policy commands answer
// "unavailable"). Safe from any goroutine, before or during Run.
func (b *Bridge) SetPolicy(p PolicyRunner) {
	if p == nil {
		b.policy.Store(nil)
	} else {
		b.policy.Store(&policyBox{p})
	}
	b.markStatus()
}

// Stats returns the bridge's counters. Safe from any goroutine.
func (b *Bridge) Stats() BridgeStats {
	backlog, dropped := b.events.stats()
	s := BridgeStats{
		Connects:            b.n.connects.Load(),
		StateOffered:        b.n.offered.Load(),
		StatePublished:      b.n.published.Load(),
		StateDroppedBehind:  b.ring.Dropped(),
		StateDroppedOffline: b.n.offline.Load(),
		StateDroppedError:   b.n.pubErr.Load(),
		StatePending:        b.ring.Len(),
		EventsPublished:     b.n.eventsPublished.Load(),
		EventsDropped:       dropped,
		EventBacklog:        backlog,
		Commands:            b.n.commands.Load(),
		CommandsRefused:     b.n.refused.Load(),
		CommandsDropped:     b.n.cmdDropped.Load(),
		RepliesDropped:      b.n.repliesDropped.Load(),
	}
	if b.ran.Load() {
		s.Connected = b.client.IsConnectionOpen()
	}
	return s
}

// Emit queues an event for the events topic; it never blocks. Version,
// Robot, Seq and (if zero) Time and Level are filled in. It returns false
// when the offline buffer was full and its oldest event was dropped.
func (b *Bridge) Emit(e Event) bool {
	e.Version = Version
	e.Robot = b.cfg.RobotID
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	if e.Level == "" {
		e.Level = "info"
	}
	return b.events.push(e)
}

var _ EventSink = (*Bridge)(nil)

// Observe takes one step of the loop: it notices lifecycle changes, trips
// and joint faults (as events), and passes the steps due at the state rate
// to the publisher through a bounded ring (dropped and counted when full).
// The state rate is kept on the loop's clock: slot k starts at k/StateRate
// and takes the first step at or after its start.
// It never blocks. Call it from one goroutine — it is made to be a
// control.Monitor subscriber: mon.Subscribe(bridge.Observe).
func (b *Bridge) Observe(s *control.Step) {
	o := &b.obs
	if !o.started {
		o.started, o.next = true, s.Time
		o.lc, o.trip, o.faults = s.Lifecycle, s.Trip, s.Faults
		b.markStatus()
	} else {
		b.noteChanges(o, s)
	}
	b.lastMu.Lock()
	b.last, b.have = *s, true
	b.lastMu.Unlock()

	if s.Time.Before(o.next) {
		return
	}
	// Slots on the loop's clock, like the loop's own deadlines: a step
	// that comes late (the loop skipped periods) fills the slot it missed
	// and the next step the following one; after a stall of more than
	// maxCatchUp slots the schedule restarts instead of bursting.
	o.next = o.next.Add(b.statePeriod)
	if s.Time.Sub(o.next) >= maxCatchUp*b.statePeriod {
		o.next = s.Time.Add(b.statePeriod)
	}
	b.n.offered.Add(1)
	b.ring.Push(s)
	select {
	case b.stateReady <- struct{}{}:
	default:
	}
}

// noteChanges emits the events a new step implies.
func (b *Bridge) noteChanges(o *observer, s *control.Step) {
	if s.Lifecycle != o.lc {
		data := map[string]any{"from": o.lc.String(), "to": s.Lifecycle.String(), "tick": s.Seq}
		if s.Trip != control.TripNone {
			data["trip"] = s.Trip.String()
		}
		level := "info"
		if s.Lifecycle == robot.Fault || s.Lifecycle == robot.EStopped || s.Lifecycle == robot.Holding {
			level = "warn"
		}
		b.Emit(Event{Kind: KindLifecycle, Level: level, Msg: "robot is " + s.Lifecycle.String(), Data: data})
		if s.Lifecycle == robot.EStopped {
			b.Emit(Event{Kind: KindEStop, Level: "warn", Msg: "emergency stop: torque off",
				Data: map[string]any{"tick": s.Seq, "torque": s.Command.Torque}})
		}
		o.lc = s.Lifecycle
		b.markStatus()
	}
	if s.Trip != o.trip {
		if s.Trip != control.TripNone && s.Trip != control.TripEStop {
			b.Emit(Event{Kind: KindTrip, Level: "warn", Msg: "safety trip: " + s.Trip.String(),
				Data: map[string]any{"trip": s.Trip.String(), "tick": s.Seq}})
		}
		o.trip = s.Trip
	}
	if s.Faults != o.faults {
		joints := map[string]any{}
		for i, name := range b.cfg.Joints {
			if s.Faults&(1<<i) != 0 {
				joints[name] = s.State.Fault[i].String()
			}
		}
		if s.Faults != 0 {
			b.Emit(Event{Kind: KindFault, Level: "warn", Msg: fmt.Sprintf("%d joint(s) report faults", len(joints)),
				Data: map[string]any{"joints": joints, "tick": s.Seq}})
		} else {
			b.Emit(Event{Kind: KindFault, Msg: "joint faults cleared", Data: map[string]any{"tick": s.Seq}})
		}
		o.faults = s.Faults
	}
}

func (b *Bridge) markStatus() {
	select {
	case b.statusDirty <- struct{}{}:
	default:
	}
}

// Run connects to the broker (retrying with backoff until it succeeds) and
// publishes until ctx ends; then it publishes the "offline" status, closes
// the connection and returns once its goroutines have ended. Run once.
func (b *Bridge) Run(ctx context.Context) error {
	if !b.ran.CompareAndSwap(false, true) {
		return errors.New("telemetry: bridge already ran")
	}
	b.client.Connect() // with ConnectRetry it completes only once connected; OnConnect does the rest
	b.log.Info("mqtt: connecting", "broker", b.cfg.Broker, "robot_id", b.cfg.RobotID,
		"remote_control", b.cfg.RemoteControl, "state_hz", b.cfg.StateRate)

	var wg sync.WaitGroup
	for _, f := range []func(context.Context){b.statePump, b.eventPump, b.housekeeping, b.commandWorker} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(ctx)
		}()
	}
	<-ctx.Done()
	wg.Wait()

	if b.client.IsConnectionOpen() {
		st := b.status(StatusOffline)
		st.Reason = "shutdown"
		if p, err := json.Marshal(st); err == nil {
			t := b.client.Publish(b.topics.status, 1, true, p)
			if !t.WaitTimeout(time.Second) || t.Error() != nil {
				b.log.Warn("mqtt: could not publish the offline status", "err", t.Error())
			}
		}
	}
	b.client.Disconnect(250)
	if backlog, _ := b.events.stats(); backlog > 0 {
		b.log.Warn("mqtt: events not delivered at shutdown", "count", backlog)
	}
	b.log.Info("mqtt: stopped")
	return nil
}

func (b *Bridge) clientOptions() *mqtt.ClientOptions {
	o := mqtt.NewClientOptions().
		AddBroker(b.cfg.Broker).
		SetClientID("anther-"+b.cfg.RobotID).
		SetCleanSession(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(b.cfg.MaxReconnectInterval).
		SetConnectTimeout(5*time.Second).
		SetKeepAlive(b.cfg.KeepAlive).
		SetPingTimeout(5*time.Second).
		SetWriteTimeout(time.Second).
		SetBinaryWill(b.topics.status, b.will, 1, true).
		SetOnConnectHandler(func(mqtt.Client) {
			select {
			case b.connUp <- struct{}{}:
			default:
			}
		}).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			b.lostAt.Store(time.Now().UnixNano())
			b.subscribed.Store(false)
			b.log.Warn("mqtt: connection lost; reconnecting", "err", err)
		})
	var lastFail atomic.Int64
	o.SetConnectionNotificationHandler(func(_ mqtt.Client, n mqtt.ConnectionNotification) {
		if f, ok := n.(mqtt.ConnectionNotificationBrokerFailed); ok {
			// Throttled: a broker that stays down would log every attempt.
			now := time.Now().UnixNano()
			if last := lastFail.Load(); now-last >= int64(30*time.Second) && lastFail.CompareAndSwap(last, now) {
				b.log.Warn("mqtt: cannot reach the broker; retrying", "broker", b.cfg.Broker, "err", f.Reason)
			}
		}
	})
	if b.cfg.Username != "" {
		o.SetUsername(b.cfg.Username).SetPassword(b.cfg.Password)
	}
	if b.cfg.TLS != nil {
		o.SetTLSConfig(b.cfg.TLS)
	}
	return o
}

// statePump publishes the decimated steps: QoS 0, dropped while offline.
func (b *Bridge) statePump(ctx context.Context) {
	var (
		st  control.Step
		seq uint64
	)
	size := 512 + 6*len(b.cfg.Joints)*16
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.stateReady:
		}
		for b.ring.Pop(&st) {
			if !b.client.IsConnectionOpen() {
				b.n.offline.Add(1)
				continue
			}
			// A fresh buffer per message: the client writes it later, on its
			// own goroutine.
			payload := b.enc.encode(make([]byte, 0, size), seq, &st)
			seq++
			t := b.client.Publish(b.topics.state, 0, false, payload)
			select {
			case <-t.Done():
				if t.Error() != nil {
					b.n.pubErr.Add(1)
					continue
				}
			default:
			}
			b.n.published.Add(1)
		}
	}
}

// eventPump sends the buffered events in order, QoS 1, one at a time,
// removing each only once the broker acknowledged it (at least once).
func (b *Bridge) eventPump(ctx context.Context) {
	retry := time.NewTimer(0)
	<-retry.C
	wait := func(d time.Duration) bool {
		retry.Reset(d)
		select {
		case <-ctx.Done():
			retry.Stop()
			return false
		case <-retry.C:
			return true
		}
	}
	for {
		ev, ok := b.events.peek()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-b.events.ready:
			}
			continue
		}
		if !b.client.IsConnectionOpen() {
			if !wait(50 * time.Millisecond) {
				return
			}
			continue
		}
		payload, err := json.Marshal(ev)
		if err != nil {
			b.log.Error("mqtt: event cannot be encoded; dropped", "kind", ev.Kind, "err", err)
			b.events.pop(ev.Seq)
			continue
		}
		t := b.client.Publish(b.topics.events, 1, false, payload)
		timeout := time.NewTimer(10 * time.Second)
		select {
		case <-ctx.Done():
			timeout.Stop()
			return
		case <-timeout.C:
			continue // not acknowledged: send it again (the consumer dedupes by seq)
		case <-t.Done():
			timeout.Stop()
		}
		if t.Error() != nil {
			if !wait(100 * time.Millisecond) {
				return
			}
			continue
		}
		b.events.pop(ev.Seq)
		b.n.eventsPublished.Add(1)
	}
}

// housekeeping subscribes to the command topics and publishes the status on
// every connection, republishes the status when the lifecycle changes, and
// publishes the timing once a second.
func (b *Bridge) housekeeping(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.connUp:
			b.onConnected()
		case <-b.statusDirty:
			if b.client.IsConnectionOpen() && b.subscribed.Load() {
				b.publishStatus()
			}
		case <-tick.C:
			if !b.client.IsConnectionOpen() {
				continue
			}
			if !b.subscribed.Load() {
				b.onConnected()
			}
			b.publishTiming()
		}
	}
}

func (b *Bridge) onConnected() {
	if !b.subscribed.Load() {
		t := b.client.Subscribe(b.topics.cmdFilter, 1, b.onCommand)
		if !t.WaitTimeout(5*time.Second) || t.Error() != nil {
			b.log.Warn("mqtt: subscribing to commands failed; retrying", "topic", b.topics.cmdFilter, "err", t.Error())
			return
		}
		b.subscribed.Store(true)
	}
	n := b.n.connects.Add(1)
	b.publishStatus()
	if n == 1 {
		b.log.Info("mqtt: connected", "broker", b.cfg.Broker, "status", b.topics.status)
		return
	}
	data := map[string]any{"connects": n, "state_dropped_offline": b.n.offline.Load()}
	if at := b.lostAt.Load(); at != 0 {
		data["offline_s"] = time.Since(time.Unix(0, at)).Seconds()
	}
	b.log.Info("mqtt: reconnected", "connects", n)
	b.Emit(Event{Kind: KindConnection, Msg: "reconnected to the broker", Data: data})
}

// status builds the status message.
func (b *Bridge) status(s string) Status {
	st := Status{Version: Version, Robot: b.cfg.RobotID, Status: s, Time: time.Now().UTC(),
		RemoteControl: b.cfg.RemoteControl, Connects: b.n.connects.Load(), Joints: b.cfg.Joints,
		LoopHz: b.cfg.LoopRate, StateHz: b.cfg.StateRate, Software: b.cfg.Software,
		Description: b.cfg.Description, Verbs: Verbs(), StartedAt: b.started.UTC()}
	if s == StatusOnline {
		st.Lifecycle = b.ctl.Lifecycle().String()
		st.Mode = b.ctl.Mode().String()
	}
	if b.recorder.Load() == nil {
		st.Unavailable = append(st.Unavailable, VerbRecord)
	}
	if b.policy.Load() == nil {
		st.Unavailable = append(st.Unavailable, VerbPolicy)
	}
	return st
}

func (b *Bridge) publishStatus() {
	p, err := json.Marshal(b.status(StatusOnline))
	if err != nil {
		b.log.Error("mqtt: status cannot be encoded", "err", err)
		return
	}
	t := b.client.Publish(b.topics.status, 1, true, p)
	if !t.WaitTimeout(5*time.Second) || t.Error() != nil {
		b.log.Warn("mqtt: status not published", "err", t.Error())
		b.markStatus()
	}
}

func (b *Bridge) publishTiming() {
	m := Timing{Version: Version, Robot: b.cfg.RobotID, Time: time.Now().UTC(), LoopHz: b.cfg.LoopRate,
		Loop: b.ctl.Timing().Report(), MQTT: b.Stats()}
	p, err := json.Marshal(m)
	if err != nil {
		b.log.Error("mqtt: timing cannot be encoded", "err", err)
		return
	}
	b.client.Publish(b.topics.timing, 0, false, p)
}

// onCommand runs on the MQTT client's goroutine for every message on
// anther/<id>/cmd/+. An e-stop is applied here, at once, before anything
// else; every command is then answered by the command goroutine.
func (b *Bridge) onCommand(_ mqtt.Client, m mqtt.Message) {
	verb, ok := strings.CutPrefix(m.Topic(), b.topics.cmdPrefix)
	if !ok || verb == "" || strings.Contains(verb, "/") {
		return // not one of ours: commands are accepted only on the robot's own topic
	}
	b.n.commands.Add(1)
	in := inbound{verb: verb, payload: append([]byte(nil), m.Payload()...)}
	if verb == VerbEStop {
		b.ctl.EStop()
		in.tick = b.ctl.Timing().Ticks.Load()
	}
	select {
	case b.cmds <- in:
	default:
		b.n.cmdDropped.Add(1)
		b.log.Warn("mqtt: too many commands waiting; dropped one", "verb", verb)
	}
}

// commandWorker answers commands one at a time.
func (b *Bridge) commandWorker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case in := <-b.cmds:
			r := b.execute(ctx, in)
			r.Time = time.Now().UTC()
			if in.verb != VerbEStop {
				r.Tick = b.ctl.Timing().Ticks.Load()
			}
			r.Lifecycle = b.ctl.Lifecycle().String()
			if !r.OK {
				b.n.refused.Add(1)
			}
			b.reply(r)
			level := "info"
			if !r.OK {
				level = "warn"
			}
			data := map[string]any{"verb": r.Verb, "ok": r.OK, "code": r.Code}
			if r.ID != "" {
				data["id"] = r.ID
			}
			if r.Error != "" {
				data["error"] = r.Error
			}
			b.Emit(Event{Kind: KindCommand, Level: level, Msg: "remote command " + r.Verb + ": " + r.Code, Data: data})
		}
	}
}

func (b *Bridge) reply(r Reply) {
	p, err := json.Marshal(r)
	if err != nil || !b.client.IsConnectionOpen() {
		b.n.repliesDropped.Add(1)
		return
	}
	t := b.client.Publish(b.topics.cmdPrefix+r.Verb+"/reply", 1, false, p)
	if !t.WaitTimeout(5*time.Second) || t.Error() != nil {
		b.n.repliesDropped.Add(1)
	}
}

// execute carries out one command and builds its reply.
func (b *Bridge) execute(ctx context.Context, in inbound) Reply {
	r := Reply{Version: Version, Robot: b.cfg.RobotID, Verb: in.verb, Code: CodeOK, OK: true}
	fail := func(code, format string, args ...any) Reply {
		r.OK, r.Code, r.Error = false, code, fmt.Sprintf(format, args...)
		return r
	}
	c, err := ParseCommand(in.verb, in.payload)
	r.ID = c.ID
	if err != nil {
		r.ID = peekID(in.payload)
	}
	if in.verb == VerbEStop {
		// Latched on arrival, whatever the payload said; the reply waits
		// until the loop has taken it (its next tick, which writes torque
		// off).
		b.log.Warn("mqtt: e-stop received", "id", r.ID, "reason", c.Reason)
		cctx, cancel := context.WithTimeout(ctx, b.cfg.CommandTimeout)
		defer cancel()
		r = b.await(cctx, r, robot.EStopped)
		r.Tick = in.tick
		return r
	}
	if err != nil {
		return fail(CodeInvalid, "%s", strings.TrimPrefix(err.Error(), ErrInvalidCommand.Error()+": "))
	}
	if !b.cfg.RemoteControl {
		return fail(CodeRefused, "remote control is disabled on this robot (only estop is accepted; start it with --remote-control)")
	}
	lc := b.ctl.Lifecycle()
	cctx, cancel := context.WithTimeout(ctx, b.cfg.CommandTimeout)
	defer cancel()
	switch c.Verb {
	case VerbActivate:
		switch lc {
		case robot.Active:
			return r
		case robot.Inactive:
			b.ctl.Request(control.RequestActivate)
			return b.await(cctx, r, robot.Active)
		}
		return fail(CodeRefused, "robot is %s: reset it first", lc)
	case VerbDeactivate:
		switch lc {
		case robot.Inactive:
			return r
		case robot.Active, robot.Holding:
			b.ctl.Request(control.RequestDeactivate)
			return b.await(cctx, r, robot.Inactive)
		}
		return fail(CodeRefused, "robot is %s: torque is already off; reset it", lc)
	case VerbReset:
		switch lc {
		case robot.Inactive:
			return r
		case robot.EStopped, robot.Fault, robot.Holding:
			b.ctl.Request(control.RequestReset)
			return b.await(cctx, r, robot.Inactive)
		}
		return fail(CodeRefused, "robot is %s: nothing to reset", lc)
	case VerbHold:
		if lc != robot.Active {
			return fail(CodeRefused, "robot is %s: hold needs it active", lc)
		}
		var t control.Targets
		b.lastMu.Lock()
		have, st := b.have, &b.last
		if have {
			for i := range b.cfg.Joints {
				t.Mask |= 1 << i
				t.Position[i] = st.Command.Position[i]
			}
		}
		b.lastMu.Unlock()
		if !have {
			return fail(CodeFailed, "no state from the loop yet")
		}
		b.ctl.SetTargets(&t)
		return r
	case VerbGoto:
		if lc != robot.Active {
			return fail(CodeRefused, "robot is %s: goto needs it active", lc)
		}
		var t control.Targets
		for name, v := range c.Targets {
			i, ok := b.joints[name]
			if !ok {
				return fail(CodeInvalid, "unknown joint %q (joints: %s)", name, strings.Join(b.cfg.Joints, ", "))
			}
			t.Mask |= 1 << i
			t.Position[i] = v
		}
		b.ctl.SetTargets(&t)
		return r
	case VerbRecord:
		box := b.recorder.Load()
		if box == nil {
			return fail(CodeUnavailable, "recording is not available on this robot yet")
		}
		var st RecordStatus
		if c.Action == ActionStart {
			st, err = box.r.StartRecording(cctx, RecordRequest{Task: c.Task, Dataset: c.Dataset})
		} else {
			st, err = box.r.StopRecording(cctx)
		}
		r.Data = st
		if err != nil {
			return fail(CodeFailed, "record %s: %v", c.Action, err)
		}
		return r
	case VerbPolicy:
		box := b.policy.Load()
		if box == nil {
			return fail(CodeUnavailable, "policies are not available on this robot yet")
		}
		var st PolicyStatus
		if c.Action == ActionStart {
			st, err = box.p.StartPolicy(cctx, PolicyRequest{Model: c.Model, Task: c.Task})
		} else {
			st, err = box.p.StopPolicy(cctx)
		}
		r.Data = st
		if err != nil {
			return fail(CodeFailed, "policy %s: %v", c.Action, err)
		}
		return r
	}
	return fail(CodeInvalid, "unknown verb %q", c.Verb)
}

// await waits until the lifecycle reaches want (the loop performs requests
// on its next tick) or ctx ends.
func (b *Bridge) await(ctx context.Context, r Reply, want robot.Lifecycle) Reply {
	poll := time.NewTicker(2 * time.Millisecond)
	defer poll.Stop()
	for {
		if lc := b.ctl.Lifecycle(); lc == want {
			return r
		}
		select {
		case <-ctx.Done():
			r.OK, r.Code = false, CodeFailed
			r.Error = fmt.Sprintf("robot did not become %s (it is %s)", want, b.ctl.Lifecycle())
			return r
		case <-poll.C:
		}
	}
}
