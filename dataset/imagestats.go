package dataset

import (
	"math"
)

// FrameHistogram is one video frame's per-channel histogram of 8-bit values
// over the pixels LeRobot samples (every k-th row and column, k = W/150 for
// frames of 300 pixels or more). Episode image statistics are exact sums of
// these over LeRobot's sampled frames, so no frame has to be kept.
type FrameHistogram [3][256]uint32

// downsampleStride is LeRobot's auto_downsample_height_width stride.
func downsampleStride(w, h int) int {
	if max(w, h) < 300 {
		return 1
	}
	if w > h {
		return max(1, w/150)
	}
	return max(1, h/150)
}

// Add counts the pixels of an RGB24 frame of w×h into the histogram.
func (fh *FrameHistogram) Add(pix []byte, w, h int) {
	k := downsampleStride(w, h)
	for y := 0; y < h; y += k {
		row := pix[y*w*3 : (y+1)*w*3]
		for x := 0; x < w; x += k {
			p := row[x*3 : x*3+3]
			fh[0][p[0]]++
			fh[1][p[1]]++
			fh[2][p[2]]++
		}
	}
}

// SampleIndices are the frames LeRobot samples from an episode of n frames
// for image statistics (compute_stats.sample_indices).
func SampleIndices(n int) []int {
	if n <= 0 {
		return nil
	}
	num := estimateNumSamples(n)
	out := make([]int, num)
	for i := range out {
		var x float64
		if num > 1 {
			x = float64(i) * float64(n-1) / float64(num-1)
		}
		out[i] = int(math.RoundToEven(x))
	}
	return out
}

func estimateNumSamples(n int) int {
	lo, hi := 100, 10000
	if n < lo {
		lo = n
	}
	return max(lo, min(int(math.Pow(float64(n), 0.75)), hi))
}

// ImageStats computes LeRobot's statistics of a camera feature from the
// histograms of every frame of an episode: per channel over LeRobot's
// sampled frames, values divided by 255, shape (3,1,1), count = the number of
// sampled frames.
func ImageStats(frames []FrameHistogram) *FeatureStats {
	idx := SampleIndices(len(frames))
	fs := &FeatureStats{Shape: []int{3, 1, 1}, Count: int64(len(idx)), HasQuantiles: true,
		Min: make([]float64, 3), Max: make([]float64, 3), Mean: make([]float64, 3), Std: make([]float64, 3)}
	for q := range fs.Q {
		fs.Q[q] = make([]float64, 3)
	}
	counts := make([]uint64, 256)
	for c := 0; c < 3; c++ {
		clear(counts)
		for _, i := range idx {
			for v, n := range frames[i][c] {
				counts[v] += uint64(n)
			}
		}
		lo, hi, mean, std, q := computeStatsFromCounts(counts, 255)
		fs.Min[c], fs.Max[c], fs.Mean[c], fs.Std[c] = lo, hi, mean, std
		for i := range q {
			fs.Q[i][c] = q[i]
		}
	}
	return fs
}
