package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/drivers/feetech"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/teleop"
)

// teleopOpts are the flags of `anther teleop`.
type teleopOpts struct {
	leader, follower       string // PROFILE[:PORT]
	leaderCal, followerCal string // LeRobot calibration files (optional)
	simulate               bool
	rangeMode              bool
	listen                 string
	activate               bool
	spin                   time.Duration
}

func (a *app) teleopCmd() *cobra.Command {
	var o teleopOpts
	cmd := &cobra.Command{
		Use:   "teleop --leader so101-leader:PORT --follower so101-follower:PORT [--sim] [--listen ADDR]",
		Short: "leader-follower teleoperation: a follower arm mirrors a leader arm moved by hand",
		Long: `teleop runs the follower arm's control loop with the leader arm as its source of
intent: every tick it reads the leader's servos (their torque stays off, the
arm is moved by hand) and commands the follower's joints to the same
positions in LeRobot's units — degrees for the body joints (--range: LeRobot's
older RANGE_M100_100), 0–100 % of the calibrated range for the gripper — so a
leader and a follower with different calibrations match as they do in
LeRobot. The follower's commands go through its safety limits; a silent
leader servo holds its follower joint, a silent follower servo holds the
arm, and both show in GET /api/state.

Each arm is PROFILE:PORT (a built-in profile or description file, then the
serial port); calibrations are the servos' own unless given as LeRobot
files. --sim runs both arms on the simulator, with a scripted hand moving the
leader. The HTTP API (state, e-stop, lifecycle) is served as by anther run;
Ctrl-C halts the follower.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.teleop(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.leader, "leader", "so101-leader", "leader arm: PROFILE[:PORT]")
	f.StringVar(&o.follower, "follower", "so101-follower", "follower arm: PROFILE[:PORT]")
	f.StringVar(&o.leaderCal, "leader-calibration", "", "LeRobot calibration file of the leader (default: the servos' own)")
	f.StringVar(&o.followerCal, "follower-calibration", "", "LeRobot calibration file of the follower (default: the servos' own)")
	f.BoolVar(&o.simulate, "sim", false, "run both arms on the simulator; a scripted hand moves the leader")
	f.BoolVar(&o.rangeMode, "range", false, "map body joints by range (RANGE_M100_100) instead of degrees")
	f.StringVar(&o.listen, "listen", "127.0.0.1:8080", "HTTP listen address")
	f.BoolVar(&o.activate, "activate", true, "turn the follower's torque on at start and follow at once")
	f.DurationVar(&o.spin, "spin", 50*time.Microsecond, "busy-wait before each deadline")
	return cmd
}

// splitArm parses PROFILE[:PORT].
func splitArm(s string) (profile, port string) {
	profile, port, _ = strings.Cut(s, ":")
	return profile, port
}

// loadArm loads one arm of teleop: its description and, if a file is
// given, its LeRobot calibration.
func loadArm(spec, calFile string) (*robot.Description, string, robot.Calibration, error) {
	profile, port := splitArm(spec)
	d, err := robot.Load(profile)
	if err != nil {
		return nil, "", nil, err
	}
	if calFile == "" {
		return d, port, nil, nil
	}
	cal, err := robot.ReadCalibration(calFile)
	if err != nil {
		return nil, "", nil, err
	}
	if err := checkCalibration(d, cal, calFile); err != nil {
		return nil, "", nil, err
	}
	return d, port, cal, nil
}

// teleop is the body of `anther teleop`.
func (a *app) teleop(ctx context.Context, o teleopOpts) error {
	events := teleop.NewEvents()
	log := a.logger()
	ld, lport, lcal, err := loadArm(o.leader, o.leaderCal)
	if err != nil {
		return fmt.Errorf("--leader: %w", err)
	}
	fd, fport, fcal, err := loadArm(o.follower, o.followerCal)
	if err != nil {
		return fmt.Errorf("--follower: %w", err)
	}
	if !o.simulate && (lport == "" || fport == "") {
		return errors.New("teleop: give each arm's port (--leader PROFILE:PORT --follower PROFILE:PORT), or --sim")
	}
	token, _, err := teleop.LoadToken(true)
	if err != nil {
		return err
	}
	period := time.Duration(float64(time.Second) / fd.Rate)
	// Each arm's read (retries included) gets a third of the tick, leaving
	// the rest to the write and the loop.
	budget := period * 35 / 100
	leader, err := openFeetechArm(ld, armOpts{port: lport, simulate: o.simulate, cal: lcal, budget: budget, spin: o.spin, log: log})
	if err != nil {
		return fmt.Errorf("leader: %w", err)
	}
	defer leader.bus.Close()
	follower, err := openFeetechArm(fd, armOpts{port: fport, simulate: o.simulate, cal: fcal, budget: budget, spin: o.spin, log: log})
	if err != nil {
		return fmt.Errorf("follower: %w", err)
	}
	defer follower.bus.Close()
	if leader.sim != nil {
		leader.sim.SetHand(triangleHand(ld, 0.6, 3))
	}
	if err := leader.bus.Configure(ctx); err != nil {
		return fmt.Errorf("configure leader %s: %w", ld.Name, err)
	}
	if err := leader.bus.TorqueAll(ctx, false); err != nil {
		return fmt.Errorf("leader torque off: %w", err)
	}
	if err := follower.bus.Configure(ctx); err != nil {
		return fmt.Errorf("configure follower %s: %w", fd.Name, err)
	}
	src, err := teleop.NewLeader(teleop.LeaderConfig{Bus: leader.bus, Leader: ld, Follower: fd,
		LeaderCal: leader.bus.Calibration(), FollowerCal: follower.bus.Calibration(), Degrees: !o.rangeMode})
	if err != nil {
		return err
	}

	ring := control.NewRing(1024)
	// A silent servo holds the follower (its targets freeze) for half a
	// second before the bus watchdog faults it.
	half := int(fd.Rate/2 + 0.5)
	loop, err := control.New(control.Config{Rate: fd.Rate, Clock: control.NewWallClock(o.spin), Bus: &retryFirstRead{Hardware: follower.bus},
		Limits: control.LimitsFromDescription(fd, 0.01), Sinks: []control.Sink{ring}, Logger: log,
		Safety: control.Safety{NoReplyTicks: half, BusErrorTicks: half}})
	if err != nil {
		return err
	}
	mon := control.NewMonitor(loop, ring, log)
	api := teleop.NewServer(teleop.Options{Desc: fd, Loop: loop, Monitor: mon, Events: events, Log: log,
		Token: token, OpenReads: teleop.IsLoopback(o.listen)})
	api.RegisterLeader(src)
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
	go func() { httpDone <- srv.Serve(ln) }()
	source := "leader:" + ld.Name
	log.Info("teleop running", "leader", ld.Name, "leader_port", lport, "follower", fd.Name, "follower_port", fport,
		"sim", o.simulate, "rate_hz", fd.Rate, "mapping", map[bool]string{false: "degrees", true: "range"}[o.rangeMode])
	log.Info("listening on http://" + ln.Addr().String())
	if o.activate {
		loop.Request(control.RequestActivate)
	}

	// Attach the leader whenever the follower becomes active (activating
	// clears the loop's source), until the process stops.
	watch := time.NewTicker(20 * time.Millisecond)
	defer watch.Stop()
	wasActive := false
	var runErr error
wait:
	for {
		select {
		case <-ctx.Done():
			log.Info("stopping: halting the follower")
			break wait
		case err := <-loopDone:
			loopDone <- err
			runErr = fmt.Errorf("control loop stopped: %w", err)
			break wait
		case err := <-httpDone:
			runErr = fmt.Errorf("http server: %w", err)
			break wait
		case <-watch.C:
			active := loop.Lifecycle() == robot.Active
			if active && !wasActive {
				loop.SetSource(source, src, 0)
				log.Info("following the leader", "source", source)
			}
			wasActive = active
		}
	}
	stopLoop()
	select {
	case err := <-loopDone:
		if err != nil && runErr == nil {
			runErr = err
		}
	case <-time.After(2 * time.Second):
		log.Error("control loop did not stop within 2 s")
	}
	if err := follower.bus.Halt(); err != nil {
		log.Error("halt follower", "err", err)
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("http shutdown", "err", err)
	}
	rep := loop.Timing().Report()
	st := src.Status()
	log.Info("teleop stopped", "ticks", rep.Ticks, "overruns", rep.Overruns, "lateness_p99_us", rep.Lateness.P99US,
		"leader_reads", st.Reads, "leader_errors", st.Errors,
		"follower_retries", follower.bus.Stats().Retries, "leader_retries", leader.bus.Stats().Retries)
	return runErr
}

// retryFirstRead gives the loop's first read, which the loop does not
// retry (a failure there stops it before its first tick), the retries a
// tick's transient error would get on later ticks.
type retryFirstRead struct {
	robot.Hardware
	started bool
}

// Read reads the bus, retrying a transient error up to three times on the
// first call only.
func (r *retryFirstRead) Read(now time.Time, s *robot.State) error {
	err := r.Hardware.Read(now, s)
	for i := 0; !r.started && i < 3 && err != nil && feetech.IsTransient(err); i++ {
		err = r.Hardware.Read(now, s)
	}
	r.started = true
	return err
}
