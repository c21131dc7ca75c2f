package actuator_test

import (
	"testing"
	"time"

	"github.com/anther-robotics/anther/drivers/dynamixel"
	"github.com/anther-robotics/anther/firmware/actuator"
)

// The seed corpus in testdata/fuzz/FuzzDeviceHandle holds the §3.6 worked
// instruction packets, one per instruction, and streams of them with noise
// (TestWriteFuzzCorpus writes them).

// FuzzDeviceHandle feeds arbitrary bytes through a Decoder to three
// devices (IDs 1, 2 and 3, of three models) and checks that Handle never
// panics and that every reply is a valid packet: a status from the
// device's ID, or a FAST record that joins into a valid combined status.
func FuzzDeviceHandle(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		devs := []*actuator.Device{
			actuator.NewDevice(actuator.XL330M288(), 1),
			actuator.NewDevice(actuator.XM430W350(), 2),
			actuator.NewDevice(actuator.XL430W250(), 3),
		}
		for _, d := range devs {
			d.Sense(0.3, 0)
		}
		var dec dynamixel.Decoder
		buf := make([]byte, 0, 4*dynamixel.MaxPacket)
		now := time.Duration(0)
		for len(data) > 0 {
			n := min(len(data), 61)
			dec.Write(data[:n])
			data = data[n:]
			for {
				p, err := dec.Next()
				if err == dynamixel.ErrNeedMore {
					break
				}
				if err != nil {
					continue
				}
				var recs []dynamixel.FastRecord
				for _, d := range devs {
					id := d.ID()
					out, r := d.Handle(now, p, buf[:0])
					switch r.Kind {
					case actuator.NoReply:
						if len(out) != 0 {
							t.Fatalf("no reply but %d bytes", len(out))
						}
					case actuator.StatusReply:
						q, m, err := dynamixel.ParsePacket(append([]byte(nil), out...))
						if err != nil || m != len(out) || q.Instruction != dynamixel.Status || q.ID != id {
							t.Fatalf("reply % X to %v: %+v, n %d, err %v", out, p.Instruction, q, m, err)
						}
					case actuator.FastReply:
						if len(out) < 2 || out[1] != id {
							t.Fatalf("fast record % X from %d", out, id)
						}
						recs = append(recs, dynamixel.FastRecord{Err: out[0], ID: out[1], Data: append([]byte(nil), out[2:]...)})
					default:
						t.Fatalf("reply kind %d", r.Kind)
					}
					if r.Delay < 0 || r.Delay > 508*time.Microsecond {
						t.Fatalf("return delay %v", r.Delay)
					}
					d.Control(1e-3, 0.3, 0)
				}
				if len(recs) > 0 {
					wire := dynamixel.AppendFastStatus(nil, recs)
					q, m, err := dynamixel.ParsePacket(wire)
					if err != nil || m != len(wire) || q.ID != dynamixel.BroadcastID {
						t.Fatalf("fast reply % X: n %d err %v", wire, m, err)
					}
				}
				now += time.Millisecond
			}
		}
	})
}
