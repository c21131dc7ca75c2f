package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/anther-robotics/anther/drivers/feetech"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
)

// calibrateOpts are the flags of `anther calibrate`.
type calibrateOpts struct {
	robot      string
	port       string
	simulate   bool
	id         string
	out        string
	importFile string
	asJSON     bool
}

func (a *app) calibrateCmd() *cobra.Command {
	var o calibrateOpts
	cmd := &cobra.Command{
		Use:   "calibrate --robot so101-follower|so101-leader (--port P | --sim) [--id ID] [--out FILE] [--import FILE]",
		Short: "calibrate an SO-101 arm as LeRobot does, or import a LeRobot calibration file",
		Long: `calibrate runs LeRobot's calibration of a Feetech arm, interactively:

  1. torque off; move the arm to the middle of its range and press Enter:
     each servo's Homing_Offset is set so that it reads 2047 there;
  2. move every joint but wrist_roll through its whole range while a live
     table shows each joint's min / current / max ticks; press Enter.
     wrist_roll gets the full turn (0…4095).

The result goes to the servos (Homing_Offset, Min/Max_Position_Limit, EEPROM
unlocked while writing) and to LeRobot's calibration file, by default
$HF_LEROBOT_CALIBRATION/robots/so_follower/ID.json (teleoperators/so_leader
for the leader), so LeRobot and anther read the same numbers.

--import FILE writes an existing LeRobot calibration file to the servos
instead (and copies it to the calibration directory), then prints the joint
readings (shoulder_pan.pos, … in LeRobot's units). --sim runs on the
simulated arm, where a scripted hand does the moving.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.calibrate(cmd.Context(), o, cmd.InOrStdin())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.robot, "robot", "", "profile or description file of the arm (so101-follower, so101-leader)")
	f.StringVar(&o.port, "port", "", "serial port of the arm (default: the description's)")
	f.BoolVar(&o.simulate, "sim", false, "calibrate the simulated arm (a scripted hand moves it)")
	f.StringVar(&o.id, "id", "anther", "the arm's id: the calibration file's name, as LeRobot's --robot.id")
	f.StringVar(&o.out, "out", "", "calibration file to write (default: LeRobot's calibration path for --id)")
	f.StringVar(&o.importFile, "import", "", "write this LeRobot calibration file to the servos instead of calibrating")
	f.BoolVar(&o.asJSON, "json", false, "print the result as JSON")
	_ = cmd.MarkFlagRequired("robot")
	return cmd
}

// calibrate is the body of `anther calibrate`.
func (a *app) calibrate(ctx context.Context, o calibrateOpts, stdin io.Reader) error {
	d, err := robot.Load(o.robot)
	if err != nil {
		return err
	}
	out := o.out
	if out == "" {
		if out, err = calibrationPath(d, o.id); err != nil {
			return err
		}
	}
	var imported robot.Calibration
	if o.importFile != "" {
		if imported, err = robot.ReadCalibration(o.importFile); err != nil {
			return err
		}
		if err := checkCalibration(d, imported, o.importFile); err != nil {
			return err
		}
	}
	log := a.logger()
	arm, err := openFeetechArm(d, armOpts{port: o.port, simulate: o.simulate, log: log})
	if err != nil {
		return err
	}
	defer arm.bus.Close()
	if err := arm.bus.Configure(ctx); err != nil {
		return fmt.Errorf("configure %s: %w", d.Name, err)
	}
	// Torque off: the arm is moved by hand (and stays limp afterwards).
	if err := arm.bus.TorqueAll(ctx, false); err != nil {
		return err
	}
	var cal robot.Calibration
	if imported != nil {
		if err := arm.bus.WriteCalibration(ctx, imported); err != nil {
			return err
		}
		cal = imported
	} else {
		ui := newCalibrationUI(stdin, a.stderr)
		if cal, err = runCalibration(ctx, arm, ui); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("calibration: %w", err)
	}
	if err := robot.WriteCalibration(out, cal, d.JointNames()); err != nil {
		return err
	}
	readings, err := jointReadings(arm, cal)
	if err != nil {
		return err
	}
	if o.asJSON {
		return a.printJSON(map[string]any{"robot": d.Name, "file": out, "calibration": cal, "readings": readings})
	}
	fmt.Fprintf(a.stdout, "calibration of %s saved to %s\n", d.Name, out)
	for _, name := range robot.FeatureNames(d) {
		fmt.Fprintf(a.stdout, "  %-18s %9.3f\n", name, readings[name])
	}
	return nil
}

// jointReadings reads the arm once and returns each joint's position in
// LeRobot's units (DEGREES, gripper RANGE_0_100) under cal, by feature
// name.
func jointReadings(arm *feetechArm, cal robot.Calibration) (map[string]float64, error) {
	var s robot.State
	var err error
	for range 3 { // a transient error is retried, as the loop would
		if err = arm.bus.Read(time.Now(), &s); err == nil || !feetech.IsTransient(err) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", arm.d.Name, err)
	}
	z, err := robot.NewNormalizer(arm.d, cal, nil)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for i, name := range z.Names() {
		out[name] = z.Value(robot.JointIndex(i), s.Position[i])
	}
	return out, nil
}

// calibrationUI is the terminal side of a calibration: prompts, a live
// table, and the Enter presses read from stdin by a goroutine (which stays
// blocked on stdin until the process exits).
type calibrationUI struct {
	out   io.Writer
	enter chan struct{}
	eof   chan struct{}
	drawn int // lines of the live table on screen
}

func newCalibrationUI(in io.Reader, out io.Writer) *calibrationUI {
	ui := &calibrationUI{out: out, enter: make(chan struct{}, 16), eof: make(chan struct{})}
	go func() {
		r := bufio.NewReader(in)
		for {
			_, err := r.ReadString('\n')
			if err != nil {
				close(ui.eof)
				return
			}
			ui.enter <- struct{}{}
		}
	}()
	return ui
}

// wait prints prompt and waits for Enter.
func (ui *calibrationUI) wait(ctx context.Context, prompt string) error {
	fmt.Fprint(ui.out, prompt)
	select {
	case <-ui.enter:
		return nil
	case <-ui.eof:
		return errors.New("calibration: stdin closed before Enter")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pressed reports whether Enter was pressed (without waiting).
func (ui *calibrationUI) pressed() (bool, error) {
	select {
	case <-ui.enter:
		return true, nil
	case <-ui.eof:
		return false, errors.New("calibration: stdin closed before Enter")
	default:
		return false, nil
	}
}

// table draws the min/current/max table in place of the previous one.
func (ui *calibrationUI) table(names []string, lo, pos, hi []int) {
	var b strings.Builder
	if ui.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", ui.drawn) // back to the top of the previous table
	}
	fmt.Fprintf(&b, "%-15s | %6s | %6s | %6s\x1b[K\n", "NAME", "MIN", "POS", "MAX")
	for i, n := range names {
		fmt.Fprintf(&b, "%-15s | %6d | %6d | %6d\x1b[K\n", n, lo[i], pos[i], hi[i])
	}
	ui.drawn = len(names) + 1
	fmt.Fprint(ui.out, b.String())
}

// fullTurnJoint is the joint LeRobot gives the whole turn instead of a
// recorded range.
const fullTurnJoint = "wrist_roll"

// runCalibration is LeRobot's SO calibration (so_follower.py calibrate) on
// a configured arm with its torque off: centre, half-turn homings, record
// the ranges of motion, write them. With a simulated arm, a scripted hand
// does the moving.
func runCalibration(ctx context.Context, arm *feetechArm, ui *calibrationUI) (robot.Calibration, error) {
	d := arm.d
	if arm.sim != nil {
		arm.sim.SetHand(centreHand(d))
	}
	if err := ui.wait(ctx, fmt.Sprintf("Move %s to the middle of its range of motion and press Enter… ", d.Name)); err != nil {
		return nil, err
	}
	offsets, err := arm.bus.SetHalfTurnHomings(ctx)
	if err != nil {
		return nil, err
	}
	if arm.sim != nil {
		arm.sim.SetHand(sweepHand(d))
	}
	fmt.Fprintf(ui.out, "\nMove all joints except '%s' sequentially through their entire ranges of motion.\nRecording positions. Press Enter to stop…\n", fullTurnJoint)
	names := d.JointNames()
	n := len(names)
	pos := make([]int, n)
	if err := arm.bus.ReadPositions(ctx, pos); err != nil {
		return nil, err
	}
	lo, hi := append([]int(nil), pos...), append([]int(nil), pos...)
	for {
		if err := arm.bus.ReadPositions(ctx, pos); err != nil {
			return nil, err
		}
		for i := range pos {
			lo[i], hi[i] = min(lo[i], pos[i]), max(hi[i], pos[i])
		}
		ui.table(names, lo, pos, hi)
		done, err := ui.pressed()
		if err != nil {
			return nil, err
		}
		if done {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	var same []string
	cal := robot.Calibration{}
	for i, j := range d.Joints {
		c := robot.MotorCalibration{ID: j.ID, HomingOffset: offsets[j.Name], RangeMin: lo[i], RangeMax: hi[i]}
		if j.Name == fullTurnJoint {
			c.RangeMin, c.RangeMax = 0, feetech.ResolutionSTS3215-1
		} else if lo[i] == hi[i] {
			same = append(same, j.Name)
		}
		cal[j.Name] = c
	}
	if len(same) > 0 {
		return nil, fmt.Errorf("calibration: joints %s did not move (min = max): move every joint through its range", strings.Join(same, ", "))
	}
	if err := arm.bus.WriteCalibration(ctx, cal); err != nil {
		return nil, err
	}
	if arm.sim != nil {
		// The scripted hand brings the arm back to the middle.
		arm.sim.SetHand(centreHand(d))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return cal, nil
}

// centreHand holds a simulated arm at its home pose, as a person would.
func centreHand(d *robot.Description) *sim.Hand {
	return &sim.Hand{Target: func(_ time.Duration, j robot.JointIndex) (float64, bool) {
		if int(j) >= len(d.Joints) {
			return 0, false
		}
		return float64(d.Joints[j].Home), true
	}}
}

// sweepHand moves a simulated arm's joints through 90 % of their ranges,
// quickly, for the range recording.
func sweepHand(d *robot.Description) *sim.Hand { return triangleHand(d, 0.9, 1.2) }
