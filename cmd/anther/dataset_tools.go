package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/dataset"
	"github.com/anther-robotics/anther/dataset/record"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
)

// datasetToolCmds are the dataset subcommands that read datasets: info,
// validate, stats. The dataset command (dataset_cmd.go) adds them.
func (a *app) datasetToolCmds() []*cobra.Command {
	return []*cobra.Command{a.datasetInfoCmd(), a.datasetValidateCmd(), a.datasetStatsCmd()}
}

func (a *app) printDatasetJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(a.stdout, string(b))
	return err
}

// DatasetInfo is the output of `anther dataset info --json`.
type DatasetInfo struct {
	Root      string               `json:"root"`
	Version   string               `json:"codebase_version"`
	RobotType string               `json:"robot_type,omitempty"`
	FPS       int                  `json:"fps"`
	Episodes  int                  `json:"episodes"`
	Frames    int                  `json:"frames"`
	Seconds   float64              `json:"seconds"`
	Tasks     []string             `json:"tasks"`
	Features  []DatasetFeatureInfo `json:"features"`
	Pending   []string             `json:"interrupted,omitempty"`
	Bytes     int64                `json:"bytes"`
}

// DatasetFeatureInfo is one feature in DatasetInfo.
type DatasetFeatureInfo struct {
	Key   string   `json:"key"`
	DType string   `json:"dtype"`
	Shape []int    `json:"shape"`
	Names []string `json:"names,omitempty"`
	Codec string   `json:"codec,omitempty"`
}

func (a *app) datasetInfoCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "info DIR",
		Short: "summarise a LeRobot dataset (v3.0 or v2.1): episodes, frames, tasks, features",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ds, err := dataset.OpenDataset(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer ds.Close()
			out := DatasetInfo{Root: args[0], Version: ds.Info.CodebaseVersion, FPS: ds.Info.FPS,
				Episodes: len(ds.Episodes), Frames: ds.Info.TotalFrames, Tasks: ds.Tasks,
				Seconds: float64(ds.Info.TotalFrames) / float64(ds.Info.FPS), Pending: dataset.PendingRecovery(args[0])}
			if ds.Info.RobotType != nil {
				out.RobotType = *ds.Info.RobotType
			}
			for _, f := range ds.Info.Features {
				fi := DatasetFeatureInfo{Key: f.Key, DType: f.DType, Shape: f.Shape, Names: f.NameList()}
				if vi, err := f.VideoInfo(); err == nil {
					fi.Codec = vi.Codec
				}
				out.Features = append(out.Features, fi)
			}
			_ = filepath.Walk(args[0], func(_ string, info os.FileInfo, err error) error {
				if err == nil && !info.IsDir() {
					out.Bytes += info.Size()
				}
				return nil
			})
			if asJSON {
				return a.printDatasetJSON(out)
			}
			fmt.Fprintf(a.stdout, "%s: LeRobot %s, robot %s, %d fps\n", out.Root, out.Version, orDash(out.RobotType), out.FPS)
			fmt.Fprintf(a.stdout, "%d episodes, %d frames (%.1f s), %.1f MB\n", out.Episodes, out.Frames, out.Seconds, float64(out.Bytes)/1e6)
			fmt.Fprintf(a.stdout, "tasks: %q\n", out.Tasks)
			fmt.Fprintln(a.stdout, "features:")
			for _, f := range out.Features {
				extra := ""
				if f.Codec != "" {
					extra = " codec " + f.Codec
				}
				if len(f.Names) > 0 {
					extra += " " + strings.Join(f.Names, ", ")
				}
				fmt.Fprintf(a.stdout, "  %-28s %-8s %v%s\n", f.Key, f.DType, f.Shape, extra)
			}
			for _, p := range out.Pending {
				fmt.Fprintln(a.stdout, "interrupted:", p)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a *app) datasetValidateCmd() *cobra.Command {
	var (
		asJSON, skipVideo bool
	)
	cmd := &cobra.Command{
		Use:   "validate DIR",
		Short: "check a dataset as LeRobot does when it loads it (exit 1 on any error)",
		Long: `validate runs LeRobot's load-time checks and the ones third-party writers fail:
version (v3.0; v2.1 is refused by current LeRobot), features against the parquet
columns' types and shapes (vectors as fixed_size_list), the tasks table's pandas
index, timestamp = frame_index/fps, per-episode index continuity, the episode
table against info.json, for every camera the decoded frame count against the
episode's rows and every frame's PTS within 1e-4 s of from_timestamp + i/fps,
and stats.json for every feature.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := dataset.Validate(cmd.Context(), args[0], dataset.ValidateOptions{SkipVideo: skipVideo})
			if err != nil {
				return err
			}
			if asJSON {
				if err := a.printDatasetJSON(rep); err != nil {
					return err
				}
			} else {
				for _, e := range rep.Errors {
					fmt.Fprintln(a.stdout, "error:", e)
				}
				for _, w := range rep.Warnings {
					fmt.Fprintln(a.stdout, "warning:", w)
				}
				status := "OK"
				if !rep.OK() {
					status = fmt.Sprintf("FAILED (%d errors)", len(rep.Errors))
				}
				fmt.Fprintf(a.stdout, "%s: %s — %s, %d episodes, %d frames, %d data files, %d video files checked\n",
					args[0], status, rep.Version, rep.Episodes, rep.Frames, rep.DataFiles, rep.Videos)
			}
			if !rep.OK() {
				return fmt.Errorf("dataset %s is not valid", args[0])
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().BoolVar(&skipVideo, "skip-video", false, "do not decode the videos")
	return cmd
}

func (a *app) datasetStatsCmd() *cobra.Command {
	var (
		asJSON  bool
		episode int
	)
	cmd := &cobra.Command{
		Use:   "stats DIR",
		Short: "print a dataset's statistics (meta/stats.json, or one episode's with --episode)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ds, err := dataset.OpenDataset(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer ds.Close()
			st := ds.Stats
			if episode >= 0 {
				ep, err := ds.Episode(episode)
				if err != nil {
					return err
				}
				st = ep.Stats
			}
			if st == nil {
				return errors.New("no statistics in this dataset")
			}
			if asJSON {
				data, err := dataset.EncodeStats(st)
				if err != nil {
					return err
				}
				_, err = a.stdout.Write(data)
				return err
			}
			for _, k := range st.Order {
				fs := st.By[k]
				fmt.Fprintf(a.stdout, "%s (count %d, shape %v)\n", k, fs.Count, fs.Shape)
				names := []string(nil)
				if f := ds.Info.Feature(k); f != nil {
					names = f.NameList()
				}
				for i := range fs.Mean {
					label := fmt.Sprintf("[%d]", i)
					if i < len(names) && len(names) == len(fs.Mean) {
						label = names[i]
					}
					q := ""
					if fs.HasQuantiles {
						q = fmt.Sprintf("  q01 %.4g  q50 %.4g  q99 %.4g", fs.Q[0][i], fs.Q[2][i], fs.Q[4][i])
					}
					fmt.Fprintf(a.stdout, "  %-22s min %.4g  max %.4g  mean %.4g  std %.4g%s\n", label, fs.Min[i], fs.Max[i], fs.Mean[i], fs.Std[i], q)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print stats.json-shaped JSON")
	cmd.Flags().IntVar(&episode, "episode", -1, "one episode's statistics (from the episodes table)")
	return cmd
}

// benchRecordCmd is `anther bench record`: 2 simulated cameras and the
// joints recorded for a minute with the loop at 500 Hz, idle lateness first.
func (a *app) benchRecordCmd() *cobra.Command {
	var (
		profile, codec, size, dir string
		cams, fps                 int
		rate                      float64
		duration, idle, spin      time.Duration
		asJSON, keep, keepP, rt   bool
	)
	cmd := &cobra.Command{
		Use:   "record [--codec av1|h264] [--duration 60s] [--cameras 2] [--size 640x480] [--rate 500]",
		Short: "measure recording: frames dropped, stop-to-saved time, loop lateness recording vs idle",
		Long: `bench record runs the control loop on the wall clock over the simulated robot
(the scripted operator moving every joint), first idle for --idle, then records
one episode of --duration with simulated cameras rendered in process and
encoded live, saves it and validates the dataset. It reports frames recorded
against frames expected, dropped loop steps, whether the episode was marked as
not faithful, the encoder backlog, the time from stop to a finalized episode,
and the loop's wake-up lateness (p99) while recording against idle.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := dataset.FFmpegAvailable(); err != nil {
				return err
			}
			d, err := robot.Load(profile)
			if err != nil {
				return err
			}
			w, h, err := parseSize(size)
			if err != nil {
				return err
			}
			c, err := dataset.ParseCodec(codec)
			if err != nil {
				return err
			}
			root := dir
			if root == "" {
				tmp, err := os.MkdirTemp("", "anther-bench-record-")
				if err != nil {
					return err
				}
				if !keep {
					defer os.RemoveAll(tmp)
				}
				root = filepath.Join(tmp, "ds")
			}
			tap := &record.PoseTap{}
			bctx, stop := context.WithCancel(ctx)
			defer stop()
			var specs []record.CameraSpec
			var runs []func(context.Context) error
			for i := 0; i < cams; i++ {
				sc, err := sim.NewCamera(sim.CameraConfig{Name: fmt.Sprintf("cam%d", i), Width: w, Height: h, FPS: float64(fps), Joints: tap.Joints})
				if err != nil {
					return err
				}
				rc, err := record.NewRenderedCamera(w, h, float64(fps), robot.PixelBGR24, sc.Render)
				if err != nil {
					return err
				}
				runs = append(runs, rc.Run)
				specs = append(specs, record.CameraSpec{Name: fmt.Sprintf("cam%d", i), Width: w, Height: h, Camera: rc})
			}
			fmt.Fprintf(a.stderr, "bench record: %s, %d cameras %dx%d@%d, loop %g Hz, idle %s then recording %s into %s\n",
				c, cams, w, h, fps, rate, idle, duration, root)
			res, err := record.RunBench(ctx, record.BenchConfig{Desc: d, Bus: sim.NewBus(d), Cameras: specs, Root: root,
				Video: dataset.VideoConfig{Codec: c}, FPS: fps, LoopRate: rate, Idle: idle, Duration: duration, Spin: spin,
				Taps: []control.Sink{tap}, KeepP: keepP, RT: rt, Logger: a.logger(), StartCameras: func() {
					for _, run := range runs {
						go func() { _ = run(bctx) }()
					}
				}})
			if err != nil {
				return err
			}
			if asJSON {
				return a.printDatasetJSON(res)
			}
			fmt.Fprintf(a.stdout, "codec %s, %d cameras %dx%d@%d fps, loop %g Hz, %.0f s\n", res.Codec, res.Cameras, res.Width, res.Height, res.FPS, res.LoopRateHz, res.Seconds)
			fmt.Fprintf(a.stdout, "frames: %d recorded, %d expected; dropped loop steps %d; faithful %v %v; max encoder backlog %d\n",
				res.Frames, res.FramesExpected, res.DroppedSteps, res.Faithful, res.Issues, res.MaxBacklog)
			fmt.Fprintf(a.stdout, "stop → finalized episode: %.0f ms\n", res.StopToSavedMS)
			fmt.Fprintf(a.stdout, "loop lateness p99: idle %.1f µs, recording %.1f µs (×%.2f); max idle %.1f µs, recording %.1f µs; overruns while recording %d\n",
				res.IdleLateness.P99US, res.RecordLateness.P99US, res.LatenessP99Ratio, res.IdleLateness.MaxUS, res.RecordLateness.MaxUS, res.Overruns)
			fmt.Fprintf(a.stdout, "dataset validates: %v %v\n", res.Valid, res.ValidationErrors)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&profile, "robot", "so101-follower", "robot profile to simulate")
	f.StringVar(&codec, "codec", "av1", "av1 or h264")
	f.StringVar(&size, "size", "640x480", "camera size")
	f.IntVar(&cams, "cameras", 2, "simulated cameras")
	f.IntVar(&fps, "fps", 30, "dataset and camera fps")
	f.Float64Var(&rate, "rate", 500, "loop rate, Hz")
	f.DurationVar(&duration, "duration", 60*time.Second, "recorded episode length")
	f.DurationVar(&idle, "idle", 10*time.Second, "idle loop time measured first")
	f.DurationVar(&spin, "spin", 50*time.Microsecond, "busy-wait before each loop deadline")
	f.StringVar(&dir, "dataset", "", "dataset folder (default: a temporary one, removed)")
	f.BoolVar(&keep, "keep", false, "keep the temporary dataset")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.BoolVar(&keepP, "keep-p", false, "the loop keeps its P through sleeps (as anther run --rt does)")
	f.BoolVar(&rt, "rt", false, "real-time tuning of the loop thread, as anther run --rt (SCHED_FIFO 80, mlockall, GOGC=off)")
	return cmd
}
