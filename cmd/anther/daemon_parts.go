package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/dataset"
	"github.com/anther-robotics/anther/dataset/hub"
	"github.com/anther-robotics/anther/dataset/record"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/teleop"
)

// lateSink is a loop sink whose target is attached after the loop was built
// (the recorder needs the cameras, which need the loop's monitor). Push is
// one atomic load: nothing attached means nothing to do.
type lateSink struct{ p atomic.Pointer[sinkBox] }

type sinkBox struct{ s control.Sink }

// Push implements control.Sink.
func (l *lateSink) Push(st *control.Step) bool {
	if b := l.p.Load(); b != nil {
		return b.s.Push(st)
	}
	return true
}

func (l *lateSink) attach(s control.Sink) { l.p.Store(&sinkBox{s: s}) }

// startRecording attaches a LeRobot recorder to the loop (through slot),
// serves /api/recording, and runs the Hub upload queue behind /api/uploads,
// all kept in o.datasets. stop ends both and waits for them.
func startRecording(ctx context.Context, api *teleop.Server, slot *lateSink, d *robot.Description,
	cams []NamedCamera, o runOpts, log *slog.Logger) (*record.Recorder, func(), error) {
	jm, err := record.NewJointMap(d, record.UnitsLeRobot)
	if err != nil {
		return nil, nil, err
	}
	var specs []record.CameraSpec
	for _, c := range cams {
		w, h := 640, 480
		for _, cs := range d.Cameras {
			if cs.Name == c.Name {
				w, h = cs.Width, cs.Height
			}
		}
		specs = append(specs, record.CameraSpec{Name: c.Name, Width: w, Height: h, Camera: c.Camera})
	}
	rec, err := record.New(record.Config{Joints: jm, FPS: o.fps, Cameras: specs, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	slot.attach(rec)
	sess := record.NewSession(rec, o.datasets, dataset.Config{RobotType: record.RobotType(d), FPS: o.fps,
		Features: record.Features(jm, specs), Units: record.UnitsOf(jm),
		Video: dataset.VideoConfig{Codec: dataset.CodecH264}, Logger: log})
	api.RegisterRecording(sess)

	uploads, err := hub.OpenQueue(hub.QueueConfig{Dir: o.datasets, Logger: log})
	if err != nil {
		sess.Close()
		return nil, nil, err
	}
	api.RegisterUploads(uploads)

	ctx, cancel := context.WithCancel(ctx)
	recDone, upDone := make(chan error, 1), make(chan error, 1)
	go func() { recDone <- rec.Run(ctx) }()
	go func() { upDone <- uploads.Run(ctx) }()
	log.Info("recording enabled", "datasets", o.datasets, "fps", o.fps, "cameras", len(specs))
	return rec, func() {
		cancel()
		for _, ch := range []chan error{recDone, upDone} {
			if err := <-ch; err != nil && !errors.Is(err, context.Canceled) {
				log.Warn("stopping recording", "err", err)
			}
		}
		if err := sess.Close(); err != nil {
			log.Warn("closing the dataset", "err", err)
		}
	}, nil
}

// startPolicyFromFlags loads --policy and, with --policy-start, starts it
// once the robot is active.
func startPolicyFromFlags(ctx context.Context, pm *policyManager, loop *control.Loop, o runOpts, log *slog.Logger) error {
	st, err := pm.LoadPolicy(ctx, teleop.PolicyLoadRequest{Model: o.policy, Spec: o.polSpec})
	if err != nil {
		return fmt.Errorf("--policy: %w", err)
	}
	log.Info("policy loaded", "model", o.policy, "status", st)
	if !o.polStart {
		return nil
	}
	go func() {
		for deadline := time.Now().Add(10 * time.Second); loop.Lifecycle() != robot.Active; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) || ctx.Err() != nil {
				log.Warn("--policy-start: the robot did not become active; start the policy from the console or API")
				return
			}
		}
		if _, err := pm.StartPolicy(ctx); err != nil {
			log.Error("--policy-start", "err", err)
		}
	}()
	return nil
}

// cameraByName finds a running camera for the console's previews.
func cameraByName(cams []NamedCamera) func(string) robot.Camera {
	return func(name string) robot.Camera {
		for _, c := range cams {
			if c.Name == name && c.Camera != nil {
				return c.Camera
			}
		}
		return nil
	}
}

// startLeader opens the leader arm given as PROFILE[:PORT] (simulated, with
// a scripted hand moving it, when sim), keeps its torque off, and makes it
// the loop's source of intent each time the follower becomes active. It
// serves GET /api/teleop/leader and puts the leader's faults in /api/state.
func startLeader(ctx context.Context, spec string, simulate bool, d *robot.Description, hw robot.Hardware,
	loop *control.Loop, api *teleop.Server, spin time.Duration, log *slog.Logger) (func(), error) {
	ld, port, cal, err := loadArm(spec, "")
	if err != nil {
		return nil, fmt.Errorf("--leader: %w", err)
	}
	if !simulate && port == "" {
		return nil, errors.New("--leader: give the leader's port as PROFILE:PORT (or run with --sim)")
	}
	budget := time.Duration(float64(time.Second)/d.Rate) * 35 / 100
	arm, err := openFeetechArm(ld, armOpts{port: port, simulate: simulate, cal: cal, budget: budget, spin: spin, log: log})
	if err != nil {
		return nil, fmt.Errorf("leader: %w", err)
	}
	if arm.sim != nil {
		arm.sim.SetHand(triangleHand(ld, 0.6, 3))
	}
	if err := arm.bus.Configure(ctx); err != nil {
		arm.bus.Close()
		return nil, fmt.Errorf("configure leader %s: %w", ld.Name, err)
	}
	if err := arm.bus.TorqueAll(ctx, false); err != nil {
		arm.bus.Close()
		return nil, fmt.Errorf("leader torque off: %w", err)
	}
	src, err := teleop.NewLeader(teleop.LeaderConfig{Bus: arm.bus, Leader: ld, Follower: d,
		LeaderCal: arm.bus.Calibration(), FollowerCal: robot.CalibrationOf(hw), Degrees: true})
	if err != nil {
		arm.bus.Close()
		return nil, err
	}
	api.RegisterLeader(src)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	name := "leader:" + ld.Name
	go func() {
		defer close(done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		wasActive := false
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			active := loop.Lifecycle() == robot.Active
			if active && !wasActive {
				loop.SetSource(name, src, 0)
				log.Info("following the leader", "source", name)
			}
			wasActive = active
		}
	}()
	log.Info("leader arm attached", "leader", ld.Name, "port", port, "sim", simulate)
	return func() { cancel(); <-done; arm.bus.Close() }, nil
}
