package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/drivers/dynamixel"
	"github.com/anther-robotics/anther/drivers/feetech"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
)

// openSimHardware returns the simulated robot for d: the real host driver
// of each bus (dynamixel.Bus, feetech.Bus) over an in-process simulated
// bus per description bus, whose devices run the servo firmware
// (firmware/actuator, firmware/sts3215) on the joint dynamics, with the
// wire time of a real bus. A bus of another protocol makes it fall back to
// the simple in-process servo simulator.
func openSimHardware(d *robot.Description, o runOpts) (robot.Hardware, error) {
	for _, bs := range d.Buses {
		if bs.Protocol != "dynamixel2" && bs.Protocol != "feetech" {
			return sim.NewBus(d), nil
		}
	}
	period := time.Duration(float64(time.Second) / d.Rate)
	var buses robot.Buses
	for _, bs := range d.Buses {
		if bs.Protocol == "feetech" {
			cfg, err := feetech.ConfigFromDescription(d, bs.Name, nil)
			if err != nil {
				return nil, errors.Join(err, buses.Close())
			}
			if len(cfg.Joints) == 0 {
				continue
			}
			fb, err := sim.NewFeetechBus(d, bs.Name, sim.FeetechConfig{Baud: cfg.Baud})
			if err != nil {
				return nil, errors.Join(err, buses.Close())
			}
			cfg.Budget = period / 2
			buses = append(buses, feetech.NewBus(fb.Port(control.NewWallClock(o.spin)), cfg))
			continue
		}
		cfg, err := dynamixel.ConfigFromDescription(d, bs.Name, nil)
		if err != nil {
			return nil, errors.Join(err, buses.Close())
		}
		if len(cfg.Joints) == 0 {
			continue
		}
		vb, err := sim.NewVirtualBus(d, bs.Name, sim.VirtualConfig{Baud: cfg.Baud})
		if err != nil {
			return nil, errors.Join(err, buses.Close())
		}
		// One clock per port: a bus's port has one user at a time, but Halt
		// may use one bus while the loop uses another.
		cfg.Budget = period / 2
		buses = append(buses, dynamixel.NewBus(vb.Port(control.NewWallClock(o.spin)), cfg))
	}
	if len(buses) == 0 {
		return nil, fmt.Errorf("robot %s has no buses with joints", d.Name)
	}
	return buses, nil
}
