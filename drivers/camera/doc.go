// Package camera captures frames from USB/V4L2 cameras and video files
// (through OpenCV, gocv.io/x/gocv) and from RTSP streams (through
// github.com/bluenviron/gortsplib/v4, H.264 and H.265 decoded by libavcodec),
// and hands them to readers with latest-frame semantics.
//
// A Camera runs its source on its own goroutine (Run) and publishes each
// frame into a small ring of preallocated buffers. Readers copy out of the
// ring into their own robot.Frame: Latest never waits for the camera (the
// control loop may call it every tick) and reports a frame older than the
// caller accepts with robot.ErrStale; Next waits for a frame newer than the
// one the caller already has. A camera never queues: when no buffer is free
// the frame is dropped and counted.
//
// Every frame carries a sequence number, its arrival time and its capture
// time on this machine's clock: for V4L2 the driver's buffer timestamp, for
// RTSP the RTP timestamp mapped onto the local clock (never later than the
// arrival), for files the stream position.
//
// Preprocessor turns frames into the float32 CHW tensors policies take
// (crop, resize or letterbox, BGR→RGB, per-channel normalization) without
// allocating once warmed up.
package camera
