// Command anther is the robot daemon and toolbox: it runs the real-time
// control loop on a robot (or the simulator), serves the HTTP API, and
// offers the tools around it (profiles, config checks, benchmarks).
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "anther:", err)
		return 1
	}
	return 0
}

// app holds what every subcommand shares.
type app struct {
	stdout, stderr io.Writer
	logLevel       string
	logJSON        bool
}

// handler is the log handler the flags ask for.
func (a *app) handler() slog.Handler {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(a.logLevel)); err != nil {
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if a.logJSON {
		return slog.NewJSONHandler(a.stderr, opts)
	}
	return slog.NewTextHandler(a.stderr, opts)
}

func (a *app) logger() *slog.Logger { return slog.New(a.handler()) }

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	a := &app{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "anther",
		Short:         "anther runs robot arms and heads built on Dynamixel and Feetech servo buses",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().BoolVar(&a.logJSON, "log-json", false, "log as JSON lines")
	root.AddCommand(
		a.runCmd(),
		a.robotsCmd(),
		a.configCmd(),
		a.versionCmd(),
		a.benchCmd(),
		a.busCmd(),
		a.simCmd(),
		a.estopCmd(),
		a.tokenCmd(),
		a.lifecycleCmd("activate", "turn a running daemon's robot on (torque on, commands flow)"),
		a.lifecycleCmd("deactivate", "turn a running daemon's robot off (torque off, still reading)"),
		a.lifecycleCmd("reset", "clear an e-stop or fault on a running daemon (then activate)"),
		a.policyCmd(),
		a.datasetCmd(),
		a.recordCmd(),
		a.replayCmd(),
		a.cameraCmd(),
		a.calibrateCmd(),
		a.teleopCmd(),
	)
	return root
}

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(a.stdout, "anther", version)
			return nil
		},
	}
}
