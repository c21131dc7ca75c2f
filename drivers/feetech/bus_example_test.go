package feetech_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/drivers/feetech"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
)

// A Bus drives the six servos of an SO-101 arm. Here the port is the
// simulator's in-process port; on a robot it is drivers/serialport.Open's.
func ExampleNewBus() {
	d, err := robot.Load("so101-follower")
	if err != nil {
		panic(err)
	}
	fb, err := sim.NewFeetechBus(d, "arm", sim.FeetechConfig{})
	if err != nil {
		panic(err)
	}
	cfg, err := feetech.ConfigFromDescription(d, "arm", nil)
	if err != nil {
		panic(err)
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.Latency = 20 * time.Millisecond
	bus := feetech.NewBus(fb.Port(control.NewWallClock(0)), cfg)
	defer bus.Close()
	if err := bus.Configure(context.Background()); err != nil {
		panic(err)
	}

	// One tick: read every joint, then command them.
	var s robot.State
	var c robot.Command
	if err := bus.Read(time.Now(), &s); err != nil {
		panic(err)
	}
	c.Torque = true
	c.Position = s.Position
	if err := bus.Write(time.Now(), &c); err != nil {
		panic(err)
	}
	fmt.Printf("%d servos, elbow_flex at %.2f rad, range %+v, wire time per tick %v\n",
		len(cfg.Joints), s.Position[2], bus.Calibration()["elbow_flex"], bus.CycleWireTime())
	// Output: 6 servos, elbow_flex at 0.00 rad, range {ID:3 DriveMode:0 HomingOffset:0 RangeMin:0 RangeMax:4095}, wire time per tick 1.24ms
}
