package main

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/spf13/cobra"

	"github.com/anther-robotics/anther/robot"
	"github.com/anther-robotics/anther/sim"
)

func (a *app) simCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "sim", Short: "run the simulator on its own, for hosts that open serial ports"}
	cmd.AddCommand(a.simServeCmd())
	return cmd
}

func (a *app) simServeCmd() *cobra.Command {
	var (
		profile string
		baud    int
	)
	cmd := &cobra.Command{
		Use:   "serve --robot NAME|FILE [--baud N]",
		Short: "serve a robot's simulated motor buses on pseudo-terminals",
		Long: `serve simulates every motor bus of the robot on its own pseudo-terminal: the
motors' firmware (control table, every Protocol 2.0 instruction, position and
current loops, thermal model) drives the joint dynamics on the wall clock, and
replies take the time they take on a real bus. It prints one line per bus,

  bus NAME: /dev/pts/N

then serves until SIGINT or SIGTERM. Open the pty like a USB serial adapter,
e.g. anther run --robot NAME --port /dev/pts/N (never set DTR/RTS on a pty).
Dynamixel Protocol 2.0 buses (X-series firmware) and Feetech STS buses
(STS3215 firmware, e.g. the SO-101 arms) are served.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := robot.Load(profile)
			if err != nil {
				return err
			}
			return a.simServe(cmd.Context(), d, baud)
		},
	}
	f := cmd.Flags()
	f.StringVar(&profile, "robot", "", "built-in profile name or description file")
	f.IntVar(&baud, "baud", 0, "line rate of every bus, bits/s (default: the description's)")
	_ = cmd.MarkFlagRequired("robot")
	return cmd
}

// simServe serves d's buses on ptys until ctx is done.
func (a *app) simServe(ctx context.Context, d *robot.Description, baud int) error {
	log := a.logger()
	var ptys []*sim.Pty
	closeAll := func() {
		for _, p := range ptys {
			p.Close()
		}
	}
	for _, bs := range d.Buses {
		vb, err := sim.NewHosted(d, bs.Name, baud)
		if err != nil {
			closeAll()
			return err
		}
		p, err := sim.NewPty(vb, sim.PtyConfig{})
		if err != nil {
			closeAll()
			return err
		}
		ptys = append(ptys, p)
		fmt.Fprintf(a.stdout, "bus %s: %s\n", bs.Name, p.Path())
		log.Info("serving bus", "bus", bs.Name, "pty", p.Path(), "baud", vb.Baud(), "motors", len(vb.IDs()))
	}
	if len(ptys) == 0 {
		return fmt.Errorf("robot %s has no buses", d.Name)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The description's cameras, simulated and served over RTSP.
	cams, stopCams, err := startCameras(ctx, d, true, nil, log)
	if err != nil {
		closeAll()
		return err
	}
	defer stopCams()
	printCameraURLs(a.stdout, cams)
	errs := make([]error, len(ptys))
	var wg sync.WaitGroup
	for i, p := range ptys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.Run(ctx)
			cancel() // one bus failing stops them all
		}()
	}
	wg.Wait()
	closeAll()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	log.Info("simulator stopped")
	return nil
}
