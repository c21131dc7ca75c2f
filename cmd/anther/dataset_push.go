package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/anther-robotics/anther/dataset/hub"
)

type pushOpts struct {
	repoID      string
	private     bool
	branch      string
	revision    string
	message     string
	tag         string
	noTag       bool
	license     string
	concurrency int
	rateMBps    float64
	stateDir    string
	logEvery    time.Duration
	noProgress  bool
	asJSON      bool
}

func (a *app) datasetPushCmd() *cobra.Command {
	var o pushOpts
	cmd := &cobra.Command{
		Use:   "push DIR --repo-id NAMESPACE/NAME [--private] [--branch B]",
		Short: "upload a LeRobot v3.0 dataset to the Hugging Face Hub, tagged v3.0",
		Long: `push uploads the dataset in DIR to the Hub dataset repository --repo-id (created if
needed, private with --private) in one commit, with a dataset card (README.md) if DIR has
none, and tags that commit v3.0 so LeRobot can load it.

The dataset is checked first (meta/info.json with codebase_version "v3.0" and episodes,
data/ and meta/ present); an invalid one is refused before anything is sent.

The token comes from HF_TOKEN, else the token file of huggingface_hub ($HF_TOKEN_PATH, else
$HF_HOME/token, else ~/.cache/huggingface/token; "hf auth login" writes it); the endpoint from
HF_ENDPOINT (default https://huggingface.co). The token is never printed.

Uploads resume: run the same command again after an interruption and it continues where it
stopped (files are hashed once; objects the Hub has are not sent again; the commit is made
once). Running it on a dataset the Hub already has makes no commit.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.revision != "" {
				if o.branch != "" && o.branch != o.revision {
					return fmt.Errorf("--branch %q and --revision %q disagree (they are the same option)", o.branch, o.revision)
				}
				o.branch = o.revision
			}
			return a.datasetPush(cmd.Context(), args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.repoID, "repo-id", "", "Hub dataset repository, namespace/name (required)")
	f.BoolVar(&o.private, "private", false, "create the repository private (an existing one keeps its visibility)")
	f.StringVar(&o.branch, "branch", "", "branch to commit to (default main; created from main if missing)")
	f.StringVar(&o.revision, "revision", "", "same as --branch (huggingface-cli's name for it)")
	f.StringVar(&o.message, "message", "", "commit message (default: names the episodes and frames)")
	f.StringVar(&o.tag, "tag", hub.CodebaseVersion, "tag to put on the commit (LeRobot needs v3.0)")
	f.BoolVar(&o.noTag, "no-tag", false, "do not tag the commit")
	f.StringVar(&o.license, "license", "apache-2.0", "license of the generated dataset card")
	f.IntVar(&o.concurrency, "concurrency", 4, "parallel transfers")
	f.Float64Var(&o.rateMBps, "rate-limit", 0, "cap the upload at this many MB/s (0: no cap)")
	f.StringVar(&o.stateDir, "state-dir", "", "where the resume journal lives (default: the user cache dir, anther/hub)")
	f.DurationVar(&o.logEvery, "progress-every", 5*time.Second, "interval of the progress log lines (when stderr is not a terminal)")
	f.BoolVar(&o.noProgress, "no-progress", false, "no progress bar or progress lines")
	f.BoolVar(&o.asJSON, "json", false, "print the result as JSON")
	_ = cmd.MarkFlagRequired("repo-id")
	return cmd
}

// stderrTerminal reports whether the app's stderr is a terminal.
func (a *app) stderrTerminal() (*os.File, bool) {
	f, ok := a.stderr.(*os.File)
	return f, ok && term.IsTerminal(int(f.Fd()))
}

func (a *app) datasetPush(ctx context.Context, dir string, o pushOpts) error {
	repo, err := hub.ParseRepoID(o.repoID)
	if err != nil {
		return err
	}
	if err := hub.CheckStructure(dir); err != nil {
		return err
	}
	tok, err := hub.TokenFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	_, tty := a.stderrTerminal()
	showBar := tty && !o.noProgress && !o.asJSON
	log := a.logger()
	clientLog := log
	if showBar {
		// Keep the bar readable: only retries and failures around it.
		clientLog = slog.New(a.handlerAtLeast(slog.LevelWarn))
	}
	c, err := hub.NewClient(hub.Config{Endpoint: hub.EndpointFromEnv(os.Getenv), Token: tok, Logger: clientLog,
		UserAgent: "anther/" + version})
	if err != nil {
		return err
	}
	opt := hub.Options{Repo: repo, Branch: o.branch, Private: o.private, Message: o.message, Tag: o.tag, NoTag: o.noTag,
		Card: hub.CardOptions{License: o.license}, StateDir: o.stateDir, Concurrency: o.concurrency,
		RateLimit: int64(o.rateMBps * 1e6)}
	var bar *progressbar.ProgressBar
	switch {
	case o.noProgress:
	case showBar:
		bar = progressbar.NewOptions64(-1, progressbar.OptionSetWriter(a.stderr), progressbar.OptionShowBytes(true),
			progressbar.OptionSetPredictTime(true), progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionSetWidth(30),
			progressbar.OptionSetDescription("preparing"), progressbar.OptionClearOnFinish())
		opt.ProgressEvery = 100 * time.Millisecond
		opt.OnProgress = func(p hub.Progress) { renderBar(bar, p) }
	default:
		opt.ProgressEvery = o.logEvery
		opt.OnProgress = progressLogger(log)
	}
	res, err := c.Upload(ctx, dir, opt)
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(a.stderr)
	}
	if err != nil {
		return err
	}
	if o.asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	abs, _ := filepath.Abs(dir)
	what := "no commit: the Hub already had every file"
	if res.Committed {
		what = fmt.Sprintf("commit %s: %d of %d files changed", short(res.Commit), res.Changed, res.Files)
	}
	fmt.Fprintf(a.stdout, "pushed %s to %s (%s", abs, res.URL, what)
	if res.Tag != "" {
		fmt.Fprintf(a.stdout, ", tagged %s", res.Tag)
	}
	fmt.Fprintf(a.stdout, "); %s sent in %s (%s/s)\n", mb(res.BytesUploaded), res.Elapsed.Round(time.Millisecond),
		mb(int64(float64(res.BytesUploaded)/max(res.Elapsed.Seconds(), 1e-3))))
	return nil
}

// renderBar shows an upload's progress: bytes sent of the bytes the Hub
// lacks, with rate and ETA (the bar's own), and the phase.
func renderBar(bar *progressbar.ProgressBar, p hub.Progress) {
	desc := string(p.Phase)
	if p.Phase == hub.PhaseUpload && p.HashDone < p.HashTotal {
		desc = fmt.Sprintf("hashing %d%%, uploading", 100*p.HashDone/max(p.HashTotal, 1))
	}
	bar.Describe(fmt.Sprintf("%-24s files %d/%d", desc, p.FilesDone, p.Files))
	if p.UploadTotal > 0 {
		if bar.GetMax64() != p.UploadTotal {
			bar.ChangeMax64(p.UploadTotal)
		}
		_ = bar.Set64(p.UploadDone)
	}
}

// progressLogger returns a progress callback logging one line per call.
func progressLogger(log *slog.Logger) func(hub.Progress) {
	var lastDone int64
	var lastAt time.Duration
	return func(p hub.Progress) {
		rate := float64(p.UploadDone-lastDone) / max((p.Elapsed-lastAt).Seconds(), 1e-3)
		lastDone, lastAt = p.UploadDone, p.Elapsed
		args := []any{"phase", p.Phase, "files", fmt.Sprintf("%d/%d", p.FilesDone, p.Files),
			"hashed", fmt.Sprintf("%s/%s", mb(p.HashDone), mb(p.HashTotal)),
			"sent", fmt.Sprintf("%s/%s", mb(p.UploadDone), mb(p.UploadTotal)), "rate", mb(int64(rate)) + "/s",
			"elapsed", p.Elapsed.Round(time.Second)}
		if left := p.UploadTotal - p.UploadDone; rate > 0 && left > 0 {
			args = append(args, "eta", time.Duration(float64(left)/rate*float64(time.Second)).Round(time.Second))
		}
		log.Info("push progress", args...)
	}
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// handlerAtLeast is the log handler the flags ask for, showing nothing
// below min.
func (a *app) handlerAtLeast(min slog.Level) slog.Handler {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(a.logLevel)); err != nil {
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: max(lvl, min)}
	if a.logJSON {
		return slog.NewJSONHandler(a.stderr, opts)
	}
	return slog.NewTextHandler(a.stderr, opts)
}
