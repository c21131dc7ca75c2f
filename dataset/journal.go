package dataset

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// An episode is saved in three steps:
//  1. every file that changes is written in full under .anther/commit/files/
//     (the dataset itself is untouched, so a crash here loses nothing but
//     the episode being saved);
//  2. .anther/commit/MANIFEST is written and renamed into place: the commit
//     point;
//  3. the files are renamed over their targets, info.json last, and the
//     commit folder is removed.
// The next Open finds a MANIFEST and finishes step 3 (roll forward), or
// finds none and removes the folder (roll back). Partial episodes (their
// staging folder .anther/episode-NNNNNN) are removed and reported.

const (
	commitDir    = stateDir + "/commit"
	manifestName = "MANIFEST"
)

type manifest struct {
	Episode int      `json:"episode_index"`
	Files   []string `json:"files"` // dataset-relative paths, in rename order
}

type commit struct {
	root string
	dir  string
	done bool
}

func newCommit(root string) *commit {
	dir := filepath.Join(root, commitDir)
	_ = os.RemoveAll(dir)
	return &commit{root: root, dir: dir}
}

// stage returns where the new version of the dataset file rel is written.
func (c *commit) stage(rel string) string {
	p := filepath.Join(c.dir, "files", filepath.FromSlash(rel))
	_ = os.MkdirAll(filepath.Dir(p), 0o755)
	return p
}

// abandon removes an uncommitted commit folder.
func (c *commit) abandon() {
	if !c.done {
		_ = os.RemoveAll(c.dir)
	}
}

// commit writes the manifest (the commit point) and moves the files in.
func (c *commit) commit(episode int, files []string) error {
	data, _ := json.Marshal(manifest{Episode: episode, Files: files})
	tmp := filepath.Join(c.dir, manifestName+".tmp")
	if err := writeFileSync(tmp, data); err != nil {
		return err
	}
	if err := syncDir(filepath.Join(c.dir, "files")); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(c.dir, manifestName)); err != nil {
		return fmt.Errorf("dataset: commit: %w", err)
	}
	if err := syncDir(c.dir); err != nil {
		return err
	}
	c.done = true
	return applyManifest(c.root)
}

// applyManifest renames the committed files into place and removes the
// commit folder. It is idempotent: files already moved are skipped.
func applyManifest(root string) error {
	dir := filepath.Join(root, commitDir)
	data, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		return fmt.Errorf("dataset: commit manifest: %w", err)
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("dataset: commit manifest: %w", err)
	}
	dirs := map[string]bool{}
	for _, rel := range m.Files {
		if rel == "" || strings.Contains(rel, "..") || filepath.IsAbs(rel) {
			return fmt.Errorf("dataset: commit manifest names a bad path %q", rel)
		}
		src := filepath.Join(dir, "files", filepath.FromSlash(rel))
		dst := filepath.Join(root, filepath.FromSlash(rel))
		if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
			continue // moved before the interruption
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("dataset: %w", err)
		}
		if err := os.Rename(src, dst); err != nil {
			return fmt.Errorf("dataset: commit: %w", err)
		}
		dirs[filepath.Dir(dst)] = true
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("dataset: sync %s: %w", dir, err)
	}
	return nil
}

// PendingRecovery describes what an interrupted run left under root's
// state folder, without changing anything.
func PendingRecovery(root string) []string {
	var out []string
	dir := filepath.Join(root, commitDir)
	if data, err := os.ReadFile(filepath.Join(dir, manifestName)); err == nil {
		var m manifest
		_ = json.Unmarshal(data, &m)
		out = append(out, fmt.Sprintf("the save of episode %d was committed but not finished (the next recording completes it)", m.Episode))
	} else if _, err := os.Stat(dir); err == nil {
		out = append(out, "an uncommitted save is left over (the next recording removes it; no saved episode is affected)")
	}
	for _, p := range partialEpisodes(root) {
		out = append(out, fmt.Sprintf("partial episode %d (%q) was being recorded when the recorder stopped (the next recording removes it)", p.Index, p.Task))
	}
	return out
}

type partial struct {
	Dir   string
	Index int    `json:"episode_index"`
	Task  string `json:"task"`
}

func partialEpisodes(root string) []partial {
	matches, _ := filepath.Glob(filepath.Join(root, stateDir, "episode-*"))
	sort.Strings(matches)
	var out []partial
	for _, m := range matches {
		p := partial{Dir: m, Index: -1}
		if data, err := os.ReadFile(filepath.Join(m, "episode.json")); err == nil {
			_ = json.Unmarshal(data, &p)
		}
		out = append(out, p)
	}
	return out
}

// recoverState repairs what an interrupted run left and says what it did.
func recoverState(root string) ([]string, error) {
	var did []string
	dir := filepath.Join(root, commitDir)
	if data, err := os.ReadFile(filepath.Join(dir, manifestName)); err == nil {
		var m manifest
		_ = json.Unmarshal(data, &m)
		if err := applyManifest(root); err != nil {
			return nil, err
		}
		did = append(did, fmt.Sprintf("completed the interrupted save of episode %d (it had been committed)", m.Episode))
	} else if _, err := os.Stat(dir); err == nil {
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("dataset: %w", err)
		}
		did = append(did, "removed an unfinished save that had not been committed (the episode being saved was lost; earlier episodes are intact)")
	}
	saved := -1
	if in, err := ReadInfo(root); err == nil {
		saved = in.TotalEpisodes
	}
	for _, p := range partialEpisodes(root) {
		if p.Index >= 0 && p.Index < saved {
			// Saved and committed; only its staging folder was left.
			_ = os.RemoveAll(p.Dir)
			continue
		}
		var frames string
		if st, err := os.Stat(p.Dir); err == nil {
			frames = " started " + st.ModTime().Format("15:04:05")
		}
		if err := os.RemoveAll(p.Dir); err != nil {
			return nil, fmt.Errorf("dataset: %w", err)
		}
		did = append(did, fmt.Sprintf("removed partial episode %d (task %q,%s): it was being recorded when the recorder stopped and was never saved", p.Index, p.Task, frames))
	}
	return did, nil
}
