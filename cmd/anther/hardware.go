package main

import (
	"github.com/anther-robotics/anther/robot"
)

// openHardware builds the robot's joints: the simulator with --sim, or its
// real buses.
func openHardware(d *robot.Description, o runOpts) (robot.Hardware, error) {
	if o.sim {
		return openSimHardware(d, o)
	}
	return openRealHardware(d, o)
}
