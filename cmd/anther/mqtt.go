package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/telemetry"
)

// mqttOpts are the MQTT options of `anther run`.
type mqttOpts struct {
	url           string  // broker URL; "" runs the embedded broker; "off" disables MQTT
	robotID       string  // anther/<robot-id>/…; "" = the description's name
	user          string  // broker username
	passwordFile  string  // file holding the broker password
	ca            string  // CA certificate (PEM) for ssl:// brokers
	cert, key     string  // client certificate and key (PEM)
	remoteControl bool    // accept commands other than estop
	port          int     // embedded broker port (127.0.0.1)
	stateRate     float64 // state messages per second
}

// registerMQTTFlags adds the MQTT flags to f. ANTHER_MQTT, ANTHER_ROBOT_ID
// and ANTHER_MQTT_USER give their defaults; ANTHER_MQTT_PASSWORD is read
// when no password file is given.
func registerMQTTFlags(f *pflag.FlagSet, o *mqttOpts) {
	f.StringVar(&o.url, "mqtt", os.Getenv("ANTHER_MQTT"),
		`MQTT broker URL (tcp://HOST:PORT, or ssl://HOST:PORT with TLS); empty runs an embedded broker on 127.0.0.1; "off" disables MQTT`)
	f.StringVar(&o.robotID, "robot-id", os.Getenv("ANTHER_ROBOT_ID"), "robot id in the MQTT topics anther/<robot-id>/… (default: the description's name)")
	f.StringVar(&o.user, "mqtt-user", os.Getenv("ANTHER_MQTT_USER"), "MQTT username")
	f.StringVar(&o.passwordFile, "mqtt-password-file", "", "file holding the MQTT password (default: $ANTHER_MQTT_PASSWORD)")
	f.StringVar(&o.ca, "mqtt-ca", "", "CA certificate (PEM) to verify an ssl:// broker")
	f.StringVar(&o.cert, "mqtt-cert", "", "client certificate (PEM) for an ssl:// broker that asks for one")
	f.StringVar(&o.key, "mqtt-key", "", "client key (PEM) of --mqtt-cert")
	f.BoolVar(&o.remoteControl, "remote-control", false, "accept MQTT commands other than estop (activate, goto, record, policy, …)")
	f.IntVar(&o.port, "mqtt-port", 1883, "port of the embedded broker on 127.0.0.1 (without --mqtt; a free port if taken)")
	f.Float64Var(&o.stateRate, "mqtt-state-rate", telemetry.DefaultStateRate, "MQTT state messages per second")
}

// startTelemetry starts the MQTT side of the daemon: the embedded broker
// when no --mqtt is given, and the bridge, subscribed to mon (call it
// before mon.Run) and registered with reg for its metrics. stop publishes
// the offline status, disconnects and closes the embedded broker.
func startTelemetry(ctx context.Context, o mqttOpts, d *robot.Description, loop *control.Loop,
	mon *control.Monitor, reg prometheus.Registerer, log *slog.Logger) (stop func(), err error) {
	if strings.EqualFold(o.url, "off") {
		log.Info("mqtt: off")
		return func() {}, nil
	}
	id := o.robotID
	if id == "" {
		id = d.Name
	}
	if !telemetry.ValidRobotID(id) {
		return nil, fmt.Errorf("--robot-id %q: use 1–64 letters, digits, '.', '_' or '-'", id)
	}
	cfg := telemetry.BridgeConfig{Broker: o.url, RobotID: id, Username: o.user, RemoteControl: o.remoteControl,
		Controller: loop, Joints: d.JointNames(), LoopRate: d.Rate, StateRate: o.stateRate,
		Description: d.Name, Software: "anther " + version, Logger: log}
	if o.passwordFile != "" {
		p, err := os.ReadFile(o.passwordFile)
		if err != nil {
			return nil, fmt.Errorf("--mqtt-password-file: %w", err)
		}
		cfg.Password = strings.TrimRight(string(p), "\r\n")
	} else {
		cfg.Password = os.Getenv("ANTHER_MQTT_PASSWORD")
	}
	if o.ca != "" || o.cert != "" || o.key != "" {
		if cfg.TLS, err = telemetry.LoadTLS(o.ca, o.cert, o.key); err != nil {
			return nil, err
		}
	}
	// The broker and the bridge outlive a cancelled ctx: on SIGTERM the
	// daemon halts the robot first, then stop() says "offline".
	life := context.WithoutCancel(ctx)
	var broker *telemetry.Broker
	if o.url == "" {
		if broker, err = startEmbeddedBroker(life, o.port, log); err != nil {
			return nil, err
		}
		cfg.Broker = broker.URL()
	}
	bridge, err := telemetry.NewBridge(cfg)
	if err != nil {
		if broker != nil {
			broker.Close()
		}
		return nil, err
	}
	if err := reg.Register(bridge); err != nil {
		if broker != nil {
			broker.Close()
		}
		return nil, fmt.Errorf("mqtt metrics: %w", err)
	}
	mon.Subscribe(bridge.Observe)
	runCtx, cancel := context.WithCancel(life)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := bridge.Run(runCtx); err != nil {
			log.Error("mqtt bridge", "err", err)
		}
	}()
	return func() {
		cancel()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			log.Warn("mqtt: bridge did not stop within 3 s")
		}
		if broker != nil {
			broker.Close()
		}
	}, nil
}

// startEmbeddedBroker serves MQTT on 127.0.0.1:port, or on a free port if
// that one is taken.
func startEmbeddedBroker(ctx context.Context, port int, log *slog.Logger) (*telemetry.Broker, error) {
	cfg := telemetry.BrokerConfig{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Logger: log}
	b, err := telemetry.StartBroker(ctx, cfg)
	if errors.Is(err, telemetry.ErrAddrInUse) && port != 0 {
		cfg.Addr = "127.0.0.1:0"
		if b, err = telemetry.StartBroker(ctx, cfg); err == nil {
			log.Warn(fmt.Sprintf("mqtt: port %d is taken; the embedded broker uses a free port instead", port), "url", b.URL())
		}
	}
	if err != nil {
		return nil, err
	}
	log.Info("mqtt: embedded broker listening on " + b.URL())
	return b, nil
}
