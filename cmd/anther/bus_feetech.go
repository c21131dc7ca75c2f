package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/anther-robotics/anther/drivers/feetech"
	"github.com/anther-robotics/anther/drivers/serialport"
)

// The `anther bus` commands for --protocol feetech: scan, read, write,
// set-id, set-baud and torque, on a feetech.Bus with no joints.

// feetechBauds resolves --baud for Feetech servos: "all" (or nothing, for
// scan) is every STS rate, slowest first.
func (o *busOpts) feetechBauds(allowAll bool) ([]int, error) {
	switch o.baud {
	case "":
		if allowAll {
			return feetech.BaudRates(feetech.BaudTableSDK), nil
		}
		return []int{1000000}, nil
	case "all":
		if !allowAll {
			return nil, errors.New("--baud all is only for scan")
		}
		return feetech.BaudRates(feetech.BaudTableSDK), nil
	}
	n, err := strconv.Atoi(o.baud)
	if err != nil || n <= 0 {
		return nil, fmt.Errorf("--baud %q: want a rate in bits per second or all", o.baud)
	}
	return []int{n}, nil
}

// openFeetech opens the port at baud with a Feetech bus with no joints,
// for management calls.
func (a *app) openFeetech(o *busOpts, baud int) (*feetech.Bus, error) {
	if o.port == "" {
		return nil, errors.New("bus: --port is required (`anther bus ports` lists candidates)")
	}
	port, err := serialport.Open(o.port, baud)
	if err != nil {
		return nil, err
	}
	cfg := feetech.BusConfig{Name: o.port, Baud: baud, Logger: a.logger(), Latency: portLatency(o.port)}
	return feetech.NewBus(port, cfg), nil
}

// withFeetech opens the Feetech bus at the --baud rate and runs fn.
func (a *app) withFeetech(o *busOpts, fn func(b *feetech.Bus) error) error {
	bauds, err := o.feetechBauds(false)
	if err != nil {
		return err
	}
	b, err := a.openFeetech(o, bauds[0])
	if err != nil {
		return err
	}
	defer b.Close()
	return fn(b)
}

// feetechScan is `anther bus scan --protocol feetech`.
func (a *app) feetechScan(ctx context.Context, o *busOpts, idList string, window time.Duration) error {
	bauds, err := o.feetechBauds(true)
	if err != nil {
		return err
	}
	var ids []byte
	if idList != "" {
		if ids, err = parseIDs(idList); err != nil {
			return err
		}
	}
	b, err := a.openFeetech(o, bauds[len(bauds)-1])
	if err != nil {
		return err
	}
	defer b.Close()
	devs, err := b.Scan(ctx, feetech.ScanOptions{Bauds: bauds, IDs: ids, Window: window})
	if err != nil {
		return err
	}
	if o.asJSON {
		if devs == nil {
			devs = []feetech.Device{}
		}
		return a.printJSON(devs)
	}
	if len(devs) == 0 {
		fmt.Fprintf(a.stdout, "no servos found on %s at %v baud\n", o.port, bauds)
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tMODEL\tNUMBER\tFIRMWARE\tBAUD")
	for _, d := range devs {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%d\n", d.ID, d.ModelName, d.Model, d.Firmware, d.Baud)
	}
	return tw.Flush()
}

// feetechRegister checks --addr and --size for an STS control table (one
// byte addresses, 1- or 2-byte registers).
func feetechRegister(addr uint16, size int) (byte, error) {
	if addr > 0xFF {
		return 0, fmt.Errorf("--addr %d: Feetech addresses are 0..255", addr)
	}
	if size != 1 && size != 2 {
		return 0, fmt.Errorf("--size %d: Feetech registers are 1 or 2 bytes", size)
	}
	return byte(addr), nil
}

// signMagnitudeBit returns the sign bit of the STS3215 register at addr
// (Homing_Offset bit 11, positions and velocities bit 15, Present_Load bit
// 10), or 16 when it is unsigned.
func signMagnitudeBit(addr byte) uint {
	for _, r := range []feetech.Register{feetech.HomingOffset, feetech.GoalPosition, feetech.GoalVelocity,
		feetech.PresentPosition, feetech.PresentVelocity, feetech.PresentLoad, feetech.PresentCurrent} {
		if r.Addr() == addr {
			bit, _ := r.SignBit()
			return bit
		}
	}
	return 16
}

// feetechRead is `anther bus read --protocol feetech`. --signed decodes
// the sign-magnitude registers (Homing_Offset, positions, velocities,
// load, current) as the servo stores them.
func (a *app) feetechRead(ctx context.Context, o *busOpts, id byte, addr uint16, size int, signed bool) error {
	ad, err := feetechRegister(addr, size)
	if err != nil {
		return err
	}
	return a.withFeetech(o, func(b *feetech.Bus) error {
		v, err := b.ReadRegister(ctx, id, ad, size)
		if err != nil {
			return err
		}
		out := v
		if signed && size == 2 {
			out = feetech.DecodeSignMagnitude(uint16(v), signMagnitudeBit(ad))
		}
		if o.asJSON {
			return a.printJSON(map[string]any{"id": id, "addr": ad, "size": size, "value": out})
		}
		fmt.Fprintln(a.stdout, out)
		return nil
	})
}

// feetechWrite is `anther bus write --protocol feetech`: a negative VALUE
// is written sign-magnitude for the registers that use it. EEPROM
// (addresses below 40) is saved only with Lock (55) cleared.
func (a *app) feetechWrite(ctx context.Context, o *busOpts, id byte, addr uint16, size int, v int64) error {
	ad, err := feetechRegister(addr, size)
	if err != nil {
		return err
	}
	raw := int(v)
	if v < 0 {
		bit := signMagnitudeBit(ad)
		if size != 2 || bit >= 16 {
			return fmt.Errorf("VALUE %d: register %d is unsigned", v, ad)
		}
		raw = int(feetech.EncodeSignMagnitude(int(v), bit))
	}
	if raw > 1<<(8*size)-1 {
		return fmt.Errorf("VALUE %d does not fit %d byte(s)", v, size)
	}
	return a.withFeetech(o, func(b *feetech.Bus) error {
		if err := b.WriteRegister(ctx, id, ad, size, raw); err != nil {
			return err
		}
		if o.asJSON {
			return a.printJSON(map[string]any{"id": id, "addr": ad, "size": size, "value": v})
		}
		fmt.Fprintf(a.stdout, "id %d: wrote %d at %d (%d byte(s))\n", id, v, ad, size)
		return nil
	})
}

// feetechSetID is `anther bus set-id --protocol feetech`.
func (a *app) feetechSetID(ctx context.Context, o *busOpts, from, to byte) error {
	return a.withFeetech(o, func(b *feetech.Bus) error {
		if err := b.SetID(ctx, from, to); err != nil {
			return err
		}
		if o.asJSON {
			return a.printJSON(map[string]any{"id": from, "new_id": to})
		}
		fmt.Fprintf(a.stdout, "id %d is now id %d\n", from, to)
		return nil
	})
}

// feetechSetBaud is `anther bus set-baud --protocol feetech`.
func (a *app) feetechSetBaud(ctx context.Context, o *busOpts, id byte, baud int) error {
	if _, ok := feetech.BaudTableSDK.Value(baud); !ok {
		return fmt.Errorf("--new-baud %d: use one of %v", baud, feetech.BaudRates(feetech.BaudTableSDK))
	}
	return a.withFeetech(o, func(b *feetech.Bus) error {
		if err := b.SetBaud(ctx, id, baud); err != nil {
			return err
		}
		if o.asJSON {
			return a.printJSON(map[string]any{"id": id, "new_baud": baud})
		}
		fmt.Fprintf(a.stdout, "id %d now runs at %d baud\n", id, baud)
		return nil
	})
}

// feetechTorque is `anther bus torque --protocol feetech`.
func (a *app) feetechTorque(ctx context.Context, o *busOpts, id byte, on bool) error {
	return a.withFeetech(o, func(b *feetech.Bus) error {
		if err := b.Torque(ctx, id, on); err != nil {
			return err
		}
		state := "off"
		if on {
			state = "on"
		}
		if o.asJSON {
			return a.printJSON(map[string]any{"id": id, "torque": on})
		}
		fmt.Fprintf(a.stdout, "id %d torque %s\n", id, state)
		return nil
	})
}
