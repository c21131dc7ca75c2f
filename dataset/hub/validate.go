package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Validator checks a dataset directory before it is uploaded; a non-nil
// error stops the upload. The dataset package's full validator plugs in
// here; [CheckStructure] always runs first.
type Validator interface {
	Validate(ctx context.Context, dir string) error
}

// ValidatorFunc adapts a function to [Validator].
type ValidatorFunc func(ctx context.Context, dir string) error

// Validate implements Validator.
func (f ValidatorFunc) Validate(ctx context.Context, dir string) error { return f(ctx, dir) }

// CodebaseVersion is the LeRobot dataset format this package uploads, and
// the tag it puts on the commit.
const CodebaseVersion = "v3.0"

// ValidationError lists what is wrong with a dataset directory. It wraps
// [ErrInvalidDataset].
type ValidationError struct {
	Dir      string
	Problems []string
}

// Error implements error.
func (e *ValidationError) Error() string {
	return fmt.Sprintf("%v: %s: %s", ErrInvalidDataset, e.Dir, strings.Join(e.Problems, "; "))
}

// Unwrap makes errors.Is(err, ErrInvalidDataset) true.
func (e *ValidationError) Unwrap() error { return ErrInvalidDataset }

// Info is the part of meta/info.json the uploader reads.
type Info struct {
	CodebaseVersion string  `json:"codebase_version"`
	RobotType       string  `json:"robot_type"`
	TotalEpisodes   int64   `json:"total_episodes"`
	TotalFrames     int64   `json:"total_frames"`
	FPS             float64 `json:"fps"`
}

// ParseInfo reads the fields of meta/info.json the uploader needs and
// lists what is wrong with them for a LeRobot v3.0 dataset.
func ParseInfo(b []byte) (Info, []string) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return Info{}, []string{"meta/info.json is not a JSON object: " + err.Error()}
	}
	var info Info
	var problems []string
	field := func(key string, dst any) bool {
		v, ok := raw[key]
		if !ok {
			problems = append(problems, "meta/info.json has no "+key)
			return false
		}
		if err := json.Unmarshal(v, dst); err != nil {
			problems = append(problems, fmt.Sprintf("meta/info.json: %s: %v", key, err))
			return false
		}
		return true
	}
	if field("codebase_version", &info.CodebaseVersion) && info.CodebaseVersion != CodebaseVersion {
		problems = append(problems, fmt.Sprintf("meta/info.json: codebase_version is %q, want %q (convert it with lerobot's convert_dataset_v21_to_v30)",
			info.CodebaseVersion, CodebaseVersion))
	}
	if field("total_episodes", &info.TotalEpisodes) && info.TotalEpisodes <= 0 {
		problems = append(problems, fmt.Sprintf("meta/info.json: total_episodes is %d: nothing was recorded", info.TotalEpisodes))
	}
	if _, ok := raw["total_frames"]; ok {
		_ = json.Unmarshal(raw["total_frames"], &info.TotalFrames)
	}
	if _, ok := raw["fps"]; ok {
		_ = json.Unmarshal(raw["fps"], &info.FPS)
	}
	if _, ok := raw["robot_type"]; ok {
		_ = json.Unmarshal(raw["robot_type"], &info.RobotType)
	}
	if _, ok := raw["features"]; !ok {
		problems = append(problems, "meta/info.json has no features")
	}
	return info, problems
}

// CheckStructure is the uploader's own minimal check of a LeRobot v3.0
// dataset: meta/info.json present and parseable with codebase_version
// "v3.0" and total_episodes > 0, and data/ and meta/ directories holding
// files. It returns a [*ValidationError] naming every problem found.
func CheckStructure(dir string) error {
	var problems []string
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return &ValidationError{Dir: dir, Problems: []string{"not a directory"}}
	}
	for _, sub := range []string{"meta", "data"} {
		n, err := countFiles(filepath.Join(dir, sub))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			problems = append(problems, sub+"/ is missing")
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s/: %v", sub, err))
		case n == 0:
			problems = append(problems, sub+"/ holds no files")
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "meta", "info.json"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		problems = append(problems, "meta/info.json is missing")
	case err != nil:
		problems = append(problems, fmt.Sprintf("meta/info.json: %v", err))
	default:
		_, p := ParseInfo(b)
		problems = append(problems, p...)
	}
	if len(problems) > 0 {
		return &ValidationError{Dir: dir, Problems: problems}
	}
	return nil
}

func countFiles(dir string) (int, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return 0, err
	}
	if !fi.IsDir() {
		return 0, fmt.Errorf("not a directory")
	}
	n := 0
	err = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			n++
		}
		return nil
	})
	return n, err
}
