package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/anther-robotics/anther/drivers/camera"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
)

func (a *app) cameraCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "camera",
		Short: "list, probe and snapshot cameras: USB/V4L2 devices, rtsp:// streams, video files, sim",
		Long: `camera inspects camera sources as the daemon opens them. A SOURCE is a V4L2
device index (0) or path (/dev/video0), an rtsp:// URL, a video file (clip.mp4),
or "sim": a simulated camera served over RTSP by this process (needs ffmpeg).`,
	}
	cmd.AddCommand(a.cameraListCmd(), a.cameraProbeCmd(), a.cameraSnapshotCmd())
	return cmd
}

// cameraFlags are the options shared by probe and snapshot.
type cameraFlags struct {
	width, height int
	fps           float64
	fourcc        string
	transport     string
}

func (f *cameraFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.IntVar(&f.width, "width", 0, "USB: width to ask for (0 = the device's default); sim: picture width (default 640)")
	fl.IntVar(&f.height, "height", 0, "USB: height to ask for; sim: picture height (default 480)")
	fl.Float64Var(&f.fps, "fps", 0, "USB: rate to ask for; sim: rate (default 30)")
	fl.StringVar(&f.fourcc, "fourcc", "", "USB: pixel format to ask for, MJPG or YUYV")
	fl.StringVar(&f.transport, "transport", "", "RTSP: tcp or udp (default: udp, falling back to tcp)")
}

// config builds the camera configuration for source; for "sim" it first
// starts a simulated camera and its RTSP server, which stop() ends.
func (f *cameraFlags) config(ctx context.Context, source string, log *slog.Logger) (camera.Config, func(), error) {
	cfg := camera.Config{Name: "camera", Source: source, Width: f.width, Height: f.height, FPS: f.fps,
		FourCC: f.fourcc, Transport: camera.Transport(strings.ToLower(f.transport)), Logger: log}
	src, err := camera.ParseSource(source)
	if err != nil {
		return cfg, func() {}, err
	}
	if src.Kind != camera.KindSim {
		return cfg, func() {}, nil
	}
	name := src.Path
	if name == "" {
		name = "sim"
	}
	srv := sim.NewRTSPServer("127.0.0.1:0", log)
	if err := srv.Start(); err != nil {
		return cfg, func() {}, err
	}
	sc, err := sim.NewCamera(sim.CameraConfig{Name: name, Width: orDefault(f.width, simCameraWidth),
		Height: orDefault(f.height, simCameraHeight), FPS: orDefaultF(f.fps, simCameraFPS)})
	if err != nil {
		srv.Close()
		return cfg, func() {}, err
	}
	sctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- sc.Serve(sctx, srv.URL(name), log) }()
	stop := func() {
		cancel()
		<-served
		srv.Close()
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := srv.WaitPublished(wctx, name); err != nil {
		stop()
		select {
		case err := <-served:
			if err != nil {
				return cfg, func() {}, err
			}
		default:
		}
		return cfg, func() {}, err
	}
	cfg.Source, cfg.Transport = srv.URL(name), camera.TransportTCP
	return cfg, stop, nil
}

func (a *app) cameraListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "list the V4L2 capture devices and the modes (format, size, rates) each offers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			devs, err := camera.ListDevices()
			if err != nil {
				return err
			}
			if asJSON {
				if devs == nil {
					devs = []camera.Device{}
				}
				return writeJSONTo(a, devs)
			}
			if len(devs) == 0 {
				fmt.Fprintln(a.stdout, "no V4L2 capture devices (/dev/video*) found")
				return nil
			}
			for _, d := range devs {
				fmt.Fprintf(a.stdout, "%s  %s (%s, %s)\n", d.Path, d.Name, d.Driver, d.Bus)
				for _, f := range d.Formats {
					var sizes []string
					for _, s := range f.Sizes {
						sizes = append(sizes, formatSize(s))
					}
					fmt.Fprintf(a.stdout, "  %-4s %-22s %s\n", f.FourCC, f.Description, strings.Join(sizes, "  "))
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func formatSize(s camera.FrameSize) string {
	if s.Stepwise {
		return fmt.Sprintf("%dx%d..%dx%d (step %dx%d)", s.MinWidth, s.MinHeight, s.Width, s.Height, s.StepWidth, s.StepHeight)
	}
	var rates []string
	for _, r := range s.FPS {
		rates = append(rates, strconv.FormatFloat(r, 'f', -1, 64))
	}
	return fmt.Sprintf("%dx%d@%s", s.Width, s.Height, strings.Join(rates, ","))
}

func (a *app) cameraProbeCmd() *cobra.Command {
	var (
		f        cameraFlags
		asJSON   bool
		duration time.Duration
		timeout  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "probe SOURCE [--json] [--duration 3s]",
		Short: "open a source and measure codec, size, frame rate and capture→available latency",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			log := a.logger()
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout+duration)
			defer cancel()
			cfg, stop, err := f.config(ctx, args[0], log)
			if err != nil {
				return err
			}
			defer stop()
			res, err := camera.Probe(ctx, cfg, duration)
			if err != nil {
				return err
			}
			if strings.EqualFold(args[0], "sim") || strings.HasPrefix(args[0], "sim:") {
				res.Source, res.Kind = args[0]+" ("+res.Source+")", "sim"
			}
			if asJSON {
				return writeJSONTo(a, res)
			}
			fmt.Fprintf(a.stdout, "source   %s (%s)\n", res.Source, res.Kind)
			fmt.Fprintf(a.stdout, "codec    %s %dx%d, announced %g fps\n", res.Codec, res.Width, res.Height, res.NominalFPS)
			fmt.Fprintf(a.stdout, "measured %.2f fps over %s (%d frames, %d dropped); first frame after %.0f ms\n",
				res.FPS, duration, res.Frames, res.Dropped, res.FirstFrameMS)
			fmt.Fprintf(a.stdout, "latency  capture→available p50 %.2f ms, max %.2f ms\n", res.LatencyP50MS, res.LatencyMaxMS)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().DurationVar(&duration, "duration", 3*time.Second, "how long to measure after the first frame")
	cmd.Flags().DurationVar(&timeout, "timeout", 15*time.Second, "how long to wait for the first frame")
	return cmd
}

func (a *app) cameraSnapshotCmd() *cobra.Command {
	var (
		f       cameraFlags
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "snapshot SOURCE OUT.jpg",
		Short: "save one frame from a source (.jpg, .png, .bmp, .ppm or .tiff)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			log := a.logger()
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			cfg, stop, err := f.config(ctx, args[0], log)
			if err != nil {
				return err
			}
			defer stop()
			var fr robot.Frame
			if err := camera.Snapshot(ctx, cfg, &fr); err != nil {
				return err
			}
			if err := camera.WriteImage(args[1], &fr); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "wrote %s (%dx%d, captured %s)\n", args[1], fr.Width, fr.Height, fr.Capture.Format(time.RFC3339Nano))
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().DurationVar(&timeout, "timeout", 15*time.Second, "how long to wait for a frame")
	return cmd
}

// writeJSONTo prints v as indented JSON on the app's stdout.
func writeJSONTo(a *app, v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
