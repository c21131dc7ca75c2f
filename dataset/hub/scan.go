package hub

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// source is one file to upload: on disk, or in memory (the generated
// dataset card).
type source struct {
	rel    string // path in the repository, slash-separated
	abs    string // "" for an in-memory file
	data   []byte // in-memory content
	size   int64
	mod    time.Time
	sample []byte // first 512 bytes
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

func (s *source) open() (io.ReaderAt, io.Closer, error) {
	if s.abs == "" {
		return bytes.NewReader(s.data), nopCloser{}, nil
	}
	f, err := os.Open(s.abs)
	if err != nil {
		return nil, nil, fmt.Errorf("hub: %w", err)
	}
	return f, f, nil
}

// file opens the file on disk, or returns nil for an in-memory source.
func (s *source) file() (*os.File, error) {
	if s.abs == "" {
		return nil, nil
	}
	f, err := os.Open(s.abs)
	if err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	return f, nil
}

// readAll returns the whole content (for regular files, sent inline).
func (s *source) readAll() ([]byte, error) {
	if s.abs == "" {
		return s.data, nil
	}
	b, err := os.ReadFile(s.abs)
	if err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	if int64(len(b)) != s.size {
		return nil, fmt.Errorf("%w: %s is now %d bytes, was %d", ErrDatasetChanged, s.rel, len(b), s.size)
	}
	return b, nil
}

// unchanged reports whether the file on disk still has the size and
// modification time seen by the scan.
func (s *source) unchanged() error {
	if s.abs == "" {
		return nil
	}
	fi, err := os.Stat(s.abs)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrDatasetChanged, s.rel, err)
	}
	if fi.Size() != s.size || !fi.ModTime().Equal(s.mod) {
		return fmt.Errorf("%w: %s was modified while it was uploaded", ErrDatasetChanged, s.rel)
	}
	return nil
}

// skipDir reports whether a directory (slash path relative to the root)
// is never uploaded: git and cache folders anywhere (as upload_folder
// does), and LeRobot's temporary images/ staging.
func skipDir(rel string) bool {
	base := path.Base(rel)
	return base == ".git" || base == ".cache" || rel == "images"
}

// scan lists the files under root to upload, sorted by path.
func scan(root string) ([]*source, error) {
	var out []*source
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("hub: scan %s: %w", root, err)
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return fmt.Errorf("hub: scan: %w", err)
		}
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if d.IsDir() {
			if skipDir(rel) {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := os.Stat(p) // follows a symlink to a file
		if err != nil {
			return fmt.Errorf("hub: scan: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("hub: scan: %w", err)
		}
		sample := make([]byte, min(fi.Size(), 512))
		_, err = io.ReadFull(f, sample)
		f.Close()
		if err != nil {
			return fmt.Errorf("hub: scan: read %s: %w", rel, err)
		}
		out = append(out, &source{rel: rel, abs: p, size: fi.Size(), mod: fi.ModTime(), sample: sample})
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rel < out[j].rel })
	return out, nil
}

func memSource(rel string, data []byte) *source {
	return &source{rel: rel, data: data, size: int64(len(data)), sample: data[:min(len(data), 512)]}
}

// gitBlobOID is git's id of a blob: sha1("blob <size>\0" + content), what
// the Hub reports as the oid of a regular file.
func gitBlobOID(b []byte) string {
	h := sha1.New()
	h.Write([]byte("blob " + strconv.Itoa(len(b)) + "\x00"))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// hashFile streams the file through sha256, counting bytes into done.
func hashFile(ctx context.Context, s *source, m *meter, buf []byte) (string, error) {
	ra, closer, err := s.open()
	if err != nil {
		return "", err
	}
	defer closer.Close()
	h := sha256.New()
	r := io.NewSectionReader(ra, 0, s.size)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return "", fmt.Errorf("hub: hash %s: %w", s.rel, context.Cause(ctx))
		}
		k, err := r.Read(buf)
		if k > 0 {
			if m.lim != nil {
				if werr := m.lim.wait(ctx, k); werr != nil {
					return "", fmt.Errorf("hub: hash %s: %w", s.rel, werr)
				}
			}
			h.Write(buf[:k])
			n += int64(k)
			m.hashDone.Add(int64(k))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("hub: hash %s: %w", s.rel, err)
		}
	}
	if n != s.size {
		return "", fmt.Errorf("%w: %s shrank while it was hashed", ErrDatasetChanged, s.rel)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// relOK checks a repository path the way the Hub would.
func relOK(rel string) error {
	if strings.HasPrefix(rel, "/") || strings.Contains(rel, "\\") || path.Clean(rel) != rel {
		return fmt.Errorf("hub: %q is not a clean repository path", rel)
	}
	return nil
}
