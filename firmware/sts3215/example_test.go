package sts3215_test

import (
	"fmt"

	"github.com/anther-robotics/anther/drivers/feetech"
	"github.com/anther-robotics/anther/firmware/sts3215"
)

// A Device answers instruction packets as an STS3215 does and drives its
// shaft; here a PING and a READ of Present_Position with the shaft a
// quarter turn past the middle.
func Example() {
	d := sts3215.NewDevice(sts3215.DefaultMotor(), 1)
	d.Sense(3.14159265/2, 0)
	buf := make([]byte, 0, feetech.MaxPacket)
	for _, req := range [][]byte{
		feetech.AppendPing(nil, 1),
		feetech.AppendRead(nil, 1, feetech.PresentPosition.Addr(), feetech.PresentPosition.Size()),
	} {
		p, _, _ := feetech.ParsePacket(req, false)
		out, r := d.Handle(0, p, buf[:0])
		fmt.Printf("% X → % X (after %v)\n", req, out, r.Delay)
	}
	// Output:
	// FF FF 01 02 01 FB → FF FF 01 02 00 FC (after 500µs)
	// FF FF 01 04 02 38 02 BE → FF FF 01 04 00 00 0C EE (after 500µs)
}
