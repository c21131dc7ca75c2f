package main

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.bug.st/serial"

	"github.com/anther-robotics/anther/drivers/dynamixel"
	"github.com/anther-robotics/anther/drivers/feetech"
	"github.com/anther-robotics/anther/drivers/serialport"
	"github.com/anther-robotics/anther/robot"
)

// openRealHardware opens the description's real serial buses, one
// robot.Hardware per bus (dynamixel.Bus or feetech.Bus), joined as
// robot.Buses. The caller has already put --port into d.Buses[0].Port.
// Nothing is sent until Configure.
func openRealHardware(d *robot.Description, _ runOpts) (robot.Hardware, error) {
	log := slog.Default()
	var buses robot.Buses
	fail := func(err error) (robot.Hardware, error) {
		return nil, errors.Join(err, buses.Close())
	}
	period := time.Duration(float64(time.Second) / d.Rate)
	// Reads (with their retries) share 70% of the tick, leaving the rest
	// to the writes and the loop itself.
	budget := period * 7 / 10 / time.Duration(max(1, len(d.Buses)))
	for _, bs := range d.Buses {
		if len(d.BusJoints(bs.Name)) == 0 {
			continue
		}
		var bus interface {
			robot.Hardware
			CycleWireTime() time.Duration
			ReadTimeout() time.Duration
		}
		var port serial.Port
		var err error
		switch bs.Protocol {
		case "dynamixel2":
			cfg, cerr := dynamixel.ConfigFromDescription(d, bs.Name, nil)
			if cerr != nil {
				return fail(cerr)
			}
			if port, err = serialport.Open(bs.Port, bs.Baud); err != nil {
				return fail(fmt.Errorf("bus %s: %w", bs.Name, err))
			}
			cfg.Logger, cfg.Latency, cfg.Budget = log, portLatency(bs.Port), budget
			bus = dynamixel.NewBus(port, cfg)
		case "feetech":
			cfg, cerr := feetech.ConfigFromDescription(d, bs.Name, nil)
			if cerr != nil {
				return fail(cerr)
			}
			if port, err = serialport.Open(bs.Port, bs.Baud); err != nil {
				return fail(fmt.Errorf("bus %s: %w", bs.Name, err))
			}
			cfg.Logger, cfg.Latency, cfg.Budget = log, portLatency(bs.Port), budget
			bus = feetech.NewBus(port, cfg)
		default:
			return fail(fmt.Errorf("bus %s: unknown protocol %q", bs.Name, bs.Protocol))
		}
		if w := bus.CycleWireTime(); w > budget {
			log.Warn("the bus's wire time exceeds its share of the loop period: lower the rate or raise the baud",
				"bus", bs.Name, "wire_time", w, "budget", budget, "period", period)
		}
		if to := bus.ReadTimeout(); to > budget {
			log.Warn("one read attempt may take longer than the read budget: failed reads will not be retried",
				"bus", bs.Name, "read_timeout", to, "budget", budget)
		}
		buses = append(buses, bus)
	}
	if len(buses) == 0 {
		return nil, fmt.Errorf("robot %s has no buses with joints", d.Name)
	}
	return buses, nil
}

// portLatency is the host-side allowance for replies on the port at path:
// the drivers' default (0), or twice the USB latency timer plus 1 ms when
// an adapter's timer is above 0.5 ms (FTDI's default is 16 ms).
func portLatency(path string) time.Duration {
	if lt, _, ok := serialport.Latency(path); ok && lt > 500*time.Microsecond {
		return max(2*time.Millisecond, 2*lt+time.Millisecond)
	}
	return 0
}
