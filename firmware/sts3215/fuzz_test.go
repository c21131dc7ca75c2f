package sts3215_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anther-robotics/anther/drivers/feetech"
	"github.com/anther-robotics/anther/firmware/sts3215"
)

// The seed corpus in testdata/fuzz/FuzzHandle holds the spec/hardware.md
// §4.1 instruction vectors, one per instruction, and streams of them with
// noise (TestWriteFuzzCorpus writes them).

// FuzzHandle feeds arbitrary bytes through a Decoder to three devices (IDs
// 1, 2 and 3) and checks that Handle never panics, that every reply is one
// valid status packet from the device's (pre-instruction) ID, that replies
// come only for unicast instructions, broadcast PING and SYNC_READ, and
// that the drive stays finite.
func FuzzHandle(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		devs := []*sts3215.Device{
			sts3215.NewDevice(sts3215.DefaultMotor(), 1),
			sts3215.NewDevice(sts3215.DefaultMotor(), 2),
			sts3215.NewDevice(sts3215.DefaultMotor(), 3),
		}
		pos := []float64{0.3, -1, 2}
		var dec feetech.Decoder
		buf := make([]byte, 0, feetech.MaxPacket)
		now := time.Duration(0)
		for len(data) > 0 {
			n := min(len(data), 53)
			dec.Write(data[:n])
			data = data[n:]
			for {
				p, err := dec.Next()
				if err == feetech.ErrNeedMore {
					break
				}
				if err != nil {
					continue
				}
				for i, d := range devs {
					id := d.ID()
					out, r := d.Handle(now, p, buf[:0])
					switch r.Kind {
					case sts3215.NoReply:
						if len(out) != 0 {
							t.Fatalf("no reply but %d bytes", len(out))
						}
					case sts3215.StatusReply:
						q, m, err := feetech.ParsePacket(append([]byte(nil), out...), true)
						if err != nil || m != len(out) || q.ID != id {
							t.Fatalf("reply % X to %v: %+v n %d err %v", out, p.Instruction, q, m, err)
						}
						if p.ID == feetech.BroadcastID && p.Instruction != feetech.Ping && p.Instruction != feetech.SyncRead {
							t.Fatalf("reply to broadcast %v", p.Instruction)
						}
					default:
						t.Fatalf("reply kind %d", r.Kind)
					}
					if r.Delay < 0 || r.Delay > 510*time.Microsecond {
						t.Fatalf("return delay %v", r.Delay)
					}
					tau := d.Control(1e-3, pos[i], 0)
					if math.IsNaN(tau) || math.IsInf(tau, 0) || math.Abs(tau) > 3*sts3215.DefaultMotor().StallTorque {
						t.Fatalf("torque %v", tau)
					}
				}
				now += time.Millisecond
			}
		}
	})
}

// TestWriteFuzzCorpus rewrites the seed corpus of FuzzHandle when
// ANTHER_WRITE_CORPUS=1; otherwise it is skipped.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("ANTHER_WRITE_CORPUS") != "1" {
		t.Skip("set ANTHER_WRITE_CORPUS=1 to rewrite testdata/fuzz/FuzzHandle")
	}
	seeds := map[string][]byte{}
	for name, s := range map[string]string{
		"ping":            "FF FF 01 02 01 FB",
		"read_position":   "FF FF 01 04 02 38 02 BE",
		"broadcast_id":    "FF FF FE 04 03 05 01 F4",
		"write_goal_time": "FF FF 01 09 03 2A 00 08 00 00 E8 03 D5",
		"action":          "FF FF FE 02 05 FA",
		"sync_write":      "FF FF FE 20 83 2A 06 01 00 08 00 00 E8 03 02 00 08 00 00 E8 03 03 00 08 00 00 E8 03 04 00 08 00 00 E8 03 58",
		"sync_read":       "FF FF FE 0A 82 38 02 01 02 03 04 05 06 26",
		"torque_enable":   "FF FF 01 04 03 28 01 CE",
		"goal_2048":       "FF FF 01 05 03 2A 00 08 C4",
		"reset_manual":    "FF FF 01 02 06 F6",
	} {
		seeds[name] = hx(t, s)
	}
	var s []byte
	s = feetech.AppendWrite(s, 1, feetech.Lock.Addr(), []byte{0})
	s = append(s, 0x00, 0xFF, 0xFF, 0x01) // noise
	s = feetech.AppendWrite(s, 1, feetech.HomingOffset.Addr(), feetech.HomingOffset.Append(nil, -1024))
	s = feetech.AppendWrite(s, 2, feetech.MinPositionLimit.Addr(), []byte{0xEE, 0x02, 0xE4, 0x0C})
	s = feetech.AppendWrite(s, 1, feetech.TorqueEnable.Addr(), []byte{1, 254})
	s = feetech.AppendSyncWrite(s, feetech.GoalPosition.Addr(), 2, []byte{1, 2, 3}, []byte{0, 8, 0, 4, 0xFF, 0x8F})
	s = feetech.AppendSyncRead(s, feetech.PresentPosition.Addr(), 8, []byte{3, 1, 2})
	s = feetech.AppendRegWrite(s, 3, feetech.GoalVelocity.Addr(), []byte{0xE8, 0x83})
	s = feetech.AppendAction(s)
	s = feetech.AppendWrite(s, 3, feetech.OperatingMode.Addr(), []byte{sts3215.ModeWheel})
	s = feetech.AppendWrite(s, 3, feetech.TorqueEnable.Addr(), []byte{sts3215.TorqueCentre})
	s = feetech.AppendInstruction(s, 2, feetech.OffsetCalibration, nil)
	s = feetech.AppendPing(s, feetech.BroadcastID)
	seeds["stream_setup"] = s
	s = nil
	s = feetech.AppendWrite(s, 2, feetech.ResponseStatusLevel.Addr(), []byte{0})
	s = feetech.AppendWrite(s, 2, feetech.ID.Addr(), []byte{7})
	s = feetech.AppendRead(s, 7, 0, 250)
	s = feetech.AppendWrite(s, 1, feetech.BaudRate.Addr(), []byte{7})
	s = feetech.AppendWrite(s, 3, feetech.OperatingMode.Addr(), []byte{sts3215.ModePWM})
	s = feetech.AppendWrite(s, 3, feetech.GoalTime.Addr(), []byte{0xE8, 0x07})
	s = feetech.AppendWrite(s, 1, feetech.Phase.Addr(), []byte{0x1C})
	s = feetech.AppendInstruction(s, 1, feetech.ResetSDK, nil)
	s = feetech.AppendInstruction(s, 3, 0x42, []byte{1, 2, 3})
	seeds["stream_mixed"] = s

	dir := filepath.Join("testdata", "fuzz", "FuzzHandle")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
