// Package dataset reads, writes and checks LeRobot datasets: format v3.0 as
// current LeRobot loads it (meta/info.json, meta/stats.json,
// meta/tasks.parquet, meta/episodes/…, data/… parquet files with one row
// group per episode, and one MP4 per camera holding many episodes), and
// format v2.1 for reading.
//
// A Writer adds episodes one at a time. Camera frames are encoded while the
// episode runs, one ffmpeg process per camera fed raw RGB through a pipe (no
// image staging), and an episode becomes part of the dataset atomically when
// it is saved: the changed files are written beside the dataset, a manifest
// is committed, and the files are renamed into place. A crash at any moment
// leaves every earlier episode intact; the next Open completes an
// interrupted save or removes the partial episode, and says which.
//
// The package depends only on the robot leaf package, the standard library
// and Apache Arrow (parquet); the recorder that attaches to the control loop
// lives in dataset/record. Video work needs ffmpeg and ffprobe on PATH.
package dataset
