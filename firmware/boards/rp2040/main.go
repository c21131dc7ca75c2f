//go:build tinygo && rp2040

// Command rp2040 runs the actuator firmware on a Raspberry Pi RP2040 board
// (Pico or similar) driving a small DC gear motor: the Dynamixel TTL bus on
// UART0 through a half-duplex buffer, an AS5600 magnetic encoder on I2C0 for
// the shaft angle, and a DRV8833 H-bridge on two PWM pins. Build it with
//
//	tinygo flash -target=pico ./firmware/boards/rp2040
//
// Wiring (see firmware/README.md): GP0 UART0 TX and GP1 UART0 RX to a
// 74LVC2G241-style buffer onto the single data line, GP2 its direction
// (high: drive the line), GP4/GP5 I2C0 SDA/SCL to the AS5600, GP6/GP7
// PWM3 A/B to the DRV8833 inputs.
package main

import (
	"device/rp"
	"machine"
	"math"
	"time"

	"github.com/anther-robotics/anther/drivers/dynamixel"
	"github.com/anther-robotics/anther/firmware/actuator"
)

const (
	controlPeriod = 250 * time.Microsecond // the loops run at 4 kHz
	as5600Addr    = 0x36
	as5600RawHigh = 0x0C  // RAW ANGLE, 12 bits, high byte first
	pwmPeriodNs   = 50000 // 20 kHz
)

// pwmGroup is the part of a TinyGo PWM slice the board uses.
type pwmGroup interface {
	Configure(config machine.PWMConfig) error
	Channel(pin machine.Pin) (uint8, error)
	Set(channel uint8, value uint32)
	Top() uint32
}

// board holds the peripherals; everything is allocated once, at start.
type board struct {
	uart   *machine.UART
	dir    machine.Pin
	i2c    *machine.I2C
	pwm    pwmGroup
	chA    uint8
	chB    uint8
	enc    [2]byte
	turns  float64 // whole turns counted by the encoder unwrapping
	last   float64 // last raw angle, rad within one turn
	angle  float64 // continuous shaft angle, rad
	vel    float64 // filtered velocity, rad/s
	echo   int     // own bytes still to discard from RX
	one    [1]byte
	start  time.Time
	device *actuator.Device
	dec    dynamixel.Decoder
	tx     [dynamixel.MaxPacket]byte
	seg    [dynamixel.MaxPacket]byte
}

func main() {
	b := &board{uart: machine.UART0, dir: machine.GP2, i2c: machine.I2C0, pwm: machine.PWM3, start: time.Now()}
	b.uart.Configure(machine.UARTConfig{BaudRate: 1000000, TX: machine.GP0, RX: machine.GP1})
	b.dir.Configure(machine.PinConfig{Mode: machine.PinOutput})
	b.dir.Low()
	b.i2c.Configure(machine.I2CConfig{Frequency: 400 * machine.KHz, SDA: machine.GP4, SCL: machine.GP5})
	b.pwm.Configure(machine.PWMConfig{Period: pwmPeriodNs})
	b.chA, _ = b.pwm.Channel(machine.GP6)
	b.chB, _ = b.pwm.Channel(machine.GP7)

	// An XL330-M288's table and limits stand in for this motor; a board
	// for another motor sets its own constants here.
	b.device = actuator.NewDevice(actuator.XL330M288(), 1)
	b.device.Sense(b.readAngle(), 0)

	next := time.Now()
	for {
		b.poll()
		if now := time.Now(); !now.Before(next) {
			b.control(controlPeriod.Seconds())
			next = next.Add(controlPeriod)
			if now.Sub(next) > 10*controlPeriod {
				next = now // fell far behind (a long reply): skip, do not burst
			}
		}
	}
}

// now is the device time since boot.
func (b *board) now() time.Duration { return time.Since(b.start) }

// readAngle returns the shaft angle within one turn, rad, 0 at encoder
// position 2048 as the firmware expects.
func (b *board) readAngle() float64 {
	if err := b.i2c.ReadRegister(as5600Addr, as5600RawHigh, b.enc[:]); err != nil {
		b.device.InjectHardwareError(actuator.ErrorEncoder)
		return b.last
	}
	raw := float64(uint16(b.enc[0]&0x0F)<<8 | uint16(b.enc[1]))
	return (raw - 2048) * 2 * math.Pi / 4096
}

// control samples the encoder, runs the firmware's loops and drives the
// H-bridge with their duty cycle.
func (b *board) control(dt float64) {
	a := b.readAngle()
	// Unwrap across the turn boundary.
	if d := a - b.last; d > math.Pi {
		b.turns--
	} else if d < -math.Pi {
		b.turns++
	}
	b.last = a
	angle := a + 2*math.Pi*b.turns
	b.vel += 0.2 * ((angle-b.angle)/dt - b.vel) // first-order filter
	b.angle = angle
	b.device.Control(dt, b.angle, b.vel)
	duty := b.device.Duty()
	top := float64(b.pwm.Top())
	if duty >= 0 { // DRV8833 fast decay: one input PWM, the other low
		b.pwm.Set(b.chA, uint32(duty*top))
		b.pwm.Set(b.chB, 0)
	} else {
		b.pwm.Set(b.chA, 0)
		b.pwm.Set(b.chB, uint32(-duty*top))
	}
}

// poll moves received bytes into the decoder and answers whole packets.
func (b *board) poll() {
	for b.uart.Buffered() > 0 {
		c, err := b.uart.ReadByte()
		if err != nil {
			break
		}
		if b.echo > 0 { // our own reply, heard through the buffer
			b.echo--
			continue
		}
		b.one[0] = c
		b.dec.Write(b.one[:])
	}
	for {
		p, err := b.dec.Next()
		if err == dynamixel.ErrNeedMore {
			return
		}
		if err != nil {
			continue
		}
		out, r := b.device.Handle(b.now(), p, b.tx[:0])
		switch r.Kind {
		case actuator.StatusReply:
			b.send(out, r.Delay)
		case actuator.FastReply:
			// Hear the devices before this one, then add this part with the
			// running CRC (hardware.md §3.7).
			crc, ok := b.hear(actuator.FastPrefixLen(p, r.Slot))
			if ok {
				b.send(actuator.AppendFastSegment(b.seg[:0], p, r.Slot, out, crc), r.Delay)
			}
		}
	}
}

// hear reads n bytes from the line, without decoding them, and returns
// their CRC; false if they do not come within a bound on their wire time.
func (b *board) hear(n int) (uint16, bool) {
	var crc uint16
	deadline := time.Now().Add(time.Duration(n)*10*time.Microsecond + 2*time.Millisecond)
	var one [1]byte
	for n > 0 {
		if time.Now().After(deadline) {
			return 0, false
		}
		if b.uart.Buffered() == 0 {
			continue
		}
		c, err := b.uart.ReadByte()
		if err != nil {
			return 0, false
		}
		one[0] = c
		crc = dynamixel.UpdateCRC(crc, one[:])
		n--
	}
	return crc, true
}

// send waits the return delay, drives the line, sends out and releases the
// line when the last stop bit has left.
func (b *board) send(out []byte, delay time.Duration) {
	until := time.Now().Add(delay)
	for time.Now().Before(until) {
	}
	b.dir.High()
	b.uart.Write(out)
	for b.uart.Bus.UARTFR.HasBits(rp.UART0_UARTFR_BUSY) {
	}
	b.dir.Low()
	b.echo += len(out)
}
