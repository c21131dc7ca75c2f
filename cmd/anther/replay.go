package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/anther-robotics/anther/dataset"
	"github.com/anther-robotics/anther/dataset/record"
	"github.com/anther-robotics/anther/robot"
)

func (a *app) replayCmd() *cobra.Command {
	var (
		dir, robotName, port, feature string
		episode                       int
		simFlag, asJSON               bool
		rate                          float64
		lead                          time.Duration
		spin                          time.Duration
	)
	cmd := &cobra.Command{
		Use:   "replay --dataset DIR --episode N --robot NAME|FILE [--sim | --port P]",
		Short: "drive a robot through a recorded episode's actions (through the safety layer)",
		Long: `replay reads an episode of a LeRobot dataset (v3.0 or v2.1, recorded here or
elsewhere) and plays its actions back as joint targets at the dataset's fps:
every target still passes the loop's position, velocity and acceleration
limits. The robot first blends from where it is to the first frame over
--lead. At the end it reports how closely the joints reproduced the
recording: RMS error against observation.state and against the action, per
joint, in the dataset's units (degrees for LeRobot arms).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if dir == "" || robotName == "" {
				return errors.New("replay: --dataset and --robot are required")
			}
			d, err := robot.Load(robotName)
			if err != nil {
				return err
			}
			ds, err := dataset.OpenDataset(ctx, dir)
			if err != nil {
				return err
			}
			defer ds.Close()
			hw, err := openHardware(d, runOpts{robot: robotName, sim: simFlag, port: port, spin: spin})
			if err != nil {
				return err
			}
			defer hw.Close()
			if err := hw.Configure(ctx); err != nil {
				return fmt.Errorf("configure %s: %w", d.Name, err)
			}
			defer func() { _ = hw.Halt() }()
			ep, err := ds.Episode(episode)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "replaying episode %d of %s: %d frames at %d fps (%.1f s) on %s\n",
				episode, dir, ep.Length, ds.Info.FPS, float64(ep.Length)/float64(ds.Info.FPS), d.Name)
			disp := newDisplay(a.stderr, "auto")
			res, err := record.RunReplay(ctx, record.ReplayConfig{Desc: d, Bus: hw, Rate: rate, Spin: spin, Dataset: ds,
				Episode: episode, Feature: feature, Lead: lead, Logger: a.logger(),
				Progress: func(f, n int) {
					if disp.on {
						fmt.Fprintf(a.stderr, "\rframe %d/%d", f+1, n)
					}
				}})
			if disp.on {
				fmt.Fprint(a.stderr, "\r\033[K")
			}
			if err != nil {
				return err
			}
			if asJSON {
				b, _ := json.MarshalIndent(res, "", "  ")
				fmt.Fprintln(a.stdout, string(b))
				return nil
			}
			unit := strings.Join(uniq(res.Units), "/")
			fmt.Fprintf(a.stdout, "replayed episode %d: %d frames in %.2f s (safety trip: %s)\n", res.Episode, res.Frames, res.Seconds, res.Trip)
			fmt.Fprintf(a.stdout, "RMS error vs recorded observation.state: %.3f %s; vs action: %.3f %s (max |err| vs state %.3f)\n",
				res.RMSStateAll, unit, res.RMSActionAll, unit, res.MaxState)
			for i, n := range res.Joints {
				fmt.Fprintf(a.stdout, "  %-22s state %.3f  action %.3f %s\n", n, res.RMSState[i], res.RMSAction[i], res.Units[i])
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dataset", "", "dataset folder")
	f.IntVar(&episode, "episode", 0, "episode index")
	f.StringVar(&robotName, "robot", "", "built-in profile name or description file")
	f.BoolVar(&simFlag, "sim", false, "replay on the simulator")
	f.StringVar(&port, "port", "", "serial port for the first bus")
	f.StringVar(&feature, "feature", "action", "feature holding the targets")
	f.Float64Var(&rate, "rate", 0, "loop rate in Hz (0: the description's)")
	f.DurationVar(&lead, "lead", 2*time.Second, "blend from the current pose to the first frame")
	f.DurationVar(&spin, "spin", 50*time.Microsecond, "busy-wait before each loop deadline")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func uniq(s []string) []string {
	var out []string
	for _, x := range s {
		found := false
		for _, y := range out {
			found = found || x == y
		}
		if !found {
			out = append(out, x)
		}
	}
	return out
}
