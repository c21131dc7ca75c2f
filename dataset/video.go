package dataset

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Codec names accepted by VideoConfig.
const (
	CodecAV1  = "libsvtav1" // LeRobot's default: AV1 through SVT-AV1
	CodecH264 = "libx264"   // H.264 through x264: ~3× faster here
)

// VideoConfig is how camera frames are encoded. The zero value is LeRobot's
// default (libsvtav1, yuv420p, g=2, crf 30, preset 12, fast-decode 0).
type VideoConfig struct {
	Codec      string // CodecAV1 (default) or CodecH264
	CRF        int    // 0: 30
	GOP        int    // keyframe interval; 0: 2
	Preset     string // codec preset; "": 12 for AV1, "ultrafast" for H.264
	FastDecode int    // AV1 fast-decode level (0..2)
	Threads    int    // encoder threads (0: the codec's choice)
	// Nice is the encoders' scheduling niceness (0: 10; negative: leave
	// it): encoders yield the CPU to the control loop and the recorder.
	Nice int
}

func (c VideoConfig) withDefaults() VideoConfig {
	if c.Codec == "" {
		c.Codec = CodecAV1
	}
	if c.CRF == 0 {
		c.CRF = 30
	}
	if c.GOP == 0 {
		c.GOP = 2
	}
	if c.Preset == "" {
		if c.Codec == CodecAV1 {
			c.Preset = "12"
		} else {
			c.Preset = "ultrafast"
		}
	}
	return c
}

// Validate checks the codec name and ranges.
func (c VideoConfig) Validate() error {
	c = c.withDefaults()
	switch c.Codec {
	case CodecAV1, CodecH264:
	default:
		return fmt.Errorf("dataset: video codec %q (want %s or %s)", c.Codec, CodecAV1, CodecH264)
	}
	if c.CRF < 0 || c.CRF > 63 || c.GOP < 1 || c.FastDecode < 0 || c.FastDecode > 2 {
		return fmt.Errorf("dataset: video settings out of range (crf %d, g %d, fast-decode %d)", c.CRF, c.GOP, c.FastDecode)
	}
	return nil
}

// ParseCodec maps a user-facing codec name (av1, libsvtav1, h264, libx264)
// to a VideoConfig codec.
func ParseCodec(name string) (string, error) {
	switch strings.ToLower(name) {
	case "", "av1", "libsvtav1":
		return CodecAV1, nil
	case "h264", "libx264", "avc":
		return CodecH264, nil
	}
	return "", fmt.Errorf("dataset: unknown video codec %q (use av1 or h264)", name)
}

// encoderArgs are ffmpeg's output options for c.
func (c VideoConfig) encoderArgs() []string {
	c = c.withDefaults()
	args := []string{"-c:v", c.Codec, "-pix_fmt", "yuv420p", "-g", strconv.Itoa(c.GOP), "-crf", strconv.Itoa(c.CRF),
		"-preset", c.Preset}
	switch c.Codec {
	case CodecAV1:
		p := "fast-decode=" + strconv.Itoa(c.FastDecode)
		if c.Threads > 0 {
			p += ":lp=" + strconv.Itoa(c.Threads)
		}
		args = append(args, "-svtav1-params", p)
	case CodecH264:
		// No B-frames: PTS = DTS, no edit list, stream-copy concatenation
		// keeps every segment's timestamps exact.
		args = append(args, "-bf", "0")
		if c.Threads > 0 {
			args = append(args, "-threads", strconv.Itoa(c.Threads))
		}
	}
	return args
}

// videoInfoFor is the info.json "info" of a camera feature encoded with c
// (probe fields filled from the first encoded file).
func (c VideoConfig) videoInfo(p *Probe, fps int) VideoInfo {
	c = c.withDefaults()
	g, crf, fd := c.GOP, c.CRF, c.FastDecode
	vi := VideoInfo{Height: p.Height, Width: p.Width, Codec: p.Codec, PixFmt: p.PixFmt, FPS: fps, Channels: 3,
		G: &g, CRF: &crf, FastDecode: &fd, Backend: "pyav", ExtraOptions: map[string]any{}}
	if n, err := strconv.Atoi(c.Preset); err == nil {
		vi.Preset = n
	} else {
		vi.Preset = c.Preset
	}
	if c.Codec == CodecH264 {
		vi.ExtraOptions["bf"] = 0
	}
	return vi
}

// ErrNoFFmpeg is returned when ffmpeg or ffprobe is not on PATH.
var ErrNoFFmpeg = errors.New("dataset: ffmpeg/ffprobe not found on PATH (make deps installs Debian's ffmpeg)")

// FFmpegAvailable reports whether ffmpeg and ffprobe can be run.
func FFmpegAvailable() error {
	for _, b := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(b); err != nil {
			return fmt.Errorf("%w: %s", ErrNoFFmpeg, b)
		}
	}
	return nil
}

// encoder is one ffmpeg process turning raw RGB24 frames into an MP4.
type encoder struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr bytes.Buffer
	path   string
	frames int
}

// startEncoder starts ffmpeg reading w×h RGB24 frames at fps from a pipe
// and writing path. Frame i gets PTS i/fps.
func startEncoder(path string, w, h, fps int, c VideoConfig) (*encoder, error) {
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y",
		"-f", "rawvideo", "-pix_fmt", "rgb24", "-video_size", fmt.Sprintf("%dx%d", w, h),
		"-framerate", strconv.Itoa(fps), "-i", "pipe:0"}
	args = append(args, c.encoderArgs()...)
	args = append(args, "-an", "-f", "mp4", path)
	cmd := exec.Command("ffmpeg", args...)
	nice := c.Nice
	if nice == 0 {
		nice = 10
	}
	if np, err := exec.LookPath("nice"); err == nil && nice > 0 {
		cmd = exec.Command(np, append([]string{"-n", strconv.Itoa(nice), "ffmpeg"}, args...)...)
	}
	cmd.Env = append(os.Environ(), "SVT_LOG=1")
	// The encoder dies with the recorder (a crashed recorder leaves no
	// ffmpeg behind; the next Open removes the partial episode).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	e := &encoder{cmd: cmd, path: path}
	cmd.Stderr = &limitedWriter{w: &e.stderr, n: 8 << 10}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("dataset: encoder: %w", err)
	}
	e.stdin = in
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("dataset: start ffmpeg: %w", err)
	}
	return e, nil
}

// write sends one frame; it blocks while ffmpeg is busy (the pipe is the
// encoder's input queue).
func (e *encoder) write(pix []byte) error {
	if _, err := e.stdin.Write(pix); err != nil {
		return fmt.Errorf("dataset: ffmpeg (%s) stopped taking frames: %w%s", filepath.Base(e.path), err, e.errText())
	}
	e.frames++
	return nil
}

func (e *encoder) errText() string {
	if s := strings.TrimSpace(e.stderr.String()); s != "" {
		return ": " + s
	}
	return ""
}

// finish closes the input and waits for ffmpeg to write the file.
func (e *encoder) finish() error {
	_ = e.stdin.Close()
	if err := e.cmd.Wait(); err != nil {
		return fmt.Errorf("dataset: ffmpeg (%s): %w%s", filepath.Base(e.path), err, e.errText())
	}
	return nil
}

// kill stops ffmpeg at once.
func (e *encoder) kill() {
	_ = e.stdin.Close()
	if e.cmd.Process != nil {
		_ = e.cmd.Process.Kill()
	}
	_ = e.cmd.Wait()
}

type limitedWriter struct {
	w io.Writer
	n int
}

// Write keeps the first n bytes written and drops the rest.
func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.n -= k
		_, _ = l.w.Write(p[:k])
	}
	return len(p), nil
}

// concatVideos appends src segments to dst's content (dst may not exist)
// by stream copy and writes the result to out. durations[i] is the exact
// duration of input i, so every segment starts where the previous one ends.
func concatVideos(ctx context.Context, out string, inputs []string, durations []float64) error {
	var list strings.Builder
	list.WriteString("ffconcat version 1.0\n")
	for i, in := range inputs {
		abs, err := filepath.Abs(in)
		if err != nil {
			return fmt.Errorf("dataset: %w", err)
		}
		fmt.Fprintf(&list, "file '%s'\n", strings.ReplaceAll(abs, "'", `'\''`))
		if durations != nil {
			fmt.Fprintf(&list, "duration %s\n", strconv.FormatFloat(durations[i], 'f', -1, 64))
		}
	}
	listPath := out + ".ffconcat"
	if err := os.WriteFile(listPath, []byte(list.String()), 0o644); err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	defer os.Remove(listPath)
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
		"-f", "concat", "-safe", "0", "-i", listPath, "-map", "0:v", "-c", "copy",
		"-movflags", "+faststart", "-f", "mp4", out)
	var stderr bytes.Buffer
	cmd.Stderr = &limitedWriter{w: &stderr, n: 8 << 10}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("dataset: concatenate %s: %w: %s", filepath.Base(out), err, strings.TrimSpace(stderr.String()))
	}
	return syncFile(out)
}

// Probe is what ffprobe says about an MP4's first video stream.
type Probe struct {
	Codec     string  // canonical codec name: av1, h264, …
	PixFmt    string  // yuv420p, …
	Width     int     // pixels
	Height    int     // pixels
	FPS       float64 // r_frame_rate
	Duration  float64 // stream duration, s
	Frames    int     // nb_frames (from the container's sample table)
	TimeBase  string  // e.g. 1/15360
	HasAudio  bool    // an audio stream is present
	StartTime float64 // first PTS, s
}

// ProbeVideo runs ffprobe on path.
func ProbeVideo(ctx context.Context, path string) (*Probe, error) {
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_entries",
		"stream=codec_type,codec_name,pix_fmt,width,height,r_frame_rate,duration,nb_frames,time_base,start_time",
		"-of", "json", path).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("dataset: ffprobe %s: %w: %s", path, err, strings.TrimSpace(string(ee.Stderr)))
		}
		return nil, fmt.Errorf("dataset: ffprobe %s: %w", path, err)
	}
	var r struct {
		Streams []struct {
			CodecType string `json:"codec_type"`
			CodecName string `json:"codec_name"`
			PixFmt    string `json:"pix_fmt"`
			Width     int    `json:"width"`
			Height    int    `json:"height"`
			RFrame    string `json:"r_frame_rate"`
			Duration  string `json:"duration"`
			NbFrames  string `json:"nb_frames"`
			TimeBase  string `json:"time_base"`
			StartTime string `json:"start_time"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("dataset: ffprobe %s: %w", path, err)
	}
	p := &Probe{}
	found := false
	for _, s := range r.Streams {
		if s.CodecType == "audio" {
			p.HasAudio = true
		}
		if s.CodecType != "video" || found {
			continue
		}
		found = true
		p.Codec, p.PixFmt, p.Width, p.Height, p.TimeBase = s.CodecName, s.PixFmt, s.Width, s.Height, s.TimeBase
		p.FPS = parseRatio(s.RFrame)
		p.Duration, _ = strconv.ParseFloat(s.Duration, 64)
		p.Frames, _ = strconv.Atoi(s.NbFrames)
		p.StartTime, _ = strconv.ParseFloat(s.StartTime, 64)
	}
	if !found {
		return nil, fmt.Errorf("dataset: %s has no video stream", path)
	}
	return p, nil
}

func parseRatio(s string) float64 {
	a, b, ok := strings.Cut(s, "/")
	n, _ := strconv.ParseFloat(a, 64)
	if !ok {
		return n
	}
	d, _ := strconv.ParseFloat(b, 64)
	if d == 0 {
		return 0
	}
	return n / d
}

// FramePTS decodes the video stream of path and returns every frame's
// presentation time in seconds, in display order.
func FramePTS(ctx context.Context, path string) ([]float64, error) {
	cmd := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "frame=best_effort_timestamp_time", "-of", "csv=p=0", path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("dataset: ffprobe: %w", err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &limitedWriter{w: &stderr, n: 4 << 10}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("dataset: ffprobe: %w", err)
	}
	var pts []float64
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(sc.Text()), ","))
		if line == "" {
			continue
		}
		v, err := strconv.ParseFloat(line, 64)
		if err != nil {
			v = math.NaN()
		}
		pts = append(pts, v)
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("dataset: ffprobe frames of %s: %w: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	return pts, nil
}

// decodeFrames decodes n frames of path starting at time from (seconds),
// calling fn with each RGB24 frame (w×h×3 bytes, reused between calls).
func decodeFrames(ctx context.Context, path string, from float64, n, w, h, fps int, fn func(i int, pix []byte) error) error {
	// Seek half a frame early: accurate seeking then keeps the frame at
	// exactly from and drops the one before it.
	ss := math.Max(0, from-0.5/float64(fps))
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
		"-ss", strconv.FormatFloat(ss, 'f', 6, 64), "-i", path, "-frames:v", strconv.Itoa(n),
		"-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("dataset: decode: %w", err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &limitedWriter{w: &stderr, n: 4 << 10}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("dataset: decode: %w", err)
	}
	buf := make([]byte, w*h*3)
	i := 0
	var ferr error
	for ; i < n; i++ {
		if _, err := io.ReadFull(out, buf); err != nil {
			break
		}
		if ferr = fn(i, buf); ferr != nil {
			break
		}
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if ferr != nil {
		return ferr
	}
	if i < n {
		return fmt.Errorf("dataset: %s: decoded %d of %d frames from %.4fs: %s", path, i, n, from, strings.TrimSpace(stderr.String()))
	}
	return nil
}
