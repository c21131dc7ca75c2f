package dynamixel_test

import (
	"testing"

	"github.com/anther-robotics/anther/drivers/dynamixel"
)

// nineGoals is 4 bytes of Goal Position for each of miniIDs.
func nineGoals() []byte {
	var data []byte
	for i := range miniIDs {
		data = dynamixel.AppendUint32(data, uint32(2048+100*i))
	}
	return data
}

// nineStatuses is the replies of miniIDs to a SYNC READ of the 10-byte
// block current(2) + velocity(4) + position(4); one carries stuffing.
func nineStatuses() []byte {
	var wire []byte
	for i, id := range miniIDs {
		params := []byte{0x10, 0x00, 0xFE, 0xFF, 0xFF, 0xFF, byte(i), 0x08, 0x00, 0x00}
		if i == 4 {
			params = []byte{0xFF, 0xFF, 0xFD, 0xFF, 0xFF, 0xFF, 0xFD, 0x08, 0x00, 0x00}
		}
		wire = dynamixel.AppendStatus(wire, id, 0, params)
	}
	return wire
}

func TestAllocsEncode(t *testing.T) {
	ids, data := miniIDs, nineGoals()
	buf := make([]byte, 0, dynamixel.MaxPacket)
	reqs := []dynamixel.BulkReadReq{{ID: 1, Addr: 132, Size: 4}, {ID: 2, Addr: 146, Size: 1}}
	wreqs := []dynamixel.BulkWriteReq{{ID: 1, Addr: 116, Data: data[:4]}, {ID: 2, Addr: 116, Data: data[4:8]}}
	recs := []dynamixel.FastRecord{{ID: 1, Data: data[:4]}, {ID: 2, Data: data[4:8]}}
	encoders := map[string]func(){
		"SyncWrite9":         func() { buf = dynamixel.AppendSyncWrite(buf[:0], 116, 4, ids, data) },
		"SyncRead9":          func() { buf = dynamixel.AppendSyncRead(buf[:0], 132, 4, ids) },
		"FastSyncRead9":      func() { buf = dynamixel.AppendFastSyncRead(buf[:0], 132, 4, ids) },
		"BulkRead":           func() { buf = dynamixel.AppendBulkRead(buf[:0], reqs) },
		"FastBulkRead":       func() { buf = dynamixel.AppendFastBulkRead(buf[:0], reqs) },
		"BulkWrite":          func() { buf = dynamixel.AppendBulkWrite(buf[:0], wreqs) },
		"Write":              func() { buf = dynamixel.AppendWrite(buf[:0], 1, 116, data[:4]) },
		"Read":               func() { buf = dynamixel.AppendRead(buf[:0], 1, 132, 4) },
		"Ping":               func() { buf = dynamixel.AppendPing(buf[:0], 1) },
		"Clear":              func() { buf = dynamixel.AppendClear(buf[:0], 1, dynamixel.ClearMultiTurn) },
		"ControlTableBackup": func() { buf = dynamixel.AppendControlTableBackup(buf[:0], 1, dynamixel.BackupStore) },
		"Status":             func() { buf = dynamixel.AppendStatus(buf[:0], 1, 0, data) },
		"FastStatus":         func() { buf = dynamixel.AppendFastStatus(buf[:0], recs) },
	}
	for name, enc := range encoders {
		if n := testing.AllocsPerRun(100, enc); n != 0 {
			t.Errorf("%s: %v allocations per run, want 0", name, n)
		}
	}
}

func TestAllocsDecode(t *testing.T) {
	wire := nineStatuses()
	d := new(dynamixel.Decoder)
	var sum int
	n := testing.AllocsPerRun(100, func() {
		d.Write(wire)
		for range miniIDs {
			p, err := d.Next()
			if err != nil {
				t.Fatal(err)
			}
			sum += int(dynamixel.Int32(p.Params[6:]))
		}
	})
	if n != 0 {
		t.Errorf("Decoder: %v allocations per run, want 0", n)
	}

	// ParsePacket and FastReader on a FAST SYNC READ reply of 9.
	recs := make([]dynamixel.FastRecord, len(miniIDs))
	for i, id := range miniIDs {
		recs[i] = dynamixel.FastRecord{ID: id, Data: []byte{0x10, 0x00, 0xFE, 0xFF, 0xFF, 0xFF, byte(i), 0x08, 0x00, 0x00}}
	}
	fast := dynamixel.AppendFastStatus(nil, recs)
	buf := make([]byte, len(fast))
	n = testing.AllocsPerRun(100, func() {
		copy(buf, fast)
		p, _, err := dynamixel.ParsePacket(buf)
		if err != nil {
			t.Fatal(err)
		}
		fr := dynamixel.NewFastReader(p)
		for range miniIDs {
			r, err := fr.Next(10)
			if err != nil {
				t.Fatal(err)
			}
			sum += int(dynamixel.Int32(r.Data[6:]))
		}
	})
	if n != 0 {
		t.Errorf("ParsePacket + FastReader: %v allocations per run, want 0", n)
	}
	_ = sum
}

func BenchmarkSyncWrite9(b *testing.B) {
	ids, data := miniIDs, nineGoals()
	buf := make([]byte, 0, dynamixel.MaxPacket)
	b.ReportAllocs()
	for b.Loop() {
		buf = dynamixel.AppendSyncWrite(buf[:0], 116, 4, ids, data)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecodeStatus9(b *testing.B) {
	wire := nineStatuses()
	d := new(dynamixel.Decoder)
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		d.Write(wire)
		for range miniIDs {
			if _, err := d.Next(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkFastSyncRead9(b *testing.B) {
	recs := make([]dynamixel.FastRecord, len(miniIDs))
	for i, id := range miniIDs {
		recs[i] = dynamixel.FastRecord{ID: id, Data: make([]byte, 10)}
	}
	wire := dynamixel.AppendFastStatus(nil, recs)
	d := new(dynamixel.Decoder)
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		d.Write(wire)
		p, err := d.Next()
		if err != nil {
			b.Fatal(err)
		}
		fr := dynamixel.NewFastReader(p)
		for range miniIDs {
			if _, err := fr.Next(10); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkCRC(b *testing.B) {
	for _, size := range []int{59, dynamixel.MaxPacket} {
		buf := make([]byte, size)
		for i := range buf {
			buf[i] = byte(i * 7)
		}
		b.Run(itoa(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				dynamixel.UpdateCRC(0, buf)
			}
		})
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
