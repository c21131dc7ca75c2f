package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/drivers/camera"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
	"github.com/anther-robotics/anther/teleop"
)

// NamedCamera is one of the robot's cameras as the daemon runs it: the
// capture side (drivers/camera, what policies and recorders read) and, for
// a simulated camera, the scene served over RTSP that it reads from.
type NamedCamera struct {
	Name   string
	Camera *camera.Camera
	Sim    *sim.Camera // nil for a real camera
	URL    string      // the simulated camera's rtsp:// address ("" for real ones)
}

// simCameraDefaults fill a simulated camera's unset size and rate.
const (
	simCameraWidth  = 640
	simCameraHeight = 480
	simCameraFPS    = 30
	// simEncoderNice is the simulated cameras' ffmpeg priority: the lowest,
	// so that encoding, which a real camera does in its own hardware, does
	// not delay the control loop's wake-ups (see BenchmarkLoopWithSimCameras).
	simEncoderNice = 19
)

// startCameras starts d's cameras: with simAll (run --sim), or for a camera
// whose source is "sim", a simulated camera (the scene drawn from joints,
// encoded by ffmpeg, served by an in-process RTSP server on a free loopback
// port) read back through the RTSP client; otherwise the real source. Each
// camera captures on its own goroutines and never blocks the control
// loop. A camera that fails later retries by itself; only a description
// error fails here. stop ends them all and waits for them.
func startCameras(ctx context.Context, d *robot.Description, simAll bool, joints func([]float64) []float64, log *slog.Logger) ([]NamedCamera, func(), error) {
	ctx, cancel := context.WithCancel(ctx)
	var (
		wg   sync.WaitGroup
		srv  *sim.RTSPServer
		cams []NamedCamera
	)
	stop := func() {
		cancel()
		wg.Wait()
		if srv != nil {
			srv.Close()
		}
	}
	fail := func(err error) ([]NamedCamera, func(), error) {
		stop()
		return nil, func() {}, err
	}
	for _, spec := range d.Cameras {
		src, err := camera.ParseSource(spec.Source)
		if err != nil && !simAll {
			return fail(fmt.Errorf("camera %s: %w", spec.Name, err))
		}
		nc := NamedCamera{Name: spec.Name}
		cfg := camera.Config{Name: spec.Name, Source: spec.Source, Width: spec.Width, Height: spec.Height, FPS: spec.FPS, Logger: log}
		if simAll || src.Kind == camera.KindSim {
			if srv == nil {
				srv = sim.NewRTSPServer("127.0.0.1:0", log)
				if err := srv.Start(); err != nil {
					srv = nil
					return fail(err)
				}
			}
			sc, err := sim.NewCamera(sim.CameraConfig{Name: spec.Name, Width: orDefault(spec.Width, simCameraWidth),
				Height: orDefault(spec.Height, simCameraHeight), FPS: orDefaultF(spec.FPS, simCameraFPS), Joints: joints, Nice: simEncoderNice})
			if err != nil {
				return fail(err)
			}
			nc.Sim, nc.URL = sc, srv.URL(spec.Name)
			cfg.Source, cfg.Transport = nc.URL, camera.TransportTCP
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := sc.Serve(ctx, nc.URL, log); err != nil {
					log.Error("simulated camera stopped", "camera", spec.Name, "err", err)
				}
			}()
			log.Info("simulated camera", "camera", spec.Name, "url", nc.URL)
		}
		cam, err := camera.New(cfg)
		if err != nil {
			return fail(fmt.Errorf("camera %s: %w", spec.Name, err))
		}
		nc.Camera = cam
		wg.Add(1)
		go func() {
			defer wg.Done()
			if nc.Sim != nil && srv.WaitPublished(ctx, spec.Name) != nil {
				return // stopped before the simulated camera came up
			}
			if err := cam.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("camera stopped", "camera", spec.Name, "err", err)
			}
		}()
		cams = append(cams, nc)
	}
	return cams, stop, nil
}

// printCameraURLs writes "camera NAME: rtsp://…" for each simulated camera
// (the lines `anther sim serve` prints).
func printCameraURLs(w io.Writer, cams []NamedCamera) {
	for _, c := range cams {
		if c.URL != "" {
			fmt.Fprintf(w, "camera %s: %s\n", c.Name, c.URL)
		}
	}
}

// cameraStates returns the provider of the cameras' part of /api/state.
func cameraStates(cams []NamedCamera) func() []teleop.CameraState {
	return func() []teleop.CameraState {
		out := make([]teleop.CameraState, 0, len(cams))
		now := time.Now()
		for _, c := range cams {
			st := c.Camera.Stats()
			cs := teleop.CameraState{
				Name: c.Name, Source: st.Source, Kind: st.Kind, Codec: st.Mode.Codec, Width: st.Mode.Width,
				Height: st.Mode.Height, FPS: st.FPS, Frames: st.Frames, Dropped: st.Dropped, PacketsLost: st.PacketsLost,
				Reconnects: st.Reconnects, AgeMS: -1, LatencyMS: float64(st.Latency) / 1e6, Connected: st.Connected,
				LastError: st.LastError, URL: c.URL,
			}
			if c.Sim != nil {
				cs.Kind = "sim"
			}
			if !st.LastFrame.IsZero() {
				cs.AgeMS = float64(now.Sub(st.LastFrame)) / 1e6
			}
			out = append(out, cs)
		}
		return out
	}
}

// monitorJoints returns the joint positions of the monitor's latest step,
// for the simulated cameras' scene. Safe for concurrent use.
func monitorJoints(mon *control.Monitor, n int) func([]float64) []float64 {
	var (
		mu sync.Mutex
		st control.Step
	)
	return func(dst []float64) []float64 {
		mu.Lock()
		defer mu.Unlock()
		if !mon.Latest(&st) {
			return dst
		}
		return append(dst, st.State.Position[:min(n, robot.MaxJoints)]...)
	}
}

func orDefault(v, d int) int {
	if v > 0 {
		return v
	}
	return d
}

func orDefaultF(v, d float64) float64 {
	if v > 0 {
		return v
	}
	return d
}
