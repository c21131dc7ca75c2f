package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Serve renders the scene at the camera's rate and publishes it to url
// (rtsp://host:port/path, e.g. RTSPServer.URL(name)) as H.264 through an
// ffmpeg process (libx264, ultrafast, zero-latency tuning, a keyframe every
// second, no B-frames), sent to the server over UDP. If ffmpeg exits, as it does when the server goes
// away, Serve starts it again with backoff. ffmpeg runs at
// CameraConfig.Nice. It returns nil when ctx ends,
// or an error if ffmpeg cannot be run at all.
func (c *Camera) Serve(ctx context.Context, url string, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if _, err := exec.LookPath(c.cfg.FFmpeg); err != nil {
		return fmt.Errorf("sim: camera %s: %w (make deps installs ffmpeg)", c.cfg.Name, err)
	}
	backoff := 200 * time.Millisecond
	for {
		start := time.Now()
		err := c.publish(ctx, url)
		if ctx.Err() != nil {
			return nil
		}
		c.restarts.Add(1)
		if time.Since(start) > 5*time.Second {
			backoff = 200 * time.Millisecond
		}
		log.Warn("sim camera encoder stopped; restarting", "camera", c.cfg.Name, "err", err, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// ffmpegArgs is the encoder's command line for publishing to url.
func (c *Camera) ffmpegArgs(url string) []string {
	gop := max(1, int(c.cfg.FPS+0.5))
	return []string{
		"-hide_banner", "-nostdin", "-loglevel", "error",
		"-f", "rawvideo", "-pix_fmt", "bgr24",
		"-video_size", strconv.Itoa(c.cfg.Width) + "x" + strconv.Itoa(c.cfg.Height),
		"-framerate", strconv.FormatFloat(c.cfg.FPS, 'f', -1, 64), "-i", "pipe:0",
		"-an", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
		"-pix_fmt", "yuv420p", "-g", strconv.Itoa(gop), "-bf", "0", "-threads", "1",
		// UDP: over TCP ffmpeg leaves Nagle's algorithm on, and the last
		// packet of a frame waits for a delayed ACK (~40 ms every few frames).
		"-f", "rtsp", "-rtsp_transport", "udp", url,
	}
}

// publish runs one ffmpeg process and feeds it frames until it fails or
// ctx ends.
func (c *Camera) publish(ctx context.Context, url string) error {
	cmd := exec.CommandContext(ctx, c.cfg.FFmpeg, c.ffmpegArgs(url)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("sim: camera %s: %w", c.cfg.Name, err)
	}
	var tail tailBuffer
	cmd.Stderr = &tail
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("sim: camera %s: start ffmpeg: %w", c.cfg.Name, err)
	}
	if c.cfg.Nice > 0 {
		_ = unix.Setpriority(unix.PRIO_PROCESS, cmd.Process.Pid, min(c.cfg.Nice, 19))
	}
	fed := make(chan error, 1)
	go func() { fed <- c.feed(ctx, stdin) }()
	werr := <-fed
	stdin.Close()
	err = cmd.Wait()
	if ctx.Err() != nil {
		return nil
	}
	if err == nil {
		err = werr
	}
	if err == nil {
		err = errors.New("ffmpeg exited")
	}
	return fmt.Errorf("sim: camera %s: ffmpeg: %w: %s", c.cfg.Name, err, tail.String())
}

// feed renders frames at the camera's rate into w until ctx ends or a
// write fails. It runs on an OS thread of its own, at CameraConfig.Nice
// like the encoder, and leaves it locked so the runtime discards the
// thread (and its priority) when feed returns.
func (c *Camera) feed(ctx context.Context, w io.Writer) error {
	runtime.LockOSThread()
	if c.cfg.Nice > 0 {
		_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), min(c.cfg.Nice, 19))
	}
	frame := make([]byte, c.FrameSize())
	period := time.Duration(float64(time.Second) / c.cfg.FPS)
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	next := time.Now()
	for ctx.Err() == nil {
		n := uint32(c.frames.Load())
		now := time.Now()
		c.rendered[n%uint32(len(c.rendered))].Store(now.UnixNano())
		c.Render(frame, n, now)
		if _, err := w.Write(frame); err != nil {
			return err
		}
		c.frames.Add(1)
		next = next.Add(period)
		d := time.Until(next)
		if d <= 0 {
			c.late.Add(1)
			if -d > period {
				next = time.Now() // fell behind by more than a frame: do not burst to catch up
			}
			continue
		}
		timer.Reset(d)
		select {
		case <-ctx.Done():
		case <-timer.C:
		}
	}
	return nil
}

// tailBuffer keeps the last 2 KiB written to it (ffmpeg's stderr).
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

// Write keeps p's tail.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 2048 {
		t.b = append(t.b[:0], t.b[len(t.b)-2048:]...)
	}
	return len(p), nil
}

// String returns what is kept.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
