package feetech_test

import (
	"errors"
	"fmt"

	"github.com/anther-robotics/anther/drivers/feetech"
)

// One tick of an SO-101 arm: command six goal positions with one
// SYNC_WRITE, then ask for the six present positions with one SYNC_READ.
// The buffers are allocated once, outside the tick.
func Example() {
	ids := []byte{1, 2, 3, 4, 5, 6}
	var (
		tx   [feetech.MaxPacket]byte
		data [6 * 2]byte
	)
	goals := [6]int{2048, 1024, 3072, 2048, 2048, 1500}
	for i, g := range goals {
		feetech.PutUint16(data[2*i:], feetech.EncodeSignMagnitude(g, 15))
	}
	pkt := feetech.AppendSyncWrite(tx[:0], feetech.GoalPosition.Addr(), feetech.GoalPosition.Size(), ids, data[:])
	fmt.Printf("sync write: % X\n", pkt)

	pkt = feetech.AppendSyncRead(tx[:0], feetech.PresentPosition.Addr(), feetech.PresentPosition.Size(), ids)
	fmt.Printf("sync read:  % X\n", pkt)
	// Output:
	// sync write: FF FF FE 16 83 2A 02 01 00 08 02 00 04 03 00 0C 04 00 08 05 00 08 06 DC 05 1E
	// sync read:  FF FF FE 0A 82 38 02 01 02 03 04 05 06 26
}

// The host side of a SYNC_READ: the replies arrive in pieces, with line
// noise in front.
func ExampleDecoder() {
	var rx []byte
	rx = append(rx, 0x00, 0xFF) // noise
	rx = feetech.AppendStatus(rx, 1, 0, feetech.PresentPosition.Append(nil, 2048))
	rx = feetech.AppendStatus(rx, 2, byte(feetech.StatusOverheat), feetech.PresentPosition.Append(nil, 1024))

	d := feetech.Decoder{Status: true}
	for _, chunk := range [][]byte{rx[:5], rx[5:13], rx[13:]} { // as read from the port
		d.Write(chunk)
		for {
			p, err := d.Next()
			if errors.Is(err, feetech.ErrNeedMore) {
				break
			}
			if err != nil {
				continue // corrupt frame dropped; d.Stats() counts it
			}
			fmt.Printf("id %d: position %d, status %v\n",
				p.ID, feetech.PresentPosition.Decode(p.Params), feetech.StatusError(p.Err).String())
		}
	}
	fmt.Printf("garbage bytes: %d\n", d.Stats().Garbage)
	// Output:
	// id 1: position 2048, status ok
	// id 2: position 1024, status overheat
	// garbage bytes: 2
}

// LeRobot's calibration stores Homing_Offset = position − 2047 as a signed
// number; the servo keeps it in sign-magnitude form with sign bit 11.
func ExampleEncodeSignMagnitude() {
	offset := 1023 - 2047
	raw := feetech.EncodeSignMagnitude(offset, 11)
	fmt.Printf("%d → %#04x → %d\n", offset, raw, feetech.DecodeSignMagnitude(raw, 11))
	fmt.Printf("write: % X\n", feetech.AppendWrite(nil, 1, feetech.HomingOffset.Addr(), feetech.HomingOffset.Append(nil, offset)))
	// Output:
	// -1024 → 0x0c00 → -1024
	// write: FF FF 01 05 03 1F 00 0C CB
}

func ExampleBaudTable() {
	for _, t := range []feetech.BaudTable{feetech.BaudTableSDK, feetech.BaudTableLeRobot} {
		r0, _ := t.Rate(0)
		r5, _ := t.Rate(5)
		fmt.Println(t, r0, r5)
	}
	// Output:
	// sdk 1000000 76800
	// lerobot 1000000 57600
}
