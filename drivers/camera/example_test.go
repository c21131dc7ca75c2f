package camera_test

import (
	"context"
	"fmt"
	"time"

	"github.com/anther-robotics/anther/drivers/camera"
	"github.com/anther-robotics/anther/robot"
)

func ExampleParseSource() {
	for _, s := range []string{"0", "/dev/video2", "rtsp://user:secret@cam.local:8554/front", "clip.mp4", "sim"} {
		src, err := camera.ParseSource(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(src.Kind, src)
	}
	// Output:
	// usb /dev/video0
	// usb /dev/video2
	// rtsp rtsp://user:xxxxx@cam.local:8554/front
	// file clip.mp4
	// sim sim
}

// A camera runs on its own goroutine; the control loop takes the newest
// frame without waiting, and a policy turns it into a tensor.
func ExampleCamera() {
	cam, err := camera.New(camera.Config{Name: "front", Source: "testdata/pattern_64x48_ffv1.avi", FPS: 100})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = cam.Run(ctx) }()

	var f robot.Frame // one per consumer, reused: no allocation once sized
	if err := cam.Next(ctx, &f); err != nil {
		fmt.Println(err)
		return
	}
	pre, err := camera.NewPreprocessor(camera.PreprocessConfig{Width: 32, Height: 32, Fit: camera.FitLetterbox})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pre.Close()
	tensor := make([]float32, pre.TensorLen())
	if err := pre.Run(&f, tensor); err != nil {
		fmt.Println(err)
		return
	}
	// In the loop: Latest never blocks; ErrStale says the frame is too old.
	err = cam.Latest(&f, time.Second)
	fmt.Println(f.Width, f.Height, f.Format, len(tensor), err)
	// Output: 64 48 bgr24 3072 <nil>
}
