package dynamixel_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/anther-robotics/anther/drivers/dynamixel"
	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
)

// A Bus drives the joints of one description bus. Here the port is the
// simulator's in-process port; on a robot it is drivers/serialport.Open's.
func ExampleNewBus() {
	d, err := robot.Load("reachy-mini")
	if err != nil {
		panic(err)
	}
	vb, err := sim.NewVirtualBus(d, "main", sim.VirtualConfig{})
	if err != nil {
		panic(err)
	}
	cfg, err := dynamixel.ConfigFromDescription(d, "main", nil)
	if err != nil {
		panic(err)
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	bus := dynamixel.NewBus(vb.Port(nil), cfg)
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
	fmt.Printf("%d motors, body_rotation at %.3f rad, wire time per tick %v\n",
		len(cfg.Joints), s.Position[0], bus.CycleWireTime())
	// Output: 9 motors, body_rotation at 0.000 rad, wire time per tick 2.71ms
}
