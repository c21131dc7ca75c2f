package main

import (
	"fmt"

	"github.com/anther-robotics/anther/robot"
)

// openRealHardware opens the description's real serial buses.
func openRealHardware(d *robot.Description, _ runOpts) (robot.Hardware, error) {
	return nil, fmt.Errorf("robot %s: real %s buses need the serial drivers; run with --sim", d.Name, d.Buses[0].Protocol)
}
