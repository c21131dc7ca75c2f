package actuator_test

import (
	"bytes"
	"encoding/hex"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/anther-robotics/anther/drivers/dynamixel"
	"github.com/anther-robotics/anther/firmware/actuator"
)

// hx parses "FF FF FD 00 ..." into bytes.
func hx(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// parse decodes one packet from wire, which must be exactly one packet.
func parse(t testing.TB, wire []byte) dynamixel.Packet {
	t.Helper()
	p, n, err := dynamixel.ParsePacket(bytes.Clone(wire))
	if err != nil || n != len(wire) {
		t.Fatalf("parse % X: n = %d, err = %v", wire, n, err)
	}
	return p
}

// rig is a few devices on a pretend bus, with a clock.
type rig struct {
	t    testing.TB
	devs []*actuator.Device
	now  time.Duration
	buf  []byte
}

func newRig(t testing.TB, devs ...*actuator.Device) *rig {
	return &rig{t: t, devs: devs, buf: make([]byte, 0, 4*dynamixel.MaxPacket)}
}

// reply is one device's answer to a request.
type reply struct {
	dev   *actuator.Device
	bytes []byte
	r     actuator.Reply
}

// send delivers the instruction packet wire to every device and returns
// their replies, in slot order.
func (g *rig) send(wire []byte) []reply {
	g.t.Helper()
	p := parse(g.t, wire)
	var out []reply
	for _, d := range g.devs {
		b, r := d.Handle(g.now, p, g.buf[:0])
		if r.Kind == actuator.NoReply {
			if len(b) != 0 {
				g.t.Fatalf("no reply but %d bytes", len(b))
			}
			continue
		}
		out = append(out, reply{dev: d, bytes: bytes.Clone(b), r: r})
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].r.Slot < out[j-1].r.Slot; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// one sends wire and expects exactly one status reply, which it returns
// decoded.
func (g *rig) one(wire []byte) dynamixel.Packet {
	g.t.Helper()
	rs := g.send(wire)
	if len(rs) != 1 || rs[0].r.Kind != actuator.StatusReply {
		g.t.Fatalf("% X: %d replies, want 1 status", wire, len(rs))
	}
	return parse(g.t, rs[0].bytes)
}

// none sends wire and expects silence.
func (g *rig) none(wire []byte) {
	g.t.Helper()
	if rs := g.send(wire); len(rs) != 0 {
		g.t.Fatalf("% X: %d replies, want none: % X", wire, len(rs), rs[0].bytes)
	}
}

// errOf sends wire and returns the error number of the single reply.
func (g *rig) errOf(wire []byte) dynamixel.ErrorNumber {
	g.t.Helper()
	return g.one(wire).ErrNum()
}

// write sends a WRITE and returns the error number.
func (g *rig) write(id byte, addr uint16, data ...byte) dynamixel.ErrorNumber {
	g.t.Helper()
	return g.errOf(dynamixel.AppendWrite(nil, id, addr, data))
}

// read sends a READ and returns the parameters, failing on an error.
func (g *rig) read(id byte, addr, size uint16) []byte {
	g.t.Helper()
	p := g.one(dynamixel.AppendRead(nil, id, addr, size))
	if p.ErrNum() != 0 {
		g.t.Fatalf("READ %d@%d: %v", size, addr, p.ErrNum())
	}
	return p.Params
}

func (g *rig) read32(id byte, addr uint16) int32 { return dynamixel.Int32(g.read(id, addr, 4)) }

func u16(v uint16) []byte { return dynamixel.AppendUint16(nil, v) }
func u32(v int32) []byte  { return dynamixel.AppendUint32(nil, uint32(v)) }

// joint is a rigid load on a motor shaft, integrated as sim.Model does.
type joint struct {
	inertia, damping, friction float64
	pos, vel                   float64
}

// run steps the device and the joint for d seconds at 4 kHz.
func (j *joint) run(dev *actuator.Device, d float64) {
	const h = 250e-6
	for t := 0.0; t < d; t += h {
		tau := dev.Control(h, j.pos, j.vel)
		net := tau - j.damping*j.vel
		if j.vel != 0 || math.Abs(net) > j.friction {
			if j.vel > 0 || (j.vel == 0 && net > 0) {
				net -= j.friction
			} else {
				net += j.friction
			}
			j.vel += net / j.inertia * h
		}
		j.pos += j.vel * h
	}
}

// rad converts an encoder position (pulses, 2048 = 0 rad) to a shaft angle.
func rad(pulses float64) float64 { return (pulses - 2048) * 2 * math.Pi / 4096 }
