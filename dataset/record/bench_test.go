package record_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/dataset"
	"github.com/anther-robotics/anther/dataset/record"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
)

// benchRecord is the benchmark: 2 cameras 640×480@30 and the
// joints recorded for 60 s (ANTHER_BENCH_SECONDS overrides) with the loop
// at 500 Hz, after 10 s idle. Run with
//
//	go test -run '^$' -bench Record -benchtime 1x ./dataset/record
//
// ANTHER_BENCH_RT=1 runs the loop with anther run --rt's tuning.
func benchRecord(b *testing.B, codec string) {
	if err := dataset.FFmpegAvailable(); err != nil {
		b.Skip(err)
	}
	secs := 60.0
	if v, err := strconv.ParseFloat(os.Getenv("ANTHER_BENCH_SECONDS"), 64); err == nil && v > 0 {
		secs = v
	}
	d, err := robot.Load("so101-follower")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tap := &record.PoseTap{}
	var cams []record.CameraSpec
	var runs []func(context.Context) error
	for _, name := range []string{"front", "wrist"} {
		sc, err := sim.NewCamera(sim.CameraConfig{Name: name, Width: 640, Height: 480, FPS: 30, Joints: tap.Joints})
		if err != nil {
			b.Fatal(err)
		}
		rc, err := record.NewRenderedCamera(640, 480, 30, robot.PixelBGR24, sc.Render)
		if err != nil {
			b.Fatal(err)
		}
		runs = append(runs, rc.Run)
		cams = append(cams, record.CameraSpec{Name: name, Width: 640, Height: 480, Camera: rc})
	}
	for i := 0; i < b.N; i++ {
		res, err := record.RunBench(ctx, record.BenchConfig{Desc: d, Bus: sim.NewBus(d), Cameras: cams,
			Root: filepath.Join(b.TempDir(), "ds"), Video: dataset.VideoConfig{Codec: codec}, FPS: 30, LoopRate: 500,
			Idle: 10 * time.Second, Duration: time.Duration(secs * float64(time.Second)), Spin: 50 * time.Microsecond, Taps: []control.Sink{tap},
			KeepP: os.Getenv("ANTHER_BENCH_KEEPP") != "", RT: os.Getenv("ANTHER_BENCH_RT") != "", StartCameras: func() {
				for _, run := range runs {
					go func() { _ = run(ctx) }()
				}
			}})
		if err != nil {
			b.Fatal(err)
		}
		js, _ := json.MarshalIndent(res, "", "  ")
		fmt.Fprintf(os.Stderr, "%s\n", js)
		b.ReportMetric(float64(res.FramesExpected-res.Frames), "frames-missing")
		b.ReportMetric(float64(res.DroppedSteps), "dropped-steps")
		b.ReportMetric(res.StopToSavedMS, "stop-to-saved-ms")
		b.ReportMetric(res.IdleLateness.P99US, "idle-p99-us")
		b.ReportMetric(res.RecordLateness.P99US, "rec-p99-us")
		b.ReportMetric(res.LatenessP99Ratio, "p99-ratio")
	}
}

func BenchmarkRecordAV1(b *testing.B)  { benchRecord(b, dataset.CodecAV1) }
func BenchmarkRecordH264(b *testing.B) { benchRecord(b, dataset.CodecH264) }
