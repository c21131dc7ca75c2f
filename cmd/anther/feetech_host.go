package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/drivers/feetech"
	"github.com/anther-robotics/anther/drivers/serialport"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
)

// feetechArm is one arm on a single Feetech bus (an SO-101): the host's
// bus driver, and with --sim the simulated bus behind it.
type feetechArm struct {
	d   *robot.Description
	bus *feetech.Bus
	sim *sim.FeetechBus // nil on hardware
}

// armOpts say how to open a feetechArm.
type armOpts struct {
	port     string            // serial port (hardware; "" keeps the description's)
	simulate bool              // run on the in-process simulator instead
	cal      robot.Calibration // written to the servos by Configure (nil: use theirs)
	budget   time.Duration     // Read budget (0: the driver's default)
	spin     time.Duration     // the simulator port's clock spin
	log      *slog.Logger
}

// openFeetechArm opens d's only bus, which must speak Feetech: on the
// serial port, or on the in-process simulator (firmware, physics, wire
// time). Nothing is sent until Configure.
func openFeetechArm(d *robot.Description, o armOpts) (*feetechArm, error) {
	if len(d.Buses) != 1 || d.Buses[0].Protocol != "feetech" {
		return nil, fmt.Errorf("%s: want an arm with one feetech bus (an SO-101 profile)", d.Name)
	}
	bs := d.Buses[0]
	if o.port != "" {
		bs.Port = o.port
	}
	cfg, err := feetech.ConfigFromDescription(d, bs.Name, o.cal)
	if err != nil {
		return nil, err
	}
	cfg.Logger = o.log
	cfg.Budget = o.budget
	arm := &feetechArm{d: d}
	if o.simulate {
		fb, err := sim.NewFeetechBus(d, bs.Name, sim.FeetechConfig{Baud: cfg.Baud})
		if err != nil {
			return nil, err
		}
		arm.sim = fb
		arm.bus = feetech.NewBus(fb.Port(control.NewWallClock(o.spin)), cfg)
		return arm, nil
	}
	port, err := serialport.Open(bs.Port, bs.Baud)
	if err != nil {
		return nil, fmt.Errorf("%s: bus %s: %w", d.Name, bs.Name, err)
	}
	// A USB adapter with a high latency timer needs longer timeouts.
	if lt, _, ok := serialport.Latency(bs.Port); ok && lt > 0 {
		cfg.Latency = max(2*time.Millisecond, 2*lt+time.Millisecond)
	}
	arm.bus = feetech.NewBus(port, cfg)
	return arm, nil
}

// lerobotPlace is where LeRobot files a device's calibration: the kind of
// device ("robots" or "teleoperators") and its name there.
func lerobotPlace(d *robot.Description) (kind, name string) {
	switch d.Name {
	case "so101-follower":
		return "robots", "so_follower"
	case "so101-leader":
		return "teleoperators", "so_leader"
	case "koch-follower":
		return "robots", "koch_follower"
	}
	if strings.Contains(d.Name, "leader") {
		return "teleoperators", strings.ReplaceAll(d.Name, "-", "_")
	}
	return "robots", strings.ReplaceAll(d.Name, "-", "_")
}

// calibrationDir is LeRobot's calibration root: $HF_LEROBOT_CALIBRATION,
// else $HF_LEROBOT_HOME/calibration, else $HF_HOME/lerobot/calibration,
// else ~/.cache/huggingface/lerobot/calibration.
func calibrationDir() (string, error) {
	if p := os.Getenv("HF_LEROBOT_CALIBRATION"); p != "" {
		return p, nil
	}
	if p := os.Getenv("HF_LEROBOT_HOME"); p != "" {
		return filepath.Join(p, "calibration"), nil
	}
	hf := os.Getenv("HF_HOME")
	if hf == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("calibration directory: %w", err)
			}
			cache = filepath.Join(home, ".cache")
		}
		hf = filepath.Join(cache, "huggingface")
	}
	return filepath.Join(hf, "lerobot", "calibration"), nil
}

// calibrationPath is the file LeRobot reads the calibration of the device
// d with the given id from, e.g.
// ~/.cache/huggingface/lerobot/calibration/robots/so_follower/ID.json.
func calibrationPath(d *robot.Description, id string) (string, error) {
	dir, err := calibrationDir()
	if err != nil {
		return "", err
	}
	kind, name := lerobotPlace(d)
	return filepath.Join(dir, kind, name, id+".json"), nil
}

// checkCalibration checks that cal covers every joint of d with its ID.
func checkCalibration(d *robot.Description, cal robot.Calibration, source string) error {
	var errs []error
	for _, j := range d.Joints {
		c, ok := cal[j.Name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("no entry for joint %s", j.Name))
		case c.ID != j.ID:
			errs = append(errs, fmt.Errorf("%s: id %d, the %s profile says %d", j.Name, c.ID, d.Name, j.ID))
		}
	}
	for name := range cal {
		if _, ok := d.Joint(name); !ok {
			errs = append(errs, fmt.Errorf("%s is not a joint of %s", name, d.Name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("calibration %s: %w", source, err)
	}
	return nil
}

// triangleHand is a simulated hand that moves every joint of d back and
// forth over frac of its limits, joint i with a period of base·(1 + i/4)
// seconds, so a simulated arm moves by itself. It starts at the joints'
// homes and ramps in over the first second.
func triangleHand(d *robot.Description, frac, base float64) *sim.Hand {
	type wave struct{ lo, hi, home, period, phase float64 }
	waves := make([]wave, len(d.Joints))
	for i, j := range d.Joints {
		mid := float64(j.Min+j.Max) / 2
		half := float64(j.Max-j.Min) / 2 * frac
		waves[i] = wave{lo: mid - half, hi: mid + half, home: float64(j.Home), period: base * (1 + float64(i)/4), phase: 0.17 * float64(i)}
	}
	start := time.Duration(-1) // bus time of the first call
	return &sim.Hand{Target: func(t time.Duration, j robot.JointIndex) (float64, bool) {
		if int(j) >= len(waves) {
			return 0, false
		}
		if start < 0 {
			start = t
		}
		w := waves[j]
		x := (t-start).Seconds()/w.period + w.phase
		x -= float64(int64(x))
		v := w.lo + (w.hi-w.lo)*2*x
		if x >= 0.5 {
			v = w.hi - (w.hi-w.lo)*2*(x-0.5)
		}
		ramp := min(1, (t - start).Seconds())
		return w.home + (v-w.home)*max(0, ramp), true
	}}
}
