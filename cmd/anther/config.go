package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/anther-robotics/anther/robot"
)

func (a *app) robotsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "robots",
		Short: "list the built-in robot profiles",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			type row struct {
				Name    string   `json:"name"`
				Kind    string   `json:"kind"`
				Rate    float64  `json:"rate_hz"`
				Joints  []string `json:"joints"`
				Buses   []string `json:"buses"`
				Cameras int      `json:"cameras"`
			}
			var rows []row
			for _, p := range robot.Profiles() {
				d, err := robot.Load(p)
				if err != nil {
					return err
				}
				r := row{Name: d.Name, Kind: d.Kind, Rate: d.Rate, Joints: d.JointNames(), Cameras: len(d.Cameras)}
				for _, b := range d.Buses {
					r.Buses = append(r.Buses, fmt.Sprintf("%s %s@%d", b.Name, b.Protocol, b.Baud))
				}
				rows = append(rows, r)
			}
			if asJSON {
				return json.NewEncoder(a.stdout).Encode(rows)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PROFILE\tKIND\tRATE\tJOINTS\tBUSES")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%g Hz\t%d\t%v\n", r.Name, r.Kind, r.Rate, len(r.Joints), r.Buses)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) configCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "check robot descriptions"}
	var asJSON bool
	validate := &cobra.Command{
		Use:   "validate FILE|PROFILE",
		Short: "load and check a robot description; errors name file:line: field",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := robot.Load(args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(a.stdout).Encode(map[string]any{"ok": true, "name": d.Name, "joints": d.JointNames()})
			}
			fmt.Fprintf(a.stdout, "%s: ok (%s, %d joints on %d bus(es), %d camera(s), %g Hz)\n",
				d.Source, d.Name, len(d.Joints), len(d.Buses), len(d.Cameras), d.Rate)
			return nil
		},
	}
	validate.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	show := &cobra.Command{
		Use:   "show PROFILE",
		Short: "print a built-in profile's YAML (a starting point for your own)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := robot.ProfileYAML(args[0])
			if err != nil {
				return err
			}
			_, err = a.stdout.Write(b)
			return err
		},
	}
	cmd.AddCommand(validate, show, a.importURDFCmd())
	return cmd
}

func (a *app) importURDFCmd() *cobra.Command {
	var profile string
	cmd := &cobra.Command{
		Use:   "import-urdf FILE [--robot PROFILE|FILE]",
		Short: "read joint limits from a URDF; with --robot, print that description tightened by them",
		Long: `import-urdf reads a URDF's joints (names, types, <limit>s; meshes are not needed).
Without --robot it lists the actuated joints and their limits. With --robot it
prints the description with each same-named joint's position range narrowed to the
URDF's and its velocity/torque limits lowered to the URDF's where smaller: save
the output as a file and run with --robot FILE.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := robot.ReadURDF(args[0])
			if err != nil {
				return err
			}
			if profile == "" {
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintf(tw, "# %s\nJOINT\tTYPE\tLOWER\tUPPER\tVELOCITY\tEFFORT\n", u.Name)
				for _, j := range u.Joints {
					if j.Actuated() {
						fmt.Fprintf(tw, "%s\t%s\t%g\t%g\t%g\t%g\n", j.Name, j.Type, j.Lower, j.Upper, j.Velocity, j.Effort)
					}
				}
				return tw.Flush()
			}
			d, err := robot.Load(profile)
			if err != nil {
				return err
			}
			matched, missing := robot.ApplyURDFLimits(d, u)
			fmt.Fprintf(a.stderr, "import-urdf: %d joint(s) matched %v; not in the URDF: %v\n", len(matched), matched, missing)
			_, err = a.stdout.Write(d.YAML())
			return err
		},
	}
	cmd.Flags().StringVar(&profile, "robot", "", "profile or description to tighten with the URDF's limits")
	return cmd
}
