package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/dataset"
	"github.com/anther-robotics/anther/dataset/hub"
	"github.com/anther-robotics/anther/dataset/record"
	"github.com/anther-robotics/anther/drivers/camera"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
	"github.com/anther-robotics/anther/teleop"
)

type recordOpts struct {
	robot, port   string
	sim           bool
	teleop        string
	console       bool
	daemon        daemonFlags
	dir, repoID   string
	task          string
	episodes      int
	episodeTime   time.Duration
	resetTime     time.Duration
	fps           int
	codec         string
	units         string
	rate          float64
	cameras       int
	cameraSize    string
	noCameras     bool
	spin          time.Duration
	display       string
	asJSON        bool
	rt            bool
	crf, gop      int
	preset        string
	discardMarked bool
	push          bool
	private       bool
}

func (a *app) recordCmd() *cobra.Command {
	var o recordOpts
	cmd := &cobra.Command{
		Use:   "record --robot NAME|FILE [--sim] --dataset DIR --repo-id user/name --task TEXT [--episodes N] [--episode-time D] [--reset-time D] [--fps N]",
		Short: "record teleoperation episodes as a LeRobot v3.0 dataset",
		Long: `record runs the robot's control loop and records episodes into a LeRobot v3.0
dataset (created, or resumed if DIR already holds one): observation.state is the
joints as read, action the command actually written after the safety limits,
and one video per camera, encoded while the episode runs (AV1 like LeRobot, or
H.264 with --codec h264). Each episode is saved atomically when it ends; a
crash leaves every earlier episode intact, and the next run removes or
completes what was interrupted, saying which.

Intent: with --sim and no --teleop, a scripted operator moves every joint
smoothly. --console drives a running daemon (anther run --datasets DIR)
through its recording API instead, while operators use the web console.

Keys while recording (in a terminal): → or n ends the episode early (saved),
← or r discards it and records it again, Esc or q saves it and stops.
Ctrl-C discards the episode in progress and stops.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.console {
				return a.recordViaDaemon(cmd.Context(), o)
			}
			if err := a.recordLocal(cmd.Context(), o); err != nil {
				return err
			}
			if !o.push {
				return nil
			}
			if o.repoID == "" {
				return errors.New("record --push: give --repo-id user/name")
			}
			// The same upload as `anther dataset push`: validated first,
			// resumable, one commit tagged v3.0.
			return a.datasetPush(cmd.Context(), o.dir, pushOpts{repoID: o.repoID, private: o.private,
				tag: hub.CodebaseVersion, license: "apache-2.0", concurrency: 4, logEvery: 5 * time.Second})
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.robot, "robot", "", "built-in profile name or description file")
	f.BoolVar(&o.sim, "sim", false, "record the simulated robot (cameras are simulated too)")
	f.StringVar(&o.port, "port", "", "serial port for the first bus (overrides the description)")
	f.StringVar(&o.teleop, "teleop", "", "intent source: leader:PORT (a leader arm); default with --sim: the scripted operator")
	f.BoolVar(&o.console, "console", false, "drive a running daemon's recorder (anther run --datasets DIR) while operators use its web console")
	o.daemon.register(cmd)
	f.StringVar(&o.dir, "dataset", "", "dataset folder (created, or resumed when it exists)")
	f.StringVar(&o.repoID, "repo-id", "", "Hugging Face repo id user/name (kept in the dataset; used by `anther dataset push`)")
	f.StringVar(&o.task, "task", "", "natural-language task of the episodes")
	f.IntVar(&o.episodes, "episodes", 10, "episodes to record")
	f.DurationVar(&o.episodeTime, "episode-time", 30*time.Second, "length of each episode")
	f.DurationVar(&o.resetTime, "reset-time", 10*time.Second, "unrecorded reset phase between episodes")
	f.IntVar(&o.fps, "fps", 30, "dataset frames per second")
	f.StringVar(&o.codec, "codec", "av1", "video codec: av1 (LeRobot's default, libsvtav1) or h264 (libx264, ~3x faster)")
	f.IntVar(&o.crf, "crf", 0, "video quality (0: 30, LeRobot's default)")
	f.IntVar(&o.gop, "gop", 0, "keyframe interval (0: 2, LeRobot's default)")
	f.StringVar(&o.preset, "preset", "", "encoder preset (default: 12 for av1, ultrafast for h264)")
	f.StringVar(&o.units, "units", record.UnitsLeRobot, "joint units in the dataset: lerobot (degrees, grippers 0..100), deg or rad")
	f.Float64Var(&o.rate, "rate", 0, "control loop rate in Hz (0: the description's)")
	f.IntVar(&o.cameras, "cameras", -1, "with --sim: number of simulated cameras (-1: the description's)")
	f.StringVar(&o.cameraSize, "camera-size", "", "camera size WxH stored in the dataset (default: the description's)")
	f.BoolVar(&o.noCameras, "no-cameras", false, "record joints only")
	f.DurationVar(&o.spin, "spin", 50*time.Microsecond, "busy-wait before each loop deadline")
	f.BoolVar(&o.rt, "rt", false, "real-time tuning of the loop thread (see anther run --rt)")
	f.StringVar(&o.display, "display", "auto", "live status line: auto (when stderr is a terminal), on, off")
	f.BoolVar(&o.asJSON, "json", false, "print one JSON line per saved episode and a JSON summary")
	f.BoolVar(&o.push, "push", false, "when recording ends, upload the dataset to the Hugging Face Hub (as `anther dataset push`)")
	f.BoolVar(&o.private, "private", false, "with --push: create the Hub repo private")
	f.BoolVar(&o.discardMarked, "rerecord-marked", false, "discard and record again any episode marked as not recorded faithfully")
	return cmd
}

// recordSummary is the --json summary.
type recordSummary struct {
	Dataset   string            `json:"dataset"`
	Episodes  []dataset.Summary `json:"episodes"`
	Recovered []string          `json:"recovered,omitempty"`
	Timing    control.Summary   `json:"loop_lateness_us"`
}

func parseSize(s string) (int, int, error) {
	w, h, ok := strings.Cut(strings.ToLower(s), "x")
	if !ok {
		return 0, 0, fmt.Errorf("size %q is not WxH", s)
	}
	wi, err1 := strconv.Atoi(w)
	hi, err2 := strconv.Atoi(h)
	if err1 != nil || err2 != nil || wi <= 0 || hi <= 0 || wi%2 != 0 || hi%2 != 0 {
		return 0, 0, fmt.Errorf("size %q is not WxH with even positive sizes", s)
	}
	return wi, hi, nil
}

func (o *recordOpts) videoConfig() (dataset.VideoConfig, error) {
	codec, err := dataset.ParseCodec(o.codec)
	if err != nil {
		return dataset.VideoConfig{}, err
	}
	vc := dataset.VideoConfig{Codec: codec, CRF: o.crf, GOP: o.gop, Preset: o.preset}
	return vc, vc.Validate()
}

// recordCameras builds the cameras to record: simulated ones (rendered in
// process, drawing the arm from tap) with --sim, else the description's.
// start runs them; the returned stop function ends them.
func recordCameras(d *robot.Description, o recordOpts, tap *record.PoseTap, log *slog.Logger) ([]record.CameraSpec, []func(context.Context) error, error) {
	if o.noCameras {
		return nil, nil, nil
	}
	specs := d.Cameras
	if o.sim && o.cameras >= 0 {
		specs = nil
		names := []string{"front", "wrist", "side", "top"}
		for i := 0; i < o.cameras; i++ {
			name := fmt.Sprintf("cam%d", i)
			if i < len(names) {
				name = names[i]
			}
			specs = append(specs, robot.CameraSpec{Name: name, Source: "sim", Width: 640, Height: 480, FPS: float64(o.fps)})
		}
	}
	var out []record.CameraSpec
	var runs []func(context.Context) error
	for _, cs := range specs {
		w, h := cs.Width, cs.Height
		if o.cameraSize != "" {
			var err error
			if w, h, err = parseSize(o.cameraSize); err != nil {
				return nil, nil, err
			}
		}
		if w <= 0 || h <= 0 {
			w, h = 640, 480
		}
		fps := cs.FPS
		if fps <= 0 {
			fps = float64(o.fps)
		}
		if o.sim {
			sc, err := sim.NewCamera(sim.CameraConfig{Name: cs.Name, Width: w, Height: h, FPS: fps, Joints: tap.Joints})
			if err != nil {
				return nil, nil, err
			}
			rc, err := record.NewRenderedCamera(w, h, fps, robot.PixelBGR24, sc.Render)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, record.CameraSpec{Name: cs.Name, Width: w, Height: h, Camera: rc})
			runs = append(runs, rc.Run)
			continue
		}
		cam, err := camera.New(camera.Config{Name: cs.Name, Source: cs.Source, Width: cs.Width, Height: cs.Height,
			FPS: cs.FPS, Format: robot.PixelRGB24, Logger: log})
		if err != nil {
			return nil, nil, fmt.Errorf("camera %s: %w (record joints only with --no-cameras)", cs.Name, err)
		}
		out = append(out, record.CameraSpec{Name: cs.Name, Width: w, Height: h, Camera: cam})
		runs = append(runs, cam.Run)
	}
	return out, runs, nil
}

func (a *app) recordLocal(ctx context.Context, o recordOpts) error {
	log := a.logger()
	if o.robot == "" || o.dir == "" || o.task == "" {
		return errors.New("record: --robot, --dataset and --task are required")
	}
	if o.repoID != "" {
		if err := record.ValidRepoID(o.repoID); err != nil {
			return err
		}
	}
	if o.teleop != "" {
		return fmt.Errorf("record: --teleop %s: leader-arm teleoperation needs the leader arm's bus driver, which this build does not have yet; use --sim (scripted operator) or --console", o.teleop)
	}
	if !o.sim {
		return errors.New("record: without --sim an intent source is needed: --teleop leader:PORT (not available yet) or --console with a running daemon")
	}
	if o.episodes <= 0 || o.episodeTime <= 0 || o.fps <= 0 {
		return errors.New("record: --episodes, --episode-time and --fps must be positive")
	}
	vc, err := o.videoConfig()
	if err != nil {
		return err
	}
	d, err := robot.Load(o.robot)
	if err != nil {
		return err
	}
	if o.rate > 0 {
		d.Rate = o.rate
	}
	if d.Rate < float64(o.fps) {
		return fmt.Errorf("record: the loop runs at %g Hz, below the dataset's %d fps (raise --rate)", d.Rate, o.fps)
	}
	jm, err := record.NewJointMap(d, o.units)
	if err != nil {
		return err
	}
	tap := &record.PoseTap{}
	cams, camRuns, err := recordCameras(d, o, tap, log)
	if err != nil {
		return err
	}
	if len(cams) > 0 {
		if err := dataset.FFmpegAvailable(); err != nil {
			return err
		}
	}
	w, err := dataset.Open(ctx, o.dir, dataset.Config{RepoID: o.repoID, RobotType: record.RobotType(d), FPS: o.fps,
		Features: record.Features(jm, cams), Video: vc, Units: record.UnitsOf(jm), Logger: log})
	if err != nil {
		return err
	}
	defer w.Close()
	for _, m := range w.Recovered() {
		fmt.Fprintln(a.stderr, "recovered:", m)
	}
	rec, err := record.New(record.Config{Joints: jm, FPS: o.fps, Cameras: cams, Logger: log})
	if err != nil {
		return err
	}

	hw, err := openHardware(d, runOpts{robot: o.robot, sim: o.sim, port: o.port, spin: o.spin})
	if err != nil {
		return err
	}
	defer hw.Close()
	if err := hw.Configure(ctx); err != nil {
		return fmt.Errorf("configure %s: %w", d.Name, err)
	}
	clock := control.NewWallClock(o.spin)
	clock.KeepP = o.rt
	lcfg := control.Config{Rate: d.Rate, Clock: clock, Bus: hw, Limits: control.LimitsFromDescription(d, 0.01),
		Sinks: []control.Sink{rec, tap}, Logger: log}
	if o.rt {
		rt := control.DefaultRealTime()
		lcfg.RT = &rt
	}
	loop, err := control.New(lcfg)
	if err != nil {
		return err
	}

	// Everything but the loop stops with bg; the loop stops last.
	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	var wg sync.WaitGroup
	for _, run := range camRuns {
		wg.Add(1)
		go func() { defer wg.Done(); _ = run(bg) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); _ = rec.Run(bg) }()
	loopCtx, stopLoop := context.WithCancel(context.Background())
	defer stopLoop()
	loopDone := make(chan error, 1)
	go func() { loopDone <- loop.Run(loopCtx) }()
	defer func() {
		stopBG()
		wg.Wait()
		stopLoop()
		select {
		case <-loopDone:
		case <-time.After(2 * time.Second):
		}
		_ = hw.Halt()
	}()
	if err := record.Activate(ctx, loop, 5*time.Second); err != nil {
		return err
	}
	loop.SetSource("scripted", record.NewScripted(d), 0)
	log.Info("record: recording", "robot", d.Name, "sim", o.sim, "dataset", o.dir, "fps", o.fps,
		"cameras", len(cams), "codec", vc.Codec, "loop_hz", d.Rate)

	keys := startKeys(a, log)
	defer keys.stop()
	disp := newDisplay(a.stderr, o.display)
	var saved []dataset.Summary
	ctl := &localControl{rec: rec, w: w, task: o.task}
	err = runEpisodes(ctx, ctl, o, keys, disp, func(s dataset.Summary) {
		saved = append(saved, s)
		if o.asJSON {
			b, _ := json.Marshal(s)
			fmt.Fprintln(a.stdout, string(b))
		}
	}, loopDone)
	disp.clear()
	if o.asJSON {
		b, _ := json.MarshalIndent(recordSummary{Dataset: o.dir, Episodes: saved, Recovered: w.Recovered(),
			Timing: loop.Timing().Lateness.Summary()}, "", "  ")
		fmt.Fprintln(a.stdout, string(b))
	} else {
		fmt.Fprintf(a.stdout, "dataset %s: %d episodes saved this run (%d in total, %d frames)\n",
			o.dir, len(saved), w.Info().TotalEpisodes, w.Info().TotalFrames)
	}
	return err
}

// episodeControl is what the episode loop drives: the local recorder or a
// daemon's recording API.
type episodeControl interface {
	start(ctx context.Context) (int, error)
	stop(ctx context.Context) (dataset.Summary, error)
	discard(ctx context.Context) error
	status(ctx context.Context) (record.Status, error)
}

type localControl struct {
	rec  *record.Recorder
	w    *dataset.Writer
	task string
}

func (l *localControl) start(ctx context.Context) (int, error) {
	if err := l.rec.Start(ctx, l.w, l.task); err != nil {
		return 0, err
	}
	return l.rec.Status().Episode, nil
}
func (l *localControl) stop(ctx context.Context) (dataset.Summary, error) { return l.rec.Stop(ctx) }
func (l *localControl) discard(ctx context.Context) error                 { return l.rec.Discard(ctx) }
func (l *localControl) status(context.Context) (record.Status, error)     { return l.rec.Status(), nil }

// runEpisodes records o.episodes episodes with reset phases between them,
// reacting to keys, until done or ctx ends (then the episode in progress
// is discarded).
func runEpisodes(ctx context.Context, ctl episodeControl, o recordOpts, keys *keyReader, disp *display,
	onSaved func(dataset.Summary), loopDone <-chan error) error {
	for done := 0; done < o.episodes; {
		idx, err := ctl.start(ctx)
		if err != nil {
			return err
		}
		disp.event(fmt.Sprintf("episode %d started (%d of %d)", idx, done+1, o.episodes))
		action := ""
		tick := time.NewTicker(200 * time.Millisecond)
		endT := time.NewTimer(o.episodeTime)
	wait:
		for {
			select {
			case <-ctx.Done():
				tick.Stop()
				dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_ = ctl.discard(dctx)
				cancel()
				disp.event(fmt.Sprintf("interrupted: episode %d discarded; earlier episodes are saved", idx))
				return nil
			case err := <-loopDone:
				tick.Stop()
				return fmt.Errorf("record: control loop stopped: %w", err)
			case k := <-keys.ch:
				action = k
				break wait
			case <-endT.C:
				break wait
			case <-tick.C:
				st, err := ctl.status(ctx)
				if err == nil {
					disp.status(st, o.episodes, done)
					if st.State == "idle" {
						tick.Stop()
						return fmt.Errorf("record: the recorder stopped episode %d (%v); see the log", idx, st.Issues)
					}
				}
			}
		}
		tick.Stop()
		endT.Stop()
		if action == keyRerecord {
			if err := ctl.discard(ctx); err != nil {
				return err
			}
			disp.event(fmt.Sprintf("episode %d discarded; recording it again", idx))
			continue
		}
		sum, err := ctl.stop(ctx)
		if err != nil {
			return err
		}
		if !sum.Quality.Faithful {
			disp.event(fmt.Sprintf("episode %d was NOT recorded faithfully (%v): saved and marked in meta/anther.json", sum.Index, sum.Quality.Issues))
			if o.discardMarked {
				disp.event("--rerecord-marked: it stays in the dataset (episodes are append-only); record another one")
			}
		}
		disp.event(fmt.Sprintf("episode %d saved: %d frames, finalized %.0f ms after stop", sum.Index, sum.Frames, float64(sum.SaveTime.Microseconds())/1000))
		onSaved(sum)
		if !sum.Quality.Faithful && o.discardMarked {
			// Count it as not done: one more episode will be recorded.
		} else {
			done++
		}
		if action == keyStop || done >= o.episodes {
			return nil
		}
		if o.resetTime > 0 {
			disp.event(fmt.Sprintf("reset phase: %s (not recorded; → skips)", o.resetTime))
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(o.resetTime):
			case k := <-keys.ch:
				if k == keyStop {
					return nil
				}
			}
		}
	}
	return nil
}

// Keys.
const (
	keyNext     = "next"
	keyRerecord = "rerecord"
	keyStop     = "stop"
)

// keyReader turns terminal key presses into actions.
type keyReader struct {
	ch    chan string
	stop  func()
	state *term.State
}

func startKeys(a *app, log *slog.Logger) *keyReader {
	k := &keyReader{ch: make(chan string, 4), stop: func() {}}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) || a.stdout != os.Stdout {
		return k
	}
	st, err := term.MakeRaw(fd)
	if err != nil {
		log.Debug("record: no key controls", "err", err)
		return k
	}
	k.state = st
	k.stop = func() { _ = term.Restore(fd, st) }
	go func() {
		buf := make([]byte, 8)
		for {
			n, err := os.Stdin.Read(buf)
			if err != nil {
				return
			}
			s := string(buf[:n])
			switch {
			case s == "\x1b[C" || s == "n":
				k.ch <- keyNext
			case s == "\x1b[D" || s == "r":
				k.ch <- keyRerecord
			case s == "\x1b" || s == "q":
				k.ch <- keyStop
			case s == "\x03": // Ctrl-C in raw mode
				k.stop()
				p, _ := os.FindProcess(os.Getpid())
				_ = p.Signal(os.Interrupt)
				return
			}
		}
	}()
	return k
}

// display is the live status line.
type display struct {
	w    io.Writer
	on   bool
	last int
}

func newDisplay(w io.Writer, mode string) *display {
	on := mode == "on"
	if mode == "auto" {
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			on = true
		}
	}
	return &display{w: w, on: on}
}

func (d *display) status(st record.Status, total, done int) {
	if !d.on {
		return
	}
	mark := ""
	if !st.Faithful {
		mark = fmt.Sprintf("  NOT FAITHFUL %v", st.Issues)
	}
	line := fmt.Sprintf("\rep %d (%d/%d) %-9s %6.1fs  frames %5d  encoded %5d  dropped %d  backlog %3d%s",
		st.Episode, done+1, total, st.State, st.Elapsed, st.Frames, st.Encoded, st.Dropped, st.Backlog, mark)
	pad := max(0, d.last-len(line))
	fmt.Fprint(d.w, line+strings.Repeat(" ", pad))
	d.last = len(line)
}

func (d *display) event(msg string) {
	d.clear()
	fmt.Fprintln(d.w, msg+"\r")
}

func (d *display) clear() {
	if d.on && d.last > 0 {
		fmt.Fprint(d.w, "\r"+strings.Repeat(" ", d.last)+"\r")
		d.last = 0
	}
}

// ---- --console: drive a running daemon ----

type daemonControl struct {
	f      *daemonFlags
	repoID string
	task   string
}

func (c *daemonControl) start(ctx context.Context) (int, error) {
	var st record.Status
	err := c.f.post(ctx, "/api/recording/start", record.StartRequest{RepoID: c.repoID, Task: c.task}, &st)
	return st.Episode, err
}

func (c *daemonControl) stop(ctx context.Context) (dataset.Summary, error) {
	var s dataset.Summary
	err := c.f.post(ctx, "/api/recording/stop", nil, &s)
	return s, err
}

func (c *daemonControl) discard(ctx context.Context) error {
	return c.f.post(ctx, "/api/recording/discard", nil, nil)
}

func (c *daemonControl) status(ctx context.Context) (record.Status, error) {
	var st record.SessionStatus
	err := daemonGetJSON(ctx, c.f, "/api/recording", &st)
	return st.Status, err
}

func (a *app) recordViaDaemon(ctx context.Context, o recordOpts) error {
	if o.repoID == "" || o.task == "" {
		return errors.New("record --console: --repo-id and --task are required (the daemon keeps datasets under its --datasets folder)")
	}
	ctl := &daemonControl{f: &o.daemon, repoID: o.repoID, task: o.task}
	if _, err := ctl.status(ctx); err != nil {
		return fmt.Errorf("record --console: %w (start the daemon with anther run --datasets DIR)", err)
	}
	log := a.logger()
	keys := startKeys(a, log)
	defer keys.stop()
	disp := newDisplay(a.stderr, o.display)
	n := 0
	err := runEpisodes(ctx, ctl, o, keys, disp, func(s dataset.Summary) {
		n++
		if o.asJSON {
			b, _ := json.Marshal(s)
			fmt.Fprintln(a.stdout, string(b))
		}
	}, nil)
	disp.clear()
	fmt.Fprintf(a.stdout, "%d episodes saved by the daemon into %s\n", n, o.repoID)
	return err
}

// daemonGetJSON sends a GET to the daemon and decodes the JSON reply.
func daemonGetJSON(ctx context.Context, f *daemonFlags, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+f.addr+path, nil)
	if err != nil {
		return err
	}
	if tok, _, err := teleop.LoadToken(false); err == nil {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("daemon at %s: %w", f.addr, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("daemon: %s: %s", resp.Status, strings.TrimSpace(string(data)))
	}
	return json.Unmarshal(data, out)
}
