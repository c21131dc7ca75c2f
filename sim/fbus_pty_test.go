//go:build linux

package sim_test

import (
	"context"
	"testing"

	"go.bug.st/serial"

	"github.com/anther-robotics/anther/drivers/feetech"
	"github.com/anther-robotics/anther/sim"
)

func TestFeetechPty(t *testing.T) {
	fb := so101Bus(t, sim.FeetechConfig{})
	pt, err := sim.NewPty(fb, sim.PtyConfig{})
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pt.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	sp, err := serial.Open(pt.Path(), &serial.Mode{BaudRate: 1000000})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	h := newFHost(t, sp)
	rs := h.txrx(feetech.AppendSyncRead(nil, 56, 8, []byte{1, 2, 3, 4, 5, 6}), 6)
	if len(rs) != 6 {
		t.Fatalf("%d replies over the pty", len(rs))
	}
}
