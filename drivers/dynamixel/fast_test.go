package dynamixel_test

import (
	"testing"

	"github.com/anther-robotics/anther/drivers/dynamixel"
)

func TestFastReaderSpec(t *testing.T) {
	vecs := vectorMap(t)
	type rec struct {
		id    byte
		size  int
		value uint32
	}
	tests := []struct {
		name string
		recs []rec
	}{
		// §3.6: FAST SYNC READ of Present Position from IDs 3, 7, 4.
		{"fast_sync_read_status", []rec{{3, 4, 166}, {7, 4, 2079}, {4, 4, 1023}}},
		// §3.6: FAST BULK READ of position(4), PWM(2), temperature(1).
		{"fast_bulk_read_status", []rec{{3, 4, 166}, {7, 2, 421}, {4, 1, 31}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _, err := parseCopy(vecs[tt.name])
			if err != nil {
				t.Fatal(err)
			}
			fr := dynamixel.NewFastReader(p)
			for _, want := range tt.recs {
				if fr.Done() {
					t.Fatal("Done before the last record")
				}
				r, err := fr.Next(want.size)
				if err != nil {
					t.Fatal(err)
				}
				var v uint32
				for i, b := range r.Data {
					v |= uint32(b) << (8 * i)
				}
				if r.ID != want.id || r.Err != 0 || v != want.value {
					t.Errorf("record = {ID %d Err %#x value %d}, want {ID %d value %d}", r.ID, r.Err, v, want.id, want.value)
				}
			}
			if !fr.Done() {
				t.Error("not Done after the last record")
			}
		})
	}
}

func TestFastReaderErrors(t *testing.T) {
	vecs := vectorMap(t)
	// Not a status packet.
	p, _, _ := parseCopy(vecs["fast_sync_read_3_7_4"])
	fr := dynamixel.NewFastReader(p)
	if _, err := fr.Next(4); err != dynamixel.ErrNotStatus {
		t.Errorf("instruction packet: %v, want ErrNotStatus", err)
	}
	// Wrong size: the second record no longer fits, and the reader stays put.
	p, _, _ = parseCopy(vecs["fast_sync_read_status"])
	fr = dynamixel.NewFastReader(p)
	if _, err := fr.Next(4); err != nil {
		t.Fatal(err)
	}
	if _, err := fr.Next(13); err != dynamixel.ErrLength {
		t.Errorf("oversized record: %v, want ErrLength", err)
	}
	if _, err := fr.Next(int(^uint(0) >> 1)); err != dynamixel.ErrLength {
		t.Errorf("huge size: %v, want ErrLength", err)
	}
	if _, err := fr.Next(-1); err != dynamixel.ErrLength {
		t.Errorf("negative size: %v, want ErrLength", err)
	}
	if r, err := fr.Next(4); err != nil || r.ID != 7 {
		t.Errorf("after errors: %+v, %v", r, err)
	}
	// Fewer bytes than the separator.
	fr = dynamixel.NewFastReader(dynamixel.Packet{Instruction: dynamixel.Status, Params: []byte{1, 2, 3}})
	fr.Next(2)
	if _, err := fr.Next(0); err != dynamixel.ErrLength || !fr.Done() {
		t.Errorf("separator: %v, Done %v", err, fr.Done())
	}
	// An empty status is no record at all.
	fr = dynamixel.NewFastReader(dynamixel.Packet{Instruction: dynamixel.Status})
	if _, err := fr.Next(0); err != dynamixel.ErrLength || fr.Done() {
		t.Errorf("empty: %v, Done %v", err, fr.Done())
	}
}

func TestFastRecordErrByte(t *testing.T) {
	// The first record's ERR is the packet's ERR; later ones are inline.
	wire := dynamixel.AppendFastStatus(nil, []dynamixel.FastRecord{
		{ID: 1, Err: 0x80, Data: []byte{1}}, {ID: 2, Err: 0x07, Data: []byte{2}},
	})
	p, _, err := parseCopy(wire)
	if err != nil || p.Err != 0x80 {
		t.Fatalf("p = %+v, %v", p, err)
	}
	fr := dynamixel.NewFastReader(p)
	r1, _ := fr.Next(1)
	r2, _ := fr.Next(1)
	if !r1.Alert() || r1.ErrNum() != 0 || r2.Alert() || r2.ErrNum() != dynamixel.ErrNumAccess {
		t.Errorf("r1 = %+v, r2 = %+v", r1, r2)
	}
}
