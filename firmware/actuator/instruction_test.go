package actuator_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/anther-robotics/anther/drivers/dynamixel"
	"github.com/anther-robotics/anther/firmware/actuator"
)

func TestModels(t *testing.T) {
	for _, n := range actuator.Models() {
		m, ok := actuator.LookupModel(n)
		if !ok || m.Number != n {
			t.Fatalf("LookupModel(%d) = %v, %v", n, m.Number, ok)
		}
		d := actuator.NewDevice(m, 1)
		for _, f := range m.Fields {
			if f.Addr+uint16(f.Size) > m.TableEnd {
				t.Errorf("%s: item %d past table end %d", m.Name, f.Addr, m.TableEnd)
			}
			if f.Access == actuator.RW && (f.Default < f.Min || f.Default > f.Max) && f.Addr != actuator.AddrGoalPWM && f.Addr != actuator.AddrGoalCurrent {
				t.Errorf("%s: item %d default %d outside [%d, %d]", m.Name, f.Addr, f.Default, f.Min, f.Max)
			}
		}
		if v, _ := d.Register(actuator.AddrModelNumber); v != int32(n) {
			t.Errorf("%s: model number register %d", m.Name, v)
		}
		if v, _ := d.Register(actuator.AddrOperatingMode); v != actuator.ModePosition {
			t.Errorf("%s: operating mode %d", m.Name, v)
		}
		if d.ReturnDelay() != 500*time.Microsecond || d.Baud() != 57600 {
			t.Errorf("%s: return delay %v, baud %d", m.Name, d.ReturnDelay(), d.Baud())
		}
	}
	if _, ok := actuator.LookupModel(1030); ok {
		t.Error("LookupModel(1030) found a model")
	}
	// Defaults from hardware.md §3.8.
	checks := []struct {
		m    actuator.Model
		addr uint16
		want int32
		what string
	}{
		{actuator.XL330M288(), actuator.AddrShutdown, 53, "XL330 shutdown"},
		{actuator.XC330M288(), actuator.AddrShutdown, 52, "XC330 shutdown"},
		{actuator.XC330M288(), actuator.AddrPositionPGain, 1100, "XC330 P"},
		{actuator.XC330M288(), actuator.AddrPositionDGain, 500, "XC330 D"},
		{actuator.XL330M077(), actuator.AddrPositionIGain, 400, "XL330-M077 I"},
		{actuator.XL330M077(), actuator.AddrVelocityLimit, 1620, "XL330-M077 velocity limit"},
		{actuator.XM430W350(), actuator.AddrCurrentLimit, 1193, "XM430 current limit"},
		{actuator.XM430W350(), actuator.AddrTemperatureLimit, 80, "XM430 temperature limit"},
		{actuator.XL330M288(), actuator.AddrCurrentLimit, 1750, "XL330 current limit"},
		{actuator.XC330M288(), actuator.AddrCurrentLimit, 2352, "XC330 current limit"},
	}
	for _, c := range checks {
		if v, _ := actuator.NewDevice(c.m, 1).Register(c.addr); v != c.want {
			t.Errorf("%s = %d, want %d", c.what, v, c.want)
		}
	}
}

func TestPing(t *testing.T) {
	a := actuator.NewDevice(actuator.XL330M288(), 12)
	b := actuator.NewDevice(actuator.XL330M077(), 3)
	g := newRig(t, a, b)
	p := g.one(dynamixel.AppendPing(nil, 12))
	if p.ID != 12 || !bytes.Equal(p.Params, []byte{0xB0, 0x04, 52}) {
		t.Errorf("PING 12: %+v", p)
	}
	// Broadcast: every device, slot = ID so the bus orders them by ID.
	rs := g.send(dynamixel.AppendPing(nil, dynamixel.BroadcastID))
	if len(rs) != 2 || rs[0].dev != b || rs[1].dev != a || rs[0].r.Slot != 3 || rs[1].r.Slot != 12 {
		t.Fatalf("broadcast PING replies %+v", rs)
	}
	if q := parse(t, rs[0].bytes); q.ID != 3 || dynamixel.Uint16(q.Params) != 1190 {
		t.Errorf("broadcast PING from 3: %+v", q)
	}
	if rs[0].r.Delay != 500*time.Microsecond {
		t.Errorf("return delay %v", rs[0].r.Delay)
	}
	g.none(dynamixel.AppendPing(nil, 99))
	// Worked packet: XM430 (model 1020) at ID 1.
	x := newRig(t, actuator.NewDevice(actuator.XM430W350(), 1))
	rs = x.send(hx(t, "FF FF FD 00 01 03 00 01 19 4E"))
	want := dynamixel.AppendStatus(nil, 1, 0, []byte{0xFC, 0x03, 46})
	if !bytes.Equal(rs[0].bytes, want) {
		t.Errorf("PING reply % X, want % X", rs[0].bytes, want)
	}
}

func TestWorkedPackets(t *testing.T) {
	g := newRig(t, actuator.NewDevice(actuator.XM430W350(), 1))
	// WRITE ID1 Goal Position = 512 → the generic empty OK status.
	rs := g.send(hx(t, "FF FF FD 00 01 09 00 03 74 00 00 02 00 00 CA 89"))
	if want := hx(t, "FF FF FD 00 01 04 00 55 00 A1 0C"); !bytes.Equal(rs[0].bytes, want) {
		t.Errorf("WRITE reply % X, want % X", rs[0].bytes, want)
	}
	if v := g.read32(1, actuator.AddrGoalPosition); v != 512 {
		t.Errorf("goal %d", v)
	}
	// Torque Enable ID1 (vector from §3.6).
	if e := g.errOf(hx(t, "FF FF FD 00 01 06 00 03 40 00 01 DB 66")); e != 0 {
		t.Errorf("torque enable: %v", e)
	}
	if !g.devs[0].TorqueEnabled() {
		t.Error("torque not enabled")
	}
}

func TestAccessRules(t *testing.T) {
	dev := actuator.NewDevice(actuator.XL330M288(), 1)
	g := newRig(t, dev)
	cases := []struct {
		name string
		err  dynamixel.ErrorNumber
		wire []byte
	}{
		{"read-only item", dynamixel.ErrNumAccess, dynamixel.AppendWrite(nil, 1, actuator.AddrModelNumber, u16(1))},
		{"reserved address", dynamixel.ErrNumAccess, dynamixel.AppendWrite(nil, 1, 14, []byte{0})},
		{"present position", dynamixel.ErrNumAccess, dynamixel.AppendWrite(nil, 1, actuator.AddrPresentPosition, u32(0))},
		{"half an item", dynamixel.ErrNumDataLength, dynamixel.AppendWrite(nil, 1, actuator.AddrGoalPosition, u16(100))},
		{"item tail", dynamixel.ErrNumDataLength, dynamixel.AppendWrite(nil, 1, actuator.AddrGoalPosition+2, u16(0))},
		{"no data", dynamixel.ErrNumDataLength, dynamixel.AppendInstruction(nil, 1, dynamixel.Write, u16(116))},
		{"ID 253", dynamixel.ErrNumDataRange, dynamixel.AppendWrite(nil, 1, actuator.AddrID, []byte{253})},
		{"baud 7 on X330", dynamixel.ErrNumDataRange, dynamixel.AppendWrite(nil, 1, actuator.AddrBaudRate, []byte{7})},
		{"mode 2", dynamixel.ErrNumDataRange, dynamixel.AppendWrite(nil, 1, actuator.AddrOperatingMode, []byte{2})},
		{"torque 2", dynamixel.ErrNumDataRange, dynamixel.AppendWrite(nil, 1, actuator.AddrTorqueEnable, []byte{2})},
		{"goal beyond max position", dynamixel.ErrNumDataLimit, dynamixel.AppendWrite(nil, 1, actuator.AddrGoalPosition, u32(4096))},
		{"goal velocity beyond limit", dynamixel.ErrNumDataLimit, dynamixel.AppendWrite(nil, 1, actuator.AddrGoalVelocity, u32(446))},
		{"goal current beyond range", dynamixel.ErrNumDataRange, dynamixel.AppendWrite(nil, 1, actuator.AddrGoalCurrent, u16(1751))},
		{"lower current limit", 0, dynamixel.AppendWrite(nil, 1, actuator.AddrCurrentLimit, u16(1000))},
		{"goal current beyond limit", dynamixel.ErrNumDataLimit, dynamixel.AppendWrite(nil, 1, actuator.AddrGoalCurrent, u16(1001))},
		{"write past the table", dynamixel.ErrNumAccess, dynamixel.AppendWrite(nil, 1, 227, []byte{0, 0})},
		{"read past the table", dynamixel.ErrNumAccess, dynamixel.AppendRead(nil, 1, 200, 100)},
		{"unknown instruction", dynamixel.ErrNumInstruction, dynamixel.AppendInstruction(nil, 1, 0x07, nil)},
		{"ACTION without REG WRITE", dynamixel.ErrNumInstruction, dynamixel.AppendAction(nil, 1)},
		{"short READ", dynamixel.ErrNumDataLength, dynamixel.AppendInstruction(nil, 1, dynamixel.Read, []byte{132, 0, 4})},
	}
	for _, c := range cases {
		if e := g.errOf(c.wire); e != c.err {
			t.Errorf("%s: %v, want %v", c.name, e, c.err)
		}
	}
	// A failed write changes nothing, even the valid items in it.
	if e := g.write(1, actuator.AddrTorqueEnable, 1, 2); e != dynamixel.ErrNumDataRange { // torque 1, LED 2
		t.Fatalf("torque+LED: %v", e)
	}
	if dev.TorqueEnabled() {
		t.Error("torque on after a refused write")
	}
	// Reserved bytes read as 0; a block spanning items reads whole.
	if b := g.read(1, 0, 64); len(b) != 64 || b[14] != 0 || dynamixel.Uint16(b) != 1200 {
		t.Errorf("EEPROM block % X", b)
	}
	// EEPROM is locked while torque is on, RAM is not.
	if e := g.write(1, actuator.AddrTorqueEnable, 1); e != 0 {
		t.Fatal(e)
	}
	if e := g.write(1, actuator.AddrReturnDelayTime, 0); e != dynamixel.ErrNumAccess {
		t.Errorf("EEPROM write with torque on: %v", e)
	}
	if e := g.write(1, actuator.AddrProfileVelocity, u32(100)...); e != 0 {
		t.Errorf("RAM write with torque on: %v", e)
	}
	if e := g.write(1, actuator.AddrTorqueEnable, 0); e != 0 {
		t.Fatal(e)
	}
	if e := g.write(1, actuator.AddrReturnDelayTime, 0); e != 0 || dev.ReturnDelay() != 0 {
		t.Errorf("EEPROM write with torque off: %v, delay %v", e, dev.ReturnDelay())
	}
	// Goal Position limits apply in position mode only.
	if e := g.write(1, actuator.AddrOperatingMode, actuator.ModeExtendedPosition); e != 0 {
		t.Fatal(e)
	}
	if e := g.write(1, actuator.AddrGoalPosition, u32(-9000)...); e != 0 {
		t.Errorf("extended goal: %v", e)
	}
	if e := g.write(1, actuator.AddrGoalPosition, u32(2000000)...); e != dynamixel.ErrNumDataRange {
		t.Errorf("goal beyond ±256 turns: %v", e)
	}
	// XL430 has no current: no Goal Current item, no current modes.
	x := newRig(t, actuator.NewDevice(actuator.XL430W250(), 1))
	if e := x.write(1, actuator.AddrGoalCurrent, 0, 0); e != dynamixel.ErrNumAccess {
		t.Errorf("XL430 goal current: %v", e)
	}
	if e := x.write(1, actuator.AddrOperatingMode, actuator.ModeCurrent); e != dynamixel.ErrNumDataRange {
		t.Errorf("XL430 current mode: %v", e)
	}
}

func TestIDAndSecondaryID(t *testing.T) {
	dev := actuator.NewDevice(actuator.XL330M288(), 1)
	g := newRig(t, dev)
	// The status to a new ID comes from the old one.
	if p := g.one(dynamixel.AppendWrite(nil, 1, actuator.AddrID, []byte{42})); p.ID != 1 || p.ErrNum() != 0 {
		t.Fatalf("set ID: %+v", p)
	}
	g.none(dynamixel.AppendPing(nil, 1))
	if p := g.one(dynamixel.AppendPing(nil, 42)); p.ID != 42 {
		t.Fatalf("PING 42: %+v", p)
	}
	// Secondary ID: obeyed, never answered.
	if e := g.write(42, actuator.AddrSecondaryID, 5); e != 0 {
		t.Fatal(e)
	}
	g.none(dynamixel.AppendWrite(nil, 5, actuator.AddrLED, []byte{1}))
	g.none(dynamixel.AppendRead(nil, 5, actuator.AddrLED, 1))
	if v := g.read(42, actuator.AddrLED, 1)[0]; v != 1 {
		t.Errorf("LED via secondary ID = %d", v)
	}
}

func TestRegWriteAction(t *testing.T) {
	g := newRig(t, actuator.NewDevice(actuator.XM430W350(), 1))
	// REG WRITE ID1 Goal Velocity = 200 (vector from §3.6).
	if e := g.errOf(hx(t, "FF FF FD 00 01 09 00 04 68 00 C8 00 00 00 AE 8E")); e != 0 {
		t.Fatal(e)
	}
	if v := g.read(1, actuator.AddrRegisteredInst, 1)[0]; v != 1 {
		t.Errorf("Registered Instruction = %d", v)
	}
	if v := g.read32(1, actuator.AddrGoalVelocity); v != 0 {
		t.Errorf("goal velocity %d before ACTION", v)
	}
	// A REG WRITE that would fail is refused at once.
	if e := g.errOf(dynamixel.AppendRegWrite(nil, 1, actuator.AddrGoalVelocity, u32(5000))); e != dynamixel.ErrNumDataRange {
		t.Errorf("bad REG WRITE: %v", e)
	}
	if e := g.errOf(hx(t, "FF FF FD 00 01 03 00 05 02 CE")); e != 0 {
		t.Fatal(e)
	}
	if v := g.read32(1, actuator.AddrGoalVelocity); v != 200 {
		t.Errorf("goal velocity %d after ACTION", v)
	}
	if v := g.read(1, actuator.AddrRegisteredInst, 1)[0]; v != 0 {
		t.Errorf("Registered Instruction = %d after ACTION", v)
	}
	if e := g.errOf(dynamixel.AppendAction(nil, 1)); e != dynamixel.ErrNumInstruction {
		t.Errorf("second ACTION: %v", e)
	}
	// Broadcast ACTION runs the registered write silently.
	g.one(dynamixel.AppendRegWrite(nil, 1, actuator.AddrLED, []byte{1}))
	g.none(dynamixel.AppendAction(nil, dynamixel.BroadcastID))
	if v := g.read(1, actuator.AddrLED, 1)[0]; v != 1 {
		t.Errorf("LED = %d after broadcast ACTION", v)
	}
}

func TestFactoryReset(t *testing.T) {
	dev := actuator.NewDevice(actuator.XL330M288(), 7)
	g := newRig(t, dev)
	setup := func() {
		t.Helper()
		for _, w := range [][]byte{
			dynamixel.AppendWrite(nil, dev.ID(), actuator.AddrBaudRate, []byte{3}),
			dynamixel.AppendWrite(nil, dev.ID(), actuator.AddrReturnDelayTime, []byte{0}),
			dynamixel.AppendWrite(nil, dev.ID(), actuator.AddrID, []byte{7}),
		} {
			if p := g.one(w); p.ErrNum() != 0 {
				t.Fatal(p.ErrNum())
			}
		}
	}
	check := func(opt byte, id byte, baud int) {
		t.Helper()
		setup()
		if p := g.one(dynamixel.AppendFactoryReset(nil, 7, opt)); p.ID != 7 || p.ErrNum() != 0 {
			t.Fatalf("reset %#x: %+v", opt, p)
		}
		if dev.ID() != id || dev.Baud() != baud || dev.ReturnDelay() != 500*time.Microsecond {
			t.Errorf("after reset %#x: ID %d baud %d delay %v", opt, dev.ID(), dev.Baud(), dev.ReturnDelay())
		}
	}
	check(dynamixel.ResetExceptIDBaud, 7, 1000000)
	check(dynamixel.ResetExceptID, 7, 57600)
	check(dynamixel.ResetAll, 1, 57600)
	// Vector from §3.6: FACTORY RESET ID1 option 0x01.
	if e := g.errOf(hx(t, "FF FF FD 00 01 04 00 06 01 A1 E6")); e != 0 {
		t.Error(e)
	}
	setup()
	// Broadcast with 0xFF is refused; bad options and torque on fail.
	g.none(dynamixel.AppendFactoryReset(nil, dynamixel.BroadcastID, dynamixel.ResetAll))
	if dev.ID() != 7 {
		t.Error("broadcast reset-all was obeyed")
	}
	if e := g.errOf(dynamixel.AppendFactoryReset(nil, 7, 0x03)); e != dynamixel.ErrNumDataRange {
		t.Errorf("option 3: %v", e)
	}
	g.write(7, actuator.AddrTorqueEnable, 1)
	if e := g.errOf(dynamixel.AppendFactoryReset(nil, 7, dynamixel.ResetExceptID)); e != dynamixel.ErrNumAccess {
		t.Errorf("reset with torque on: %v", e)
	}
}

func TestReboot(t *testing.T) {
	dev := actuator.NewDevice(actuator.XL330M288(), 1)
	g := newRig(t, dev)
	g.write(1, actuator.AddrReturnDelayTime, 10)
	g.write(1, actuator.AddrPositionPGain, u16(300)...)
	g.write(1, actuator.AddrTorqueEnable, 1)
	g.write(1, actuator.AddrLED, 1)
	dev.InjectHardwareError(actuator.ErrorEncoder)
	// REBOOT ID1 (vector from §3.6, ID changed to 1 already).
	if p := g.one(hx(t, "FF FF FD 00 01 03 00 08 2F 4E")); p.ErrNum() != 0 || !p.Alert() {
		t.Fatalf("REBOOT status %+v (alert expected, sent before the reboot)", p)
	}
	if dev.TorqueEnabled() || dev.HardwareError() != 0 {
		t.Errorf("after reboot: torque %v hw %#x", dev.TorqueEnabled(), dev.HardwareError())
	}
	if v := g.read(1, actuator.AddrLED, 1)[0]; v != 0 {
		t.Error("LED survived reboot")
	}
	if v := dynamixel.Uint16(g.read(1, actuator.AddrPositionPGain, 2)); v != 400 {
		t.Errorf("P gain %d after reboot, want the default 400", v)
	}
	if dev.ReturnDelay() != 20*time.Microsecond {
		t.Errorf("EEPROM lost: delay %v", dev.ReturnDelay())
	}
	// With a boot time the device is deaf for a while.
	dev.BootTime = 100 * time.Millisecond
	g.one(dynamixel.AppendReboot(nil, 1))
	g.none(dynamixel.AppendPing(nil, 1))
	g.now += 100 * time.Millisecond
	g.one(dynamixel.AppendPing(nil, 1))
}

func TestClear(t *testing.T) {
	dev := actuator.NewDevice(actuator.XL330M288(), 1)
	g := newRig(t, dev)
	g.write(1, actuator.AddrOperatingMode, actuator.ModeExtendedPosition)
	dev.Sense(0, 0)
	dev.Sense(rad(2048+3*4096+100), 0) // three turns on, by hand
	if v := g.read32(1, actuator.AddrPresentPosition); v != 2048+3*4096+100 {
		t.Fatalf("present %d", v)
	}
	dev.Sense(rad(2048+3*4096+100), 2)
	if e := g.errOf(dynamixel.AppendClear(nil, 1, dynamixel.ClearMultiTurn)); e != dynamixel.ErrNumResultFail {
		t.Errorf("CLEAR while moving: %v", e)
	}
	dev.Sense(rad(2048+3*4096+100), 0)
	if e := g.errOf(hx(t, "FF FF FD 00 01 08 00 10 01 44 58 4C 22 B1 DC")); e != 0 {
		t.Fatal(e)
	}
	if v := g.read32(1, actuator.AddrPresentPosition); v != 2148 {
		t.Errorf("present %d after CLEAR, want 2148", v)
	}
	bad := dynamixel.AppendInstruction(nil, 1, dynamixel.Clear, []byte{1, 0x44, 0x58, 0x4C, 0x23})
	if e := g.errOf(bad); e != dynamixel.ErrNumDataRange {
		t.Errorf("wrong key: %v", e)
	}
}

func TestControlTableBackup(t *testing.T) {
	dev := actuator.NewDevice(actuator.XL330M288(), 1)
	g := newRig(t, dev)
	restore := hx(t, "FF FF FD 00 01 08 00 20 02 43 54 52 4C 9E F5")
	if e := g.errOf(restore); e != dynamixel.ErrNumResultFail {
		t.Errorf("restore without backup: %v", e)
	}
	g.write(1, actuator.AddrReturnDelayTime, 0)
	g.write(1, actuator.AddrPositionPGain, u16(300)...)
	if e := g.errOf(hx(t, "FF FF FD 00 01 08 00 20 01 43 54 52 4C 16 F5")); e != 0 {
		t.Fatal(e)
	}
	if v := g.read(1, actuator.AddrBackupReady, 1)[0]; v != 1 {
		t.Error("Backup Ready not set")
	}
	g.write(1, actuator.AddrReturnDelayTime, 100)
	g.one(dynamixel.AppendReboot(nil, 1)) // gains back to defaults
	if e := g.errOf(restore); e != 0 {
		t.Fatal(e)
	}
	if dev.ReturnDelay() != 0 || dynamixel.Uint16(g.read(1, actuator.AddrPositionPGain, 2)) != 300 {
		t.Errorf("restore: delay %v, P %d", dev.ReturnDelay(), dynamixel.Uint16(g.read(1, actuator.AddrPositionPGain, 2)))
	}
	g.write(1, actuator.AddrTorqueEnable, 1)
	if e := g.errOf(restore); e != dynamixel.ErrNumAccess {
		t.Errorf("restore with torque on: %v", e)
	}
	x := newRig(t, actuator.NewDevice(actuator.XM430W350(), 1))
	if e := x.errOf(restore); e != dynamixel.ErrNumInstruction {
		t.Errorf("XM430 backup: %v", e)
	}
}

// setPresent makes dev report position p with the shaft at rest.
func setPresent(dev *actuator.Device, p int) {
	dev.Sense(rad(float64(p)), 0)
}

func TestSyncAndBulk(t *testing.T) {
	newXM := func(id byte, pos int) *actuator.Device {
		d := actuator.NewDevice(actuator.XM430W350(), id)
		setPresent(d, pos)
		return d
	}
	d1, d2 := newXM(1, 166), newXM(2, 2079)
	g := newRig(t, d1, d2)
	// SYNC READ pos IDs 1,2 → two statuses in request order (vectors §3.6).
	rs := g.send(hx(t, "FF FF FD 00 FE 09 00 82 84 00 04 00 01 02 CE FA"))
	if len(rs) != 2 || !bytes.Equal(rs[0].bytes, hx(t, "FF FF FD 00 01 08 00 55 00 A6 00 00 00 8C C0")) ||
		!bytes.Equal(rs[1].bytes, hx(t, "FF FF FD 00 02 08 00 55 00 1F 08 00 00 BA BE")) || rs[1].r.Slot != 1 {
		t.Errorf("SYNC READ replies %+v", rs)
	}
	// Reversed ID list: slots follow the request.
	rs = g.send(dynamixel.AppendSyncRead(nil, 132, 4, []byte{2, 1}))
	if rs[0].dev != d2 || rs[0].r.Slot != 0 || rs[1].r.Slot != 1 {
		t.Errorf("slot order %+v", rs)
	}
	// FAST SYNC READ pos IDs 3,7,4 → one combined packet (vectors §3.6).
	f := newRig(t, newXM(3, 166), newXM(7, 2079), newXM(4, 1023))
	rs = f.send(hx(t, "FF FF FD 00 FE 0A 00 8A 84 00 04 00 03 07 04 20 F2"))
	if got, want := joinFast(t, rs), hx(t, "FF FF FD 00 FE 19 00 55 00 03 A6 00 00 00 84 08 00 07 1F 08 00 00 16 CA 00 04 FF 03 00 00 D1 9E"); !bytes.Equal(got, want) {
		t.Errorf("FAST SYNC READ\n got % X\nwant % X", got, want)
	}
	// BULK READ ID1 voltage(144,2), ID2 temp(146,1).
	d1.SetSupplyVoltage(11.9)
	d2.SetTemperature(36)
	rs = g.send(hx(t, "FF FF FD 00 FE 0D 00 92 01 90 00 02 00 02 92 00 01 00 1A 05"))
	if len(rs) != 2 || !bytes.Equal(rs[0].bytes, hx(t, "FF FF FD 00 01 06 00 55 00 77 00 C3 69")) ||
		!bytes.Equal(rs[1].bytes, hx(t, "FF FF FD 00 02 05 00 55 00 24 8B A9")) {
		t.Errorf("BULK READ replies %+v", rs)
	}
	// FAST BULK READ ID3 pos, ID7 PWM (421 in PWM mode), ID4 temp 31.
	d3, d7, d4 := newXM(3, 166), newXM(7, 0), newXM(4, 0)
	d4.SetTemperature(31)
	f = newRig(t, d3, d7, d4)
	f.write(7, actuator.AddrOperatingMode, actuator.ModePWM)
	f.write(7, actuator.AddrTorqueEnable, 1)
	f.write(7, actuator.AddrGoalPWM, u16(421)...)
	d7.Control(1e-4, 0, 0)
	rs = f.send(hx(t, "FF FF FD 00 FE 12 00 9A 03 84 00 04 00 07 7C 00 02 00 04 92 00 01 00 DA 2D"))
	if got, want := joinFast(t, rs), hx(t, "FF FF FD 00 FE 14 00 55 00 03 A6 00 00 00 67 A4 00 07 A5 01 24 74 00 04 1F D9 C1"); !bytes.Equal(got, want) {
		t.Errorf("FAST BULK READ\n got % X\nwant % X", got, want)
	}
	// SYNC WRITE goal ID1=150, ID2=170; BULK WRITE MaxVolt/TempLimit.
	g.none(hx(t, "FF FF FD 00 FE 11 00 83 74 00 04 00 01 96 00 00 00 02 AA 00 00 00 82 87"))
	if g.read32(1, actuator.AddrGoalPosition) != 150 || g.read32(2, actuator.AddrGoalPosition) != 170 {
		t.Error("SYNC WRITE not applied")
	}
	g.none(hx(t, "FF FF FD 00 FE 10 00 93 01 20 00 02 00 A0 00 02 1F 00 01 00 50 B7 68"))
	if v, _ := d1.Register(actuator.AddrMaxVoltageLimit); v != 160 {
		t.Errorf("BULK WRITE max voltage %d", v)
	}
	if v, _ := d2.Register(actuator.AddrTemperatureLimit); v != 80 {
		t.Errorf("BULK WRITE temperature limit %d", v)
	}
	// A device not listed stays silent; a sync read sent to one ID is an
	// instruction error.
	g.none(dynamixel.AppendSyncRead(nil, 132, 4, []byte{9}))
	if e := g.errOf(dynamixel.AppendInstruction(nil, 1, dynamixel.SyncRead, []byte{132, 0, 4, 0, 1})); e != dynamixel.ErrNumInstruction {
		t.Errorf("unicast SYNC READ: %v", e)
	}
	// A failing fast read keeps its record size, with the error number.
	rs = g.send(dynamixel.AppendFastSyncRead(nil, 250, 4, []byte{1, 2}))
	if len(rs) != 2 || len(rs[0].bytes) != 6 || rs[0].bytes[0] != byte(dynamixel.ErrNumAccess) {
		t.Errorf("failing fast read %+v", rs)
	}
}

// joinFast assembles FAST read records into the combined packet.
func joinFast(t *testing.T, rs []reply) []byte {
	t.Helper()
	recs := make([]dynamixel.FastRecord, len(rs))
	for i, r := range rs {
		if r.r.Kind != actuator.FastReply || r.r.Slot != i {
			t.Fatalf("record %d: %+v", i, r.r)
		}
		recs[i] = dynamixel.FastRecord{Err: r.bytes[0], ID: r.bytes[1], Data: r.bytes[2:]}
	}
	return dynamixel.AppendFastStatus(nil, recs)
}

func TestStatusReturnLevel(t *testing.T) {
	g := newRig(t, actuator.NewDevice(actuator.XL330M288(), 1))
	if e := g.write(1, actuator.AddrStatusReturnLevel, 1); e != 0 {
		t.Fatal(e)
	}
	g.none(dynamixel.AppendWrite(nil, 1, actuator.AddrLED, []byte{1}))
	g.read(1, actuator.AddrLED, 1)
	if len(g.send(dynamixel.AppendSyncRead(nil, 132, 4, []byte{1}))) != 1 {
		t.Error("SRL 1: no SYNC READ reply")
	}
	g.none(dynamixel.AppendWrite(nil, 1, actuator.AddrStatusReturnLevel, []byte{0}))
	g.none(dynamixel.AppendRead(nil, 1, actuator.AddrLED, 1))
	g.none(dynamixel.AppendSyncRead(nil, 132, 4, []byte{1}))
	g.one(dynamixel.AppendPing(nil, 1))
}

func TestShutdownAndAlert(t *testing.T) {
	dev := actuator.NewDevice(actuator.XL330M288(), 1)
	g := newRig(t, dev)
	g.write(1, actuator.AddrTorqueEnable, 1)
	dev.InjectHardwareError(actuator.ErrorOverheating)
	if dev.TorqueEnabled() {
		t.Error("torque still on after an overheating shutdown")
	}
	p := g.one(dynamixel.AppendRead(nil, 1, actuator.AddrHardwareErrorStatus, 1))
	if !p.Alert() || p.ErrNum() != 0 || p.Params[0] != actuator.ErrorOverheating {
		t.Errorf("status %+v", p)
	}
	if p := g.one(dynamixel.AppendPing(nil, 1)); !p.Alert() {
		t.Error("PING without alert")
	}
	rs := g.send(dynamixel.AppendFastSyncRead(nil, 132, 4, []byte{1}))
	if rs[0].bytes[0] != 0x80 {
		t.Errorf("fast record ERR %#x", rs[0].bytes[0])
	}
	if e := g.write(1, actuator.AddrTorqueEnable, 1); e != dynamixel.ErrNumResultFail {
		t.Errorf("torque on during shutdown: %v", e)
	}
	g.one(dynamixel.AppendReboot(nil, 1))
	if p := g.one(dynamixel.AppendPing(nil, 1)); p.Alert() {
		t.Error("alert after REBOOT")
	}
	if e := g.write(1, actuator.AddrTorqueEnable, 1); e != 0 {
		t.Errorf("torque on after reboot: %v", e)
	}
	// An error not armed in Shutdown is latched but leaves torque on.
	g.write(1, actuator.AddrTorqueEnable, 0)
	g.write(1, actuator.AddrShutdown, actuator.ErrorOverload)
	g.write(1, actuator.AddrTorqueEnable, 1)
	dev.InjectHardwareError(actuator.ErrorEncoder)
	if !dev.TorqueEnabled() || dev.HardwareError() != actuator.ErrorEncoder {
		t.Errorf("unarmed error: torque %v hw %#x", dev.TorqueEnabled(), dev.HardwareError())
	}
	// Input voltage outside the limits trips only when armed.
	v := newRig(t, actuator.NewDevice(actuator.XL330M288(), 1)) // Shutdown 53 arms it
	v.devs[0].SetSupplyVoltage(7.4)
	v.devs[0].Control(1e-3, 0, 0)
	if v.devs[0].HardwareError() != actuator.ErrorInputVoltage {
		t.Errorf("XL330 at 7.4 V: hw %#x", v.devs[0].HardwareError())
	}
	c := actuator.NewDevice(actuator.XC330M288(), 1) // Shutdown 52 does not
	c.SetSupplyVoltage(7.4)
	c.Control(1e-3, 0, 0)
	if c.HardwareError() != 0 {
		t.Errorf("XC330 at 7.4 V: hw %#x", c.HardwareError())
	}
}

func TestIndirect(t *testing.T) {
	dev := actuator.NewDevice(actuator.XL330M288(), 1)
	setPresent(dev, 3000)
	g := newRig(t, dev)
	// Indirect Address 1..4 → Present Position, 5..8 → Goal Position.
	var addrs []byte
	for k := range uint16(4) {
		addrs = append(addrs, u16(actuator.AddrPresentPosition+k)...)
	}
	for k := range uint16(4) {
		addrs = append(addrs, u16(actuator.AddrGoalPosition+k)...)
	}
	if e := g.write(1, actuator.AddrIndirectAddress1, addrs...); e != 0 {
		t.Fatal(e)
	}
	if v := dynamixel.Int32(g.read(1, 208, 4)); v != 3000 {
		t.Errorf("indirect present %d", v)
	}
	if e := g.write(1, 212, u32(1234)...); e != 0 {
		t.Fatal(e)
	}
	if v := g.read32(1, actuator.AddrGoalPosition); v != 1234 {
		t.Errorf("goal %d via indirect", v)
	}
	if e := g.write(1, 208, u32(0)...); e != dynamixel.ErrNumAccess {
		t.Errorf("indirect write to present position: %v", e)
	}
	if e := g.write(1, 212, 1, 2); e != dynamixel.ErrNumDataLength {
		t.Errorf("half a goal via indirect: %v", e)
	}
}

func TestFastSegments(t *testing.T) {
	// Three devices answer a FAST read each with its own segment, listening
	// to those before it: the wire is the combined reply (for the §3.6
	// FAST SYNC READ, the vector itself).
	devs := []*actuator.Device{actuator.NewDevice(actuator.XM430W350(), 3), actuator.NewDevice(actuator.XM430W350(), 7), actuator.NewDevice(actuator.XM430W350(), 4)}
	for i, pos := range []int{166, 2079, 1023} {
		setPresent(devs[i], pos)
	}
	for _, c := range []struct{ req, want string }{
		{"FF FF FD 00 FE 0A 00 8A 84 00 04 00 03 07 04 20 F2", "FF FF FD 00 FE 19 00 55 00 03 A6 00 00 00 84 08 00 07 1F 08 00 00 16 CA 00 04 FF 03 00 00 D1 9E"},
		{"FF FF FD 00 FE 12 00 9A 03 84 00 04 00 07 7C 00 02 00 04 92 00 01 00 DA 2D", ""},
	} {
		p := parse(t, hx(t, c.req))
		var wire []byte
		var rs []reply
		for _, d := range devs {
			rec, r := d.Handle(0, p, nil)
			if r.Kind != actuator.FastReply {
				t.Fatalf("reply kind %d", r.Kind)
			}
			if n := actuator.FastPrefixLen(p, r.Slot); n != len(wire) {
				t.Fatalf("slot %d: prefix %d, heard %d", r.Slot, n, len(wire))
			}
			wire = actuator.AppendFastSegment(wire, p, r.Slot, rec, dynamixel.UpdateCRC(0, wire))
			rs = append(rs, reply{bytes: rec, r: r})
		}
		want := joinFast(t, rs)
		if c.want != "" && !bytes.Equal(want, hx(t, c.want)) {
			t.Fatalf("records join to % X", want)
		}
		if !bytes.Equal(wire, want) {
			t.Errorf("segments\n got % X\nwant % X", wire, want)
		}
	}
	if actuator.FastPrefixLen(parse(t, dynamixel.AppendPing(nil, 1)), 0) != -1 {
		t.Error("prefix of a PING")
	}
}
