package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/anther-robotics/anther/drivers/dynamixel"
	"github.com/anther-robotics/anther/drivers/serialport"
	"github.com/anther-robotics/anther/robot"
)

// busOpts are the flags every `anther bus` command shares.
type busOpts struct {
	port     string
	baud     string // "all" (scan only) or bits per second
	protocol string
	asJSON   bool
}

func (a *app) busCmd() *cobra.Command {
	var o busOpts
	cmd := &cobra.Command{
		Use:   "bus",
		Short: "find, inspect and set up the motors on a serial bus",
		Long: `bus talks to the motors on one serial port directly (no daemon): scan for
them, read and write control-table registers, change IDs and baud rates,
reboot, switch torque, and set up new Reachy Mini motors one at a time.
Stop the daemon first: it holds the port.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.port, "port", "", "serial port, e.g. /dev/ttyACM0 or a simulator's /dev/pts/N")
	pf.StringVar(&o.baud, "baud", "", "baud rate (default 1000000; scan: all rates)")
	pf.StringVar(&o.protocol, "protocol", "dynamixel2", "bus protocol: dynamixel2 or feetech (feetech: scan, read, write, set-id, set-baud, torque)")
	pf.BoolVar(&o.asJSON, "json", false, "print JSON")
	cmd.AddCommand(a.busPortsCmd(&o), a.busScanCmd(&o), a.busReadCmd(&o), a.busWriteCmd(&o),
		a.busSetIDCmd(&o), a.busSetBaudCmd(&o), a.busRebootCmd(&o), a.busTorqueCmd(&o),
		a.busSetupReachyMiniCmd(&o))
	return cmd
}

// bauds resolves the --baud flag: "all" gives every X-series rate.
func (o *busOpts) bauds(allowAll bool) ([]int, error) {
	switch o.baud {
	case "":
		if allowAll {
			return dynamixel.BaudRates(), nil
		}
		return []int{1000000}, nil
	case "all":
		if !allowAll {
			return nil, errors.New("--baud all is only for scan")
		}
		return dynamixel.BaudRates(), nil
	}
	n, err := strconv.Atoi(o.baud)
	if err != nil || n <= 0 {
		return nil, fmt.Errorf("--baud %q: want a rate in bits per second or all", o.baud)
	}
	return []int{n}, nil
}

// openBus opens the port at baud and returns a Bus with no joints on it,
// for management calls; closing the Bus closes the port.
func (a *app) openBus(o *busOpts, baud int) (*dynamixel.Bus, error) {
	switch o.protocol {
	case "dynamixel2":
	case "feetech":
		return nil, errors.New("bus: this command is for dynamixel2 buses (--protocol feetech has scan, read, write, set-id, set-baud and torque)")
	default:
		return nil, fmt.Errorf("bus: unknown protocol %q (use dynamixel2)", o.protocol)
	}
	if o.port == "" {
		return nil, errors.New("bus: --port is required (`anther bus ports` lists candidates)")
	}
	port, err := serialport.Open(o.port, baud)
	if err != nil {
		return nil, err
	}
	cfg := dynamixel.BusConfig{Name: o.port, Baud: baud, Logger: a.logger(), Latency: portLatency(o.port)}
	return dynamixel.NewBus(port, cfg), nil
}

// withBus opens the bus at the --baud rate and runs fn.
func (a *app) withBus(o *busOpts, fn func(b *dynamixel.Bus) error) error {
	bauds, err := o.bauds(false)
	if err != nil {
		return err
	}
	b, err := a.openBus(o, bauds[0])
	if err != nil {
		return err
	}
	defer b.Close()
	return fn(b)
}

func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// idFlag parses a motor ID.
func idFlag(name string, v int) (byte, error) {
	if v < 0 || v > int(dynamixel.MaxID) {
		return 0, fmt.Errorf("--%s %d is outside 0..%d", name, v, dynamixel.MaxID)
	}
	return byte(v), nil
}

// parseIDs parses "10-18,1" into IDs.
func parseIDs(s string) ([]byte, error) {
	var ids []byte
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(hi)
		}
		if err != nil || a < 0 || b > int(dynamixel.MaxID) || a > b {
			return nil, fmt.Errorf("--ids: bad ID or range %q (IDs are 0..%d)", part, dynamixel.MaxID)
		}
		for id := a; id <= b; id++ {
			ids = append(ids, byte(id))
		}
	}
	return ids, nil
}

func (a *app) busPortsCmd(o *busOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "ports",
		Short: "list the serial ports that may hold a motor bus",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ports, err := serialport.List()
			if err != nil {
				return err
			}
			if o.asJSON {
				return a.printJSON(ports)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PORT\tUSB\tVID:PID\tPRODUCT\tHINT")
			for _, p := range ports {
				id := ""
				if p.VID != "" {
					id = p.VID + ":" + p.PID
				}
				fmt.Fprintf(tw, "%s\t%v\t%s\t%s\t%s\n", p.Name, p.USB, id, p.Product, p.Hint)
			}
			return tw.Flush()
		},
	}
}

func (a *app) busScanCmd(o *busOpts) *cobra.Command {
	var (
		idList string
		window time.Duration
	)
	cmd := &cobra.Command{
		Use:   "scan --port P [--baud all|N] [--ids 1-20] [--json]",
		Short: "find the motors on a bus (broadcast PING at each baud rate)",
		Long: `scan pings every motor on the port at each baud rate (--baud all, the default,
tries 9600 … 4.5 Mbps; each rate takes about a second: every ID gets its turn
to answer a broadcast PING). --ids pings only the IDs listed, one by one,
which is quicker for a few.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.protocol == "feetech" {
				return a.feetechScan(cmd.Context(), o, idList, window)
			}
			bauds, err := o.bauds(true)
			if err != nil {
				return err
			}
			var ids []byte
			if idList != "" {
				if ids, err = parseIDs(idList); err != nil {
					return err
				}
			}
			b, err := a.openBus(o, bauds[0])
			if err != nil {
				return err
			}
			defer b.Close()
			devs, err := b.Scan(cmd.Context(), dynamixel.ScanOptions{Bauds: bauds, IDs: ids, Window: window})
			if err != nil {
				return err
			}
			if o.asJSON {
				if devs == nil {
					devs = []dynamixel.Device{}
				}
				return a.printJSON(devs)
			}
			if len(devs) == 0 {
				fmt.Fprintf(a.stdout, "no motors found on %s at %v baud\n", o.port, bauds)
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tMODEL\tNUMBER\tFIRMWARE\tBAUD")
			for _, d := range devs {
				fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\n", d.ID, d.ModelName, d.Model, d.Firmware, d.Baud)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&idList, "ids", "", "ping only these IDs, e.g. 1,10-18")
	cmd.Flags().DurationVar(&window, "window", 0, "how long to collect broadcast PING replies per rate (default: long enough for every ID)")
	return cmd
}

// registerFlags are the --id/--addr/--size flags of read and write.
type registerFlags struct {
	id, addr, size int
	signed         bool
}

func (r *registerFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.IntVar(&r.id, "id", -1, "motor ID")
	f.IntVar(&r.addr, "addr", -1, "control-table address")
	f.IntVar(&r.size, "size", 0, "register size in bytes: 1, 2 or 4")
	_ = cmd.MarkFlagRequired("id")
	_ = cmd.MarkFlagRequired("addr")
	_ = cmd.MarkFlagRequired("size")
}

func (r *registerFlags) check() (byte, uint16, error) {
	id, err := idFlag("id", r.id)
	if err != nil {
		return 0, 0, err
	}
	if r.addr < 0 || r.addr > 0xFFFF {
		return 0, 0, fmt.Errorf("--addr %d is outside 0..65535", r.addr)
	}
	if r.size != 1 && r.size != 2 && r.size != 4 {
		return 0, 0, fmt.Errorf("--size %d: use 1, 2 or 4", r.size)
	}
	return id, uint16(r.addr), nil
}

// signExtend reads v as a size-byte two's-complement number.
func signExtend(v uint32, size int) int64 {
	shift := 64 - 8*size
	return int64(v) << shift >> shift
}

func (a *app) busReadCmd(o *busOpts) *cobra.Command {
	var r registerFlags
	cmd := &cobra.Command{
		Use:   "read --port P [--baud N] --id N --addr A --size S [--signed]",
		Short: "read a control-table register (printed in decimal)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, addr, err := r.check()
			if err != nil {
				return err
			}
			if o.protocol == "feetech" {
				return a.feetechRead(cmd.Context(), o, id, addr, r.size, r.signed)
			}
			return a.withBus(o, func(b *dynamixel.Bus) error {
				v, err := b.ReadRegister(cmd.Context(), id, addr, r.size)
				if err != nil {
					return err
				}
				out := int64(v)
				if r.signed {
					out = signExtend(v, r.size)
				}
				if o.asJSON {
					return a.printJSON(map[string]any{"id": id, "addr": addr, "size": r.size, "value": out})
				}
				fmt.Fprintln(a.stdout, out)
				return nil
			})
		},
	}
	r.add(cmd)
	cmd.Flags().BoolVar(&r.signed, "signed", false, "print the value as a signed (two's-complement) number")
	return cmd
}

func (a *app) busWriteCmd(o *busOpts) *cobra.Command {
	var r registerFlags
	cmd := &cobra.Command{
		Use:   "write --port P [--baud N] --id N --addr A --size S VALUE",
		Short: "write a control-table register (EEPROM, below 64, needs torque off)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, addr, err := r.check()
			if err != nil {
				return err
			}
			v, err := strconv.ParseInt(args[0], 0, 64)
			lo, hi := -(int64(1) << (8*r.size - 1)), int64(1)<<(8*r.size)-1
			if err != nil || v < lo || v > hi {
				return fmt.Errorf("VALUE %q: want an integer that fits %d byte(s) (%d..%d)", args[0], r.size, lo, hi)
			}
			if o.protocol == "feetech" {
				return a.feetechWrite(cmd.Context(), o, id, addr, r.size, v)
			}
			return a.withBus(o, func(b *dynamixel.Bus) error {
				if err := b.WriteRegister(cmd.Context(), id, addr, r.size, uint32(v)); err != nil {
					return err
				}
				if o.asJSON {
					return a.printJSON(map[string]any{"id": id, "addr": addr, "size": r.size, "value": v})
				}
				fmt.Fprintf(a.stdout, "id %d: wrote %d at %d (%d byte(s))\n", id, v, addr, r.size)
				return nil
			})
		},
	}
	r.add(cmd)
	return cmd
}

func (a *app) busSetIDCmd(o *busOpts) *cobra.Command {
	var id, newID int
	cmd := &cobra.Command{
		Use:   "set-id --port P [--baud N] --id N --new-id M",
		Short: "change a motor's ID (turns its torque off)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			from, err := idFlag("id", id)
			if err != nil {
				return err
			}
			to, err := idFlag("new-id", newID)
			if err != nil {
				return err
			}
			if o.protocol == "feetech" {
				return a.feetechSetID(cmd.Context(), o, from, to)
			}
			return a.withBus(o, func(b *dynamixel.Bus) error {
				if err := b.SetID(cmd.Context(), from, to); err != nil {
					return err
				}
				if o.asJSON {
					return a.printJSON(map[string]any{"id": from, "new_id": to})
				}
				fmt.Fprintf(a.stdout, "id %d is now id %d\n", from, to)
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&id, "id", -1, "the motor's current ID")
	cmd.Flags().IntVar(&newID, "new-id", -1, "the ID to give it")
	_ = cmd.MarkFlagRequired("id")
	_ = cmd.MarkFlagRequired("new-id")
	return cmd
}

func (a *app) busSetBaudCmd(o *busOpts) *cobra.Command {
	var id, newBaud int
	cmd := &cobra.Command{
		Use:   "set-baud --port P [--baud N] --id N --new-baud B",
		Short: "change a motor's baud rate (turns its torque off); checks it answers at the new rate",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			mid, err := idFlag("id", id)
			if err != nil {
				return err
			}
			if o.protocol == "feetech" {
				return a.feetechSetBaud(cmd.Context(), o, mid, newBaud)
			}
			if _, ok := dynamixel.BaudCode(newBaud); !ok {
				return fmt.Errorf("--new-baud %d: use one of %v", newBaud, dynamixel.BaudRates())
			}
			return a.withBus(o, func(b *dynamixel.Bus) error {
				if err := b.SetBaud(cmd.Context(), mid, newBaud); err != nil {
					return err
				}
				if o.asJSON {
					return a.printJSON(map[string]any{"id": mid, "new_baud": newBaud})
				}
				fmt.Fprintf(a.stdout, "id %d now runs at %d baud\n", mid, newBaud)
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&id, "id", -1, "motor ID")
	cmd.Flags().IntVar(&newBaud, "new-baud", 0, "the baud rate to give it")
	_ = cmd.MarkFlagRequired("id")
	_ = cmd.MarkFlagRequired("new-baud")
	return cmd
}

func (a *app) busRebootCmd(o *busOpts) *cobra.Command {
	var id int
	cmd := &cobra.Command{
		Use:   "reboot --port P [--baud N] --id N",
		Short: "reboot a motor (clears a hardware error; torque comes back off)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			mid, err := idFlag("id", id)
			if err != nil {
				return err
			}
			return a.withBus(o, func(b *dynamixel.Bus) error {
				if err := b.Reboot(cmd.Context(), mid); err != nil {
					return err
				}
				if o.asJSON {
					return a.printJSON(map[string]any{"id": mid, "rebooted": true})
				}
				fmt.Fprintf(a.stdout, "id %d rebooted\n", mid)
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&id, "id", -1, "motor ID")
	_ = cmd.MarkFlagRequired("id")
	return cmd
}

func (a *app) busTorqueCmd(o *busOpts) *cobra.Command {
	var id int
	cmd := &cobra.Command{
		Use:       "torque on|off --port P [--baud N] --id N",
		Short:     "switch a motor's torque on or off (--id 254: every motor, no reply)",
		Args:      cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		ValidArgs: []string{"on", "off"},
		RunE: func(cmd *cobra.Command, args []string) error {
			if id < 0 || id > int(dynamixel.BroadcastID) {
				return fmt.Errorf("--id %d is outside 0..%d", id, dynamixel.BroadcastID)
			}
			on := args[0] == "on"
			if o.protocol == "feetech" {
				return a.feetechTorque(cmd.Context(), o, byte(id), on)
			}
			return a.withBus(o, func(b *dynamixel.Bus) error {
				if err := b.Torque(cmd.Context(), byte(id), on); err != nil {
					return err
				}
				if o.asJSON {
					return a.printJSON(map[string]any{"id": id, "torque": on})
				}
				fmt.Fprintf(a.stdout, "id %d torque %s\n", id, args[0])
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&id, "id", -1, "motor ID")
	_ = cmd.MarkFlagRequired("id")
	return cmd
}

func (a *app) busSetupReachyMiniCmd(o *busOpts) *cobra.Command {
	var (
		joint    string
		anyModel bool
		window   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "setup-reachy-mini --port P [--joint NAME]",
		Short: "give new Reachy Mini motors their IDs (10–18) and 1 Mbps, one motor at a time",
		Long: `setup-reachy-mini prepares Reachy Mini motors as Pollen's setup_motor.py does:
connect ONE motor to the adapter, and it finds it (factory ID 1 at 57600 baud,
or anywhere else), checks its model, and writes return delay 0, the joint's
ID and 1 Mbps (baud code 3). Without --joint it walks through the nine joints,
asking you to connect each motor in turn and press Enter (type "s" to skip).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := robot.Load("reachy-mini")
			if err != nil {
				return err
			}
			bauds, err := o.bauds(false)
			if err != nil {
				return err
			}
			target := d.Buses[0].Baud
			if o.baud != "" {
				target = bauds[0]
			}
			var joints []robot.JointSpec
			for _, j := range d.Joints {
				if joint == "" || j.Name == joint {
					joints = append(joints, j)
				}
			}
			if len(joints) == 0 {
				return fmt.Errorf("reachy-mini has no joint %q (joints: %s)", joint, strings.Join(d.JointNames(), ", "))
			}
			b, err := a.openBus(o, 57600)
			if err != nil {
				return err
			}
			defer b.Close()
			in := bufio.NewReader(cmd.InOrStdin())
			type result struct {
				Joint   string           `json:"joint"`
				From    dynamixel.Device `json:"from"`
				To      dynamixel.Device `json:"to"`
				Changed bool             `json:"changed"`
				Skipped bool             `json:"skipped,omitempty"`
			}
			var results []result
			for _, j := range joints {
				m := robot.Motors[j.Model]
				if joint == "" {
					fmt.Fprintf(a.stderr, "Connect ONLY the %s motor (%s, will be ID %d) and press Enter (s to skip): ", j.Name, m.Name, j.ID)
					line, err := in.ReadString('\n')
					if err != nil && line == "" {
						return fmt.Errorf("setup stopped before %s: %w", j.Name, err)
					}
					if strings.TrimSpace(line) == "s" {
						results = append(results, result{Joint: j.Name, Skipped: true})
						continue
					}
				}
				opt := dynamixel.SetupOptions{ID: byte(j.ID), Baud: target, Model: m.ModelNumber, Window: window}
				if anyModel {
					opt.Model = 0
				}
				res, err := setupOne(cmd.Context(), b, opt)
				if err != nil {
					return fmt.Errorf("%s: %w", j.Name, err)
				}
				results = append(results, result{Joint: j.Name, From: res.Found, To: res.Device, Changed: res.Changed})
				if !o.asJSON {
					if res.Changed {
						fmt.Fprintf(a.stdout, "%s: id %d @ %d → id %d @ %d (%s, firmware %d)\n", j.Name,
							res.Found.ID, res.Found.Baud, res.Device.ID, res.Device.Baud, res.Device.ModelName, res.Device.Firmware)
					} else {
						fmt.Fprintf(a.stdout, "%s: already set up (id %d @ %d, %s)\n", j.Name, res.Device.ID, res.Device.Baud, res.Device.ModelName)
					}
				}
			}
			if o.asJSON {
				return a.printJSON(results)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&joint, "joint", "", "set up only this joint's motor (no prompt)")
	cmd.Flags().BoolVar(&anyModel, "any-model", false, "accept a motor whose model number differs from the profile's")
	cmd.Flags().DurationVar(&window, "window", 0, "how long each broadcast PING collects replies when searching (default: every ID)")
	return cmd
}

// setupOne runs SetupMotor, bounded so a stuck search cannot hang the CLI.
func setupOne(ctx context.Context, b *dynamixel.Bus, opt dynamixel.SetupOptions) (dynamixel.SetupResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return b.SetupMotor(ctx, opt)
}
