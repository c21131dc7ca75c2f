package dynamixel_test

import (
	"fmt"

	"github.com/anther-robotics/anther/drivers/dynamixel"
)

// A host reads Present Position (address 132, 4 bytes) from two motors
// with SYNC READ, and the replies come back through a Decoder in pieces.
func Example() {
	// Encode the request into a reusable buffer.
	tx := make([]byte, 0, dynamixel.MaxPacket)
	tx = dynamixel.AppendSyncRead(tx[:0], 132, 4, []byte{1, 2})
	fmt.Printf("tx % X\n", tx)

	// Bytes as a serial port might deliver them: noise, then the two
	// status packets split across reads.
	rx := []byte{
		0x00, 0xFF, // noise
		0xFF, 0xFF, 0xFD, 0x00, 0x01, 0x08, 0x00, 0x55, 0x00, 0xA6, 0x00, 0x00, 0x00, 0x8C, 0xC0,
		0xFF, 0xFF, 0xFD, 0x00, 0x02, 0x08, 0x00, 0x55, 0x00, 0x1F, 0x08, 0x00, 0x00, 0xBA, 0xBE,
	}
	var d dynamixel.Decoder
	for _, chunk := range [][]byte{rx[:9], rx[9:20], rx[20:]} {
		d.Write(chunk)
		for {
			p, err := d.Next()
			if err == dynamixel.ErrNeedMore {
				break
			}
			if err != nil {
				fmt.Println("skipped:", err)
				continue
			}
			if err := p.StatusError(); err != nil {
				fmt.Println("motor", p.ID, err)
				continue
			}
			fmt.Println("motor", p.ID, "position", dynamixel.Int32(p.Params))
		}
	}
	fmt.Printf("%+v\n", d.Stats())
	// Output:
	// tx FF FF FD 00 FE 09 00 82 84 00 04 00 01 02 CE FA
	// motor 1 position 166
	// motor 2 position 2079
	// {Packets:2 Garbage:2 CRCErrors:0 LengthErrors:0 IDErrors:0 Dropped:0}
}

// The reply to a FAST SYNC READ is one packet from BroadcastID holding a
// record per motor; FastReader walks it.
func ExampleFastReader() {
	reply := []byte{
		0xFF, 0xFF, 0xFD, 0x00, 0xFE, 0x19, 0x00, 0x55, 0x00,
		0x03, 0xA6, 0x00, 0x00, 0x00, 0x84, 0x08,
		0x00, 0x07, 0x1F, 0x08, 0x00, 0x00, 0x16, 0xCA,
		0x00, 0x04, 0xFF, 0x03, 0x00, 0x00, 0xD1, 0x9E,
	}
	p, _, err := dynamixel.ParsePacket(reply)
	if err != nil {
		fmt.Println(err)
		return
	}
	fr := dynamixel.NewFastReader(p)
	for range 3 {
		rec, err := fr.Next(4)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("motor", rec.ID, "position", dynamixel.Int32(rec.Data), "err", rec.StatusError())
	}
	fmt.Println("complete:", fr.Done())
	// Output:
	// motor 3 position 166 err <nil>
	// motor 7 position 2079 err <nil>
	// motor 4 position 1023 err <nil>
	// complete: true
}

// A device (firmware or simulator) answers a PING from an XM430-W210
// (model 1030, firmware 38).
func ExampleAppendStatus() {
	var model [2]byte
	dynamixel.PutUint16(model[:], 1030)
	tx := dynamixel.AppendStatus(nil, 1, 0, []byte{model[0], model[1], 38})
	fmt.Printf("% X\n", tx)
	// Output: FF FF FD 00 01 07 00 55 00 06 04 26 65 5D
}
