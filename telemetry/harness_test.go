package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/sys/unix"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
)

// ---- brokers ---------------------------------------------------------------

// testBroker is a broker the suite runs against: a real mosquitto process
// or the embedded broker, both on a random loopback port.
type testBroker interface {
	URL() string
	Addr() string
	// Restart stops the broker (every client is disconnected, retained
	// messages and sessions are lost) and starts it again on the same port.
	Restart(t *testing.T)
}

type brokerKind struct {
	name  string
	start func(t *testing.T) testBroker
}

func brokerKinds() []brokerKind {
	return []brokerKind{
		{"mosquitto", func(t *testing.T) testBroker { return startMosquitto(t) }},
		{"embedded", func(t *testing.T) testBroker { return startEmbedded(t) }},
	}
}

// mosquittoBroker is a mosquitto process with the test configuration from
// spec/setup.md: loopback listener, anonymous clients, and no cap on queued
// QoS 1 messages (mosquitto's default silently drops them for slow
// subscribers).
type mosquittoBroker struct {
	bin    string
	dir    string
	conf   string // configuration after the listener line
	port   int
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	log    *bytes.Buffer
}

func startMosquitto(t *testing.T) *mosquittoBroker {
	t.Helper()
	return startMosquittoConf(t, "allow_anonymous true\nmax_queued_messages 0\n")
}

// startMosquittoConf starts mosquitto with conf after its listener line.
func startMosquittoConf(t *testing.T, conf string) *mosquittoBroker {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/mosquitto"); err2 == nil {
			bin = "/usr/sbin/mosquitto"
		} else {
			t.Fatalf("mosquitto is not installed (make deps installs it): %v", err)
		}
	}
	m := &mosquittoBroker{bin: bin, dir: t.TempDir(), conf: conf}
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		m.port = freePort(t)
		if last = m.start(); last == nil {
			t.Cleanup(m.stop)
			return m
		}
	}
	t.Fatalf("mosquitto would not start: %v", last)
	return nil
}

func (m *mosquittoBroker) start() error {
	conf := filepath.Join(m.dir, "mosquitto.conf")
	// "user root" keeps mosquitto from dropping to its own user when run
	// as root (it could not read the test's files); ignored otherwise.
	text := fmt.Sprintf("listener %d 127.0.0.1\n%spersistence false\nuser root\nlog_dest stderr\nlog_type error\nlog_type warning\n", m.port, m.conf)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return err
	}
	cmd := exec.Command(m.bin, "-c", conf)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("mosquitto exited: %s", log.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", m.Addr(), 200*time.Millisecond); err == nil {
			c.Close()
			m.mu.Lock()
			m.cmd, m.exited, m.log = cmd, exited, &log
			m.mu.Unlock()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	return errors.New("mosquitto did not listen within 10 s")
}

func (m *mosquittoBroker) stop() {
	m.mu.Lock()
	cmd, exited := m.cmd, m.exited
	m.cmd = nil
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

func (m *mosquittoBroker) URL() string  { return "tcp://" + m.Addr() }
func (m *mosquittoBroker) Addr() string { return "127.0.0.1:" + strconv.Itoa(m.port) }

func (m *mosquittoBroker) Restart(t *testing.T) {
	t.Helper()
	m.stop()
	var err error
	for i := 0; i < 50; i++ {
		if err = m.start(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("mosquitto restart: %v", err)
}

// embeddedBroker is the daemon's embedded broker, in the test process.
type embeddedBroker struct {
	mu   sync.Mutex
	b    *Broker
	addr string
}

func startEmbedded(t *testing.T) *embeddedBroker {
	t.Helper()
	b, err := StartBroker(context.Background(), BrokerConfig{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	e := &embeddedBroker{b: b, addr: b.Addr()}
	t.Cleanup(func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.b.Close()
	})
	return e
}

func (e *embeddedBroker) URL() string  { return "tcp://" + e.addr }
func (e *embeddedBroker) Addr() string { return e.addr }

func (e *embeddedBroker) Restart(t *testing.T) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.b.Close()
	var err error
	for i := 0; i < 100; i++ {
		var b *Broker
		if b, err = StartBroker(context.Background(), BrokerConfig{Addr: e.addr}); err == nil {
			e.b = b
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("embedded broker restart: %v", err)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// ---- a gate between the robot and the broker --------------------------------

// gate is a loopback TCP proxy in front of a broker. While shut it accepts
// and at once closes connections, so a client sees the broker as down even
// after the broker itself has restarted; the test uses it to connect its
// own watcher to the restarted broker before the robot reconnects.
type gate struct {
	ln       net.Listener
	upstream string
	mu       sync.Mutex
	shut     bool
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
}

func newGate(t *testing.T, upstream string) *gate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{ln: ln, upstream: upstream, conns: map[net.Conn]struct{}{}}
	g.wg.Add(1)
	go g.serve()
	t.Cleanup(func() {
		ln.Close()
		g.mu.Lock()
		for c := range g.conns {
			c.Close()
		}
		g.mu.Unlock()
		g.wg.Wait()
	})
	return g
}

func (g *gate) URL() string { return "tcp://" + g.ln.Addr().String() }

func (g *gate) setShut(shut bool) {
	g.mu.Lock()
	g.shut = shut
	g.mu.Unlock()
}

func (g *gate) serve() {
	defer g.wg.Done()
	for {
		c, err := g.ln.Accept()
		if err != nil {
			return
		}
		g.mu.Lock()
		shut := g.shut
		g.mu.Unlock()
		if shut {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", g.upstream)
		if err != nil {
			c.Close()
			continue
		}
		g.mu.Lock()
		g.conns[c], g.conns[up] = struct{}{}, struct{}{}
		g.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			defer g.wg.Done()
			_, _ = io.Copy(dst, src)
			dst.Close()
			src.Close()
			g.mu.Lock()
			delete(g.conns, dst)
			delete(g.conns, src)
			g.mu.Unlock()
		}
		g.wg.Add(2)
		go pipe(c, up)
		go pipe(up, c)
	}
}

// ---- schemas ---------------------------------------------------------------

const schemaBase = "https://github.com/anther-robotics/anther/docs/mqtt/"

// schemaSet is the compiled docs/mqtt schemas.
type schemaSet struct {
	state, events, status, timing, reply *jsonschema.Schema
	command                              map[string]*jsonschema.Schema // by verb
}

var (
	schemasOnce sync.Once
	schemas     *schemaSet
	schemasErr  error
)

func loadSchemas(t testing.TB) *schemaSet {
	t.Helper()
	schemasOnce.Do(func() { schemas, schemasErr = compileSchemas() })
	if schemasErr != nil {
		t.Fatal(schemasErr)
	}
	return schemas
}

func compileSchemas() (*schemaSet, error) {
	files, err := filepath.Glob("../docs/mqtt/*.schema.json")
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no schemas in ../docs/mqtt: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if err := c.AddResource(schemaBase+filepath.Base(f), doc); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
	}
	s := &schemaSet{command: map[string]*jsonschema.Schema{}}
	for name, dst := range map[string]**jsonschema.Schema{
		"state": &s.state, "events": &s.events, "status": &s.status, "timing": &s.timing, "reply": &s.reply,
	} {
		if *dst, err = c.Compile(schemaBase + name + ".schema.json"); err != nil {
			return nil, err
		}
	}
	for _, v := range Verbs() {
		sch, err := c.Compile(schemaBase + "command.schema.json#/$defs/" + v)
		if err != nil {
			return nil, err
		}
		s.command[v] = sch
	}
	if s.command[""], err = c.Compile(schemaBase + "command.schema.json"); err != nil {
		return nil, err
	}
	return s, nil
}

// validate checks a payload published on topic against its schema;
// inbound commands (cmd/<verb>) are not checked here (the tests send
// invalid ones on purpose).
func (s *schemaSet) validate(topic string, payload []byte) error {
	parts := strings.Split(topic, "/")
	if len(parts) < 3 || parts[0] != "anther" {
		return fmt.Errorf("unexpected topic %q", topic)
	}
	var sch *jsonschema.Schema
	switch rest := strings.Join(parts[2:], "/"); {
	case rest == TopicState:
		sch = s.state
	case rest == TopicEvents:
		sch = s.events
	case rest == TopicStatus:
		sch = s.status
	case rest == TopicTiming:
		sch = s.timing
	case strings.HasPrefix(rest, "cmd/") && strings.HasSuffix(rest, "/reply"):
		sch = s.reply
	case strings.HasPrefix(rest, "cmd/"):
		return nil
	default:
		return fmt.Errorf("no schema for topic %q", topic)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("%s: not JSON: %w", topic, err)
	}
	if err := sch.Validate(inst); err != nil {
		return fmt.Errorf("%s: %s: %w", topic, payload, err)
	}
	return nil
}

// ---- a watcher: what a fleet dashboard sees ----------------------------------

type message struct {
	topic    string
	payload  []byte
	retained bool
	at       time.Time
}

// watcher is an MQTT client that records every message on its filter and
// checks each published payload against its documented schema.
type watcher struct {
	t       *testing.T
	c       mqtt.Client
	schemas *schemaSet
	mu      sync.Mutex
	msgs    []message
	invalid []error
	notify  chan struct{}
}

var watcherSeq struct {
	sync.Mutex
	n int
}

func newWatcher(t *testing.T, url string, filters ...string) *watcher {
	t.Helper()
	w := &watcher{t: t, schemas: loadSchemas(t), notify: make(chan struct{}, 1)}
	watcherSeq.Lock()
	watcherSeq.n++
	id := fmt.Sprintf("watcher-%d-%d", os.Getpid(), watcherSeq.n)
	watcherSeq.Unlock()
	opts := mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	w.c = mqtt.NewClient(opts)
	if tok := w.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("watcher connect to %s: %v", url, tok.Error())
	}
	subs := map[string]byte{}
	for _, f := range filters {
		subs[f] = 1
	}
	tok := w.c.SubscribeMultiple(subs, w.handle)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("watcher subscribe %v: %v", filters, tok.Error())
	}
	t.Cleanup(w.close)
	return w
}

func (w *watcher) handle(_ mqtt.Client, m mqtt.Message) {
	msg := message{topic: m.Topic(), payload: append([]byte(nil), m.Payload()...), retained: m.Retained(), at: time.Now()}
	err := w.schemas.validate(msg.topic, msg.payload)
	w.mu.Lock()
	w.msgs = append(w.msgs, msg)
	if err != nil {
		w.invalid = append(w.invalid, err)
	}
	w.mu.Unlock()
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

func (w *watcher) close() {
	w.c.Disconnect(50)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, err := range w.invalid {
		w.t.Errorf("published payload does not match its schema: %v", err)
	}
	w.invalid = nil
}

// snapshot returns the messages received so far.
func (w *watcher) snapshot() []message {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]message(nil), w.msgs...)
}

// wait returns the first message that matches pred, or fails the test
// after timeout.
func (w *watcher) wait(timeout time.Duration, what string, pred func(message) bool) message {
	w.t.Helper()
	return w.waitFrom(0, timeout, what, pred)
}

// waitFrom is wait among the messages from index from on.
func (w *watcher) waitFrom(from int, timeout time.Duration, what string, pred func(message) bool) message {
	w.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		msgs := w.snapshot()
		for _, m := range msgs[min(from, len(msgs)):] {
			if pred(m) {
				return m
			}
		}
		select {
		case <-w.notify:
		case <-deadline.C:
			w.t.Fatalf("no %s within %v", what, timeout)
		}
	}
}

// publish sends a command payload (QoS 1) and waits for the broker's ack.
func (w *watcher) publish(topic string, payload string) {
	w.t.Helper()
	tok := w.c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		w.t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

func decode[T any](t *testing.T, m message) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(m.payload, &v); err != nil {
		t.Fatalf("%s: %v: %s", m.topic, err, m.payload)
	}
	return v
}

func onTopic(topic string) func(message) bool {
	return func(m message) bool { return m.topic == topic }
}

func statusIs(topic, status string, minConnects uint64) func(message) bool {
	return func(m message) bool {
		if m.topic != topic {
			return false
		}
		var s Status
		return json.Unmarshal(m.payload, &s) == nil && s.Status == status && s.Connects >= minConnects
	}
}

func replyWithID(topic, id string) func(message) bool {
	return func(m message) bool {
		if m.topic != topic {
			return false
		}
		var r Reply
		return json.Unmarshal(m.payload, &r) == nil && r.ID == id
	}
}

// ---- a simulated robot with its bridge ---------------------------------------

type robotOpts struct {
	profile      string
	loopRate     float64 // 0: the profile's
	stateRate    float64 // 0: 50
	remote       bool
	noActivate   bool
	maxReconnect time.Duration
	eventBuffer  int
	quiet        bool
}

// stepRecord is what the tests keep of every tick.
type stepRecord struct {
	seq    uint64
	torque bool
	lc     robot.Lifecycle
}

// testRobot is a control loop over the simulator (wall clock), its
// monitor, and a bridge fed by the monitor — the daemon's wiring. Every
// step also goes to a log the tests read.
type testRobot struct {
	t      *testing.T
	desc   *robot.Description
	loop   *control.Loop
	mon    *control.Monitor
	bridge *Bridge
	tap    *timedSink
	id     string

	mu    sync.Mutex
	steps []stepRecord

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// timedSink forwards steps to the monitor's ring and measures, on the
// loop's thread, whether that push ever made a tick late. A push that
// started before the tick's next deadline and ended after it is blamed
// when it spent that time on the CPU and more than 1 % of the period
// there; otherwise it is counted apart: descheduled (the OS gave the core
// to another process, or the Go runtime stopped the world for the GC) or
// marginal (a push of normal cost at the very end of a tick that woke
// almost a period late). The push itself takes no lock and never waits
// (see TestPushNeverWaits).
type timedSink struct {
	next        control.Sink
	clock       control.Clock
	period      time.Duration
	pushes      control.Histogram
	blamed      atomic.Int64 // ticks the push made late
	descheduled atomic.Int64 // late ticks whose push was mostly off the CPU
	marginal    atomic.Int64 // late ticks whose push was cheap but last
}

func threadCPU() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

func (s *timedSink) Push(st *control.Step) bool {
	c0, t0 := threadCPU(), s.clock.Now()
	ok := s.next.Push(st)
	t1, c1 := s.clock.Now(), threadCPU()
	wall := t1.Sub(t0)
	s.pushes.Add(wall)
	if deadline := st.Time.Add(s.period); t1.After(deadline) && !t0.After(deadline) {
		switch cpu := c1 - c0; {
		case 2*cpu < wall:
			s.descheduled.Add(1)
		case cpu <= s.period/100:
			s.marginal.Add(1)
		default:
			s.blamed.Add(1)
		}
	}
	return ok
}

func startRobot(t *testing.T, url, id string, o robotOpts) *testRobot {
	t.Helper()
	if o.profile == "" {
		o.profile = "reachy-mini"
	}
	d, err := robot.Load(o.profile)
	if err != nil {
		t.Fatal(err)
	}
	rate := d.Rate
	if o.loopRate > 0 {
		rate = o.loopRate
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if o.quiet {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	bus := sim.NewBus(d)
	if err := bus.Configure(context.Background()); err != nil {
		t.Fatal(err)
	}
	clock := control.NewWallClock(50 * time.Microsecond)
	monRing := control.NewRing(1024)
	stepRing := control.NewRing(4096)
	tap := &timedSink{next: monRing, clock: clock, period: time.Duration(float64(time.Second) / rate)}
	loop, err := control.New(control.Config{Rate: rate, Clock: clock, Bus: bus,
		Limits: control.LimitsFromDescription(d, 0.01), Sinks: []control.Sink{tap, stepRing}, Logger: log,
		// This machine is shared with other test runs. Robots run the
		// daemon with --rt; here SCHED_FIFO alone keeps the loop on time
		// when the OS allows it (a refusal is logged and the tests go on).
		// A loop still starved of CPU must not trip its overrun watchdogs:
		// this suite tests telemetry.
		RT:     &control.RealTime{Priority: 50, CPU: -1},
		Safety: control.Safety{OverrunStreak: math.MaxInt32, ClockJump: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	mon := control.NewMonitor(loop, monRing, log)
	br, err := NewBridge(BridgeConfig{Broker: url, RobotID: id, RemoteControl: o.remote, Controller: loop,
		Joints: d.JointNames(), LoopRate: rate, StateRate: o.stateRate, Description: d.Name, Software: "test",
		MaxReconnectInterval: o.maxReconnect, EventBuffer: o.eventBuffer, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	mon.Subscribe(br.Observe)
	r := &testRobot{t: t, desc: d, loop: loop, mon: mon, bridge: br, tap: tap, id: id}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	loopCtx, stopLoop := context.WithCancel(context.Background())
	r.wg.Add(4)
	go func() {
		defer r.wg.Done()
		// Locked once more than Run unlocks: when this goroutine ends, its
		// thread ends with it instead of going back to the scheduler with
		// SCHED_FIFO (Run does not restore the policy it set).
		runtime.LockOSThread()
		_ = loop.Run(loopCtx)
	}()
	go func() { defer r.wg.Done(); _ = mon.Run(ctx, 10*time.Millisecond) }()
	go func() { defer r.wg.Done(); _ = br.Run(ctx) }()
	go func() {
		defer r.wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var st control.Step
		for {
			for stepRing.Pop(&st) {
				r.mu.Lock()
				r.steps = append(r.steps, stepRecord{st.Seq, st.Command.Torque, st.Lifecycle})
				r.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() {
		stopLoop()
		cancel()
		r.wg.Wait()
		if n := stepRing.Dropped(); n > 0 {
			t.Errorf("%s: the test's step log dropped %d steps", id, n)
		}
	})
	if !o.noActivate {
		loop.Request(control.RequestActivate)
	}
	return r
}

func (r *testRobot) topic(name string) string { return Topic(r.id, name) }

// stepLog returns the steps recorded so far.
func (r *testRobot) stepLog() []stepRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]stepRecord(nil), r.steps...)
}

// waitFor polls cond every few milliseconds until it holds or timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// ---- the daemon, built from source ---------------------------------------------

var (
	daemonOnce sync.Once
	daemonBin  string
	daemonErr  error
)

// buildDaemon builds cmd/anther once per test binary.
func buildDaemon(t *testing.T) string {
	t.Helper()
	daemonOnce.Do(func() {
		dir, err := os.MkdirTemp("", "anther-telemetry-test-")
		if err != nil {
			daemonErr = err
			return
		}
		daemonBin = filepath.Join(dir, "anther")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", daemonBin, "../cmd/anther")
		if out, err := cmd.CombinedOutput(); err != nil {
			daemonErr = fmt.Errorf("go build ../cmd/anther: %v\n%s", err, out)
		}
	})
	if daemonErr != nil {
		t.Fatal(daemonErr)
	}
	return daemonBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if daemonBin != "" {
		os.RemoveAll(filepath.Dir(daemonBin))
	}
	os.Exit(code)
}
