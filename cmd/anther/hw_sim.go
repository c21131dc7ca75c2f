package main

import (
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
)

// openSimHardware returns the simulated robot for d.
func openSimHardware(d *robot.Description, _ runOpts) (robot.Hardware, error) {
	return sim.NewBus(d), nil
}
