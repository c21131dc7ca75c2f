package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/policy"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
	"github.com/anther-robotics/anther/telemetry"
	"github.com/anther-robotics/anther/teleop"
)

type runOpts struct {
	robot    string
	sim      bool
	port     string
	listen   string
	activate bool
	spin     time.Duration
	rt       bool
	urdf     string
	mqtt     mqttOpts
	noCams   bool
	datasets string
	fps      int
	policy   string
	polSpec  string
	polStart bool
	ortLib   string
	leader   string
	tlsCert  string
	tlsKey   string
}

func (a *app) runCmd() *cobra.Command {
	var o runOpts
	cmd := &cobra.Command{
		Use:   "run --robot NAME|FILE [--sim | --port P] [--listen ADDR]",
		Short: "run the robot daemon: control loop, HTTP API and metrics",
		Long: `run owns one robot: it opens its buses (or the simulator with --sim), runs the
control loop at the description's rate, and serves the HTTP API and /metrics.
It logs "listening on http://ADDR" once the API is up (port 0 picks a free port).
Ctrl-C or SIGTERM halts the actuators (torque off) before the process exits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("activate") {
				o.activate = o.sim
			}
			return a.runDaemon(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.robot, "robot", "", "built-in profile name or description file (see `anther robots`)")
	f.BoolVar(&o.sim, "sim", false, "run on the simulator instead of real buses")
	f.StringVar(&o.port, "port", "", "serial port for the first bus (overrides the description)")
	f.StringVar(&o.listen, "listen", "127.0.0.1:8080", "HTTP listen address")
	f.BoolVar(&o.activate, "activate", false, "turn torque on at start (default: on with --sim, off on hardware)")
	f.DurationVar(&o.spin, "spin", 50*time.Microsecond, "busy-wait before each deadline (trades CPU for timing precision)")
	f.BoolVar(&o.rt, "rt", false, "real-time tuning of the loop thread: SCHED_FIFO 80, mlockall, GOGC=off with GOMEMLIMIT=512MiB")
	f.StringVar(&o.urdf, "urdf", "", "tighten joint limits with a URDF's <limit>s (joints matched by name)")
	registerMQTTFlags(f, &o.mqtt)
	f.BoolVar(&o.noCams, "no-cameras", false, "do not start the description's cameras (with --sim: the simulated ones)")
	f.StringVar(&o.datasets, "datasets", "", "folder for recorded LeRobot datasets: enables recording (/api/recording) and the Hub upload queue (/api/uploads)")
	f.IntVar(&o.fps, "fps", 30, "dataset frames per second when recording")
	f.StringVar(&o.policy, "policy", "", "ONNX policy to load at start (see `anther policy inspect`)")
	f.StringVar(&o.polSpec, "policy-spec", "", "policy spec YAML (default: from the model's metadata)")
	f.BoolVar(&o.polStart, "policy-start", false, "start the loaded policy once the robot is active")
	f.StringVar(&o.tlsCert, "tls-cert", "", "serve HTTPS with this certificate (PEM; with --tls-key)")
	f.StringVar(&o.tlsKey, "tls-key", "", "private key for --tls-cert (PEM)")
	f.StringVar(&o.leader, "leader", "", "leader arm as PROFILE[:PORT] (e.g. so101-leader:/dev/ttyACM1): the robot follows it when active")
	f.StringVar(&o.ortLib, "ort-lib", "", "path to libonnxruntime.so (default: $ORT_LIB, then the make deps cache)")
	_ = cmd.MarkFlagRequired("robot")
	return cmd
}

func (a *app) runDaemon(ctx context.Context, o runOpts) error {
	events := teleop.NewEvents()
	log := slog.New(teleop.NewLogHandler(a.handler(), events, slog.LevelInfo))
	token, created, err := teleop.LoadToken(true)
	if err != nil {
		return err
	}
	d, err := robot.Load(o.robot)
	if err != nil {
		return err
	}
	if o.port != "" && len(d.Buses) > 0 {
		d.Buses[0].Port = o.port
	}
	if o.urdf != "" {
		u, err := robot.ReadURDF(o.urdf)
		if err != nil {
			return err
		}
		matched, missing := robot.ApplyURDFLimits(d, u)
		log.Info("limits tightened from URDF", "urdf", o.urdf, "matched", matched, "missing", missing)
	}
	hw, err := openHardware(d, o)
	if err != nil {
		return err
	}
	defer hw.Close()
	if err := hw.Configure(ctx); err != nil {
		return fmt.Errorf("configure %s: %w", d.Name, err)
	}

	ring := control.NewRing(1024)
	clock := control.NewWallClock(o.spin)
	clock.KeepP = o.rt
	recSlot := &lateSink{}
	cfg := control.Config{
		Rate: d.Rate, Clock: clock, Bus: hw,
		Limits: control.LimitsFromDescription(d, 0.01), Sinks: []control.Sink{ring, recSlot}, Logger: log,
	}
	if o.rt {
		rt := control.DefaultRealTime()
		cfg.RT = &rt
	}
	loop, err := control.New(cfg)
	if err != nil {
		return err
	}
	mon := control.NewMonitor(loop, ring, log)
	var cams []NamedCamera
	if !o.noCams {
		var stopCams func()
		if cams, stopCams, err = startCameras(ctx, d, o.sim, monitorJoints(mon, len(d.Joints)), log); err != nil {
			return err
		}
		defer stopCams()
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		telemetry.NewLoopCollector(loop, d.Name))
	stopTelemetry, err := startTelemetry(ctx, o.mqtt, d, loop, mon, reg, log)
	if err != nil {
		return err
	}
	defer stopTelemetry()
	api := teleop.NewServer(teleop.Options{Desc: d, Loop: loop, Monitor: mon, Events: events,
		Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), Log: log,
		Token: token, OpenReads: teleop.IsLoopback(o.listen), Cameras: cameraStates(cams), Camera: cameraByName(cams)})

	if o.datasets != "" {
		_, stopRec, err := startRecording(ctx, api, recSlot, d, cams, o, log)
		if err != nil {
			return err
		}
		defer stopRec()
	}
	var imu policy.IMU
	if o.sim {
		imu = sim.NewIMU()
	}
	if o.leader != "" {
		stopLeader, err := startLeader(ctx, o.leader, o.sim, d, hw, loop, api, o.spin, log)
		if err != nil {
			return err
		}
		defer stopLeader()
	}
	pm := newPolicyManager(d, loop, log, o.ortLib, imu)
	pm.images = map[string]policy.ImageSource{}
	for _, c := range cams {
		pm.images[c.Name] = &policy.CameraImages{Camera: c.Camera}
	}
	defer pm.Close()
	api.RegisterPolicy(pm)

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 5 * time.Second}

	loopCtx, stopLoop := context.WithCancel(context.Background())
	defer stopLoop()
	loopDone := make(chan error, 1)
	go func() { loopDone <- loop.Run(loopCtx) }()
	monCtx, stopMon := context.WithCancel(context.Background())
	defer stopMon()
	go mon.Run(monCtx, 10*time.Millisecond)
	httpDone := make(chan error, 1)
	scheme := "http"
	if o.tlsCert != "" || o.tlsKey != "" {
		if o.tlsCert == "" || o.tlsKey == "" {
			return errors.New("--tls-cert and --tls-key go together")
		}
		scheme = "https"
		go func() { httpDone <- srv.ServeTLS(ln, o.tlsCert, o.tlsKey) }()
	} else {
		go func() { httpDone <- srv.Serve(ln) }()
	}

	log.Info("anther running", "robot", d.Name, "source", d.Source, "sim", o.sim,
		"joints", len(d.Joints), "rate_hz", d.Rate)
	log.Info("listening on " + scheme + "://" + ln.Addr().String())
	if created {
		tf, _ := teleop.TokenFile()
		fmt.Fprintf(a.stdout, "console: %s://%s/?token=%s\n(a new API token, kept in %s; this is the only time it is printed — `anther token` shows it again)\n", scheme, ln.Addr(), token, tf)
	} else {
		fmt.Fprintf(a.stdout, "console: %s://%s/ (log in once with /?token=TOKEN; `anther token` prints the URL)\n", scheme, ln.Addr())
	}
	if o.activate {
		loop.Request(control.RequestActivate)
	}
	if o.policy != "" {
		if err := startPolicyFromFlags(ctx, pm, loop, o, log); err != nil {
			return err
		}
	}

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("stopping: halting actuators")
	case err := <-loopDone:
		loopDone <- err
		runErr = fmt.Errorf("control loop stopped: %w", err)
	case err := <-httpDone:
		runErr = fmt.Errorf("http server: %w", err)
	}
	// Halt first: stop the loop (which halts the bus on its way out), then
	// halt again directly in case the loop is stuck, then the rest.
	stopLoop()
	select {
	case err := <-loopDone:
		if err != nil && runErr == nil {
			runErr = err
		}
	case <-time.After(2 * time.Second):
		log.Error("control loop did not stop within 2 s")
	}
	if err := hw.Halt(); err != nil {
		log.Error("halt", "err", err)
	} else {
		log.Info("actuators halted")
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("http shutdown", "err", err)
	}
	stopMon()
	rep := loop.Timing().Report()
	log.Info("loop timing", "ticks", rep.Ticks, "overruns", rep.Overruns,
		"lateness_p50_us", rep.Lateness.P50US, "lateness_p99_us", rep.Lateness.P99US,
		"lateness_p99_9_us", rep.Lateness.P999US, "lateness_max_us", rep.Lateness.MaxUS)
	if runErr != nil {
		return runErr
	}
	log.Info("stopped cleanly")
	return nil
}
