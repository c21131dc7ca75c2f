package dynamixel_test

import (
	"bytes"
	"testing"

	"github.com/anther-robotics/anther/drivers/dynamixel"
)

// st is a status packet with the given ID, ERR and params.
func st(id, errByte byte, params ...byte) dynamixel.Packet {
	return dynamixel.Packet{ID: id, Instruction: dynamixel.Status, Err: errByte, Params: params}
}

// in is an instruction packet.
func in(id byte, inst dynamixel.Instruction, params ...byte) dynamixel.Packet {
	return dynamixel.Packet{ID: id, Instruction: inst, Params: params}
}

// goldenCases pairs every vector in testdata/spec_vectors.txt with the
// encoder call that must produce it and the fields it must decode to.
var goldenCases = []struct {
	name string
	enc  func(dst []byte) []byte
	want dynamixel.Packet
}{
	{"ping_id1", func(d []byte) []byte { return dynamixel.AppendPing(d, 1) }, in(1, dynamixel.Ping)},
	{"ping_id1_status", func(d []byte) []byte { return dynamixel.AppendStatus(d, 1, 0, []byte{0x06, 0x04, 0x26}) }, st(1, 0, 0x06, 0x04, 0x26)},
	{"ping_broadcast", func(d []byte) []byte { return dynamixel.AppendPing(d, dynamixel.BroadcastID) }, in(0xFE, dynamixel.Ping)},
	{"ping_broadcast_status2", func(d []byte) []byte { return dynamixel.AppendStatus(d, 2, 0, []byte{0x06, 0x04, 0x26}) }, st(2, 0, 0x06, 0x04, 0x26)},
	{"read_pos_id1", func(d []byte) []byte { return dynamixel.AppendRead(d, 1, 132, 4) }, in(1, dynamixel.Read, 0x84, 0, 4, 0)},
	{"read_pos_id1_status", func(d []byte) []byte { return dynamixel.AppendStatus(d, 1, 0, []byte{0xA6, 0, 0, 0}) }, st(1, 0, 0xA6, 0, 0, 0)},
	{"write_goal_id1_512", func(d []byte) []byte { return dynamixel.AppendWrite(d, 1, 116, []byte{0, 2, 0, 0}) }, in(1, dynamixel.Write, 0x74, 0, 0, 2, 0, 0)},
	{"status_ok_id1", func(d []byte) []byte { return dynamixel.AppendStatus(d, 1, 0, nil) }, st(1, 0)},
	{"regwrite_vel_id1_200", func(d []byte) []byte { return dynamixel.AppendRegWrite(d, 1, 104, []byte{200, 0, 0, 0}) }, in(1, dynamixel.RegWrite, 0x68, 0, 0xC8, 0, 0, 0)},
	{"action_id1", func(d []byte) []byte { return dynamixel.AppendAction(d, 1) }, in(1, dynamixel.Action)},
	{"factory_reset_id1_01", func(d []byte) []byte { return dynamixel.AppendFactoryReset(d, 1, dynamixel.ResetExceptID) }, in(1, dynamixel.FactoryReset, 0x01)},
	{"reboot_id1", func(d []byte) []byte { return dynamixel.AppendReboot(d, 1) }, in(1, dynamixel.Reboot)},
	{"clear_multiturn_id1", func(d []byte) []byte { return dynamixel.AppendClear(d, 1, dynamixel.ClearMultiTurn) }, in(1, dynamixel.Clear, 0x01, 0x44, 0x58, 0x4C, 0x22)},
	{"backup_store_id1", func(d []byte) []byte { return dynamixel.AppendControlTableBackup(d, 1, dynamixel.BackupStore) }, in(1, dynamixel.ControlTableBackup, 0x01, 0x43, 0x54, 0x52, 0x4C)},
	{"backup_restore_id1", func(d []byte) []byte { return dynamixel.AppendControlTableBackup(d, 1, dynamixel.BackupRestore) }, in(1, dynamixel.ControlTableBackup, 0x02, 0x43, 0x54, 0x52, 0x4C)},
	{"sync_read_pos_1_2", func(d []byte) []byte { return dynamixel.AppendSyncRead(d, 132, 4, []byte{1, 2}) }, in(0xFE, dynamixel.SyncRead, 0x84, 0, 4, 0, 1, 2)},
	{"sync_read_status_id2", func(d []byte) []byte { return dynamixel.AppendStatus(d, 2, 0, []byte{0x1F, 0x08, 0, 0}) }, st(2, 0, 0x1F, 0x08, 0, 0)},
	{"sync_write_goal_1_2", func(d []byte) []byte {
		return dynamixel.AppendSyncWrite(d, 116, 4, []byte{1, 2}, []byte{150, 0, 0, 0, 170, 0, 0, 0})
	}, in(0xFE, dynamixel.SyncWrite, 0x74, 0, 4, 0, 1, 0x96, 0, 0, 0, 2, 0xAA, 0, 0, 0)},
	{"fast_sync_read_3_7_4", func(d []byte) []byte { return dynamixel.AppendFastSyncRead(d, 132, 4, []byte{3, 7, 4}) }, in(0xFE, dynamixel.FastSyncRead, 0x84, 0, 4, 0, 3, 7, 4)},
	{"fast_sync_read_status", func(d []byte) []byte {
		return dynamixel.AppendFastStatus(d, []dynamixel.FastRecord{
			{ID: 3, Data: []byte{0xA6, 0, 0, 0}}, {ID: 7, Data: []byte{0x1F, 0x08, 0, 0}}, {ID: 4, Data: []byte{0xFF, 0x03, 0, 0}},
		})
	}, st(0xFE, 0, 0x03, 0xA6, 0, 0, 0, 0x84, 0x08, 0, 0x07, 0x1F, 0x08, 0, 0, 0x16, 0xCA, 0, 0x04, 0xFF, 0x03, 0, 0)},
	{"bulk_read_volt_temp", func(d []byte) []byte {
		return dynamixel.AppendBulkRead(d, []dynamixel.BulkReadReq{{ID: 1, Addr: 144, Size: 2}, {ID: 2, Addr: 146, Size: 1}})
	}, in(0xFE, dynamixel.BulkRead, 1, 0x90, 0, 2, 0, 2, 0x92, 0, 1, 0)},
	{"bulk_read_status_id1", func(d []byte) []byte { return dynamixel.AppendStatus(d, 1, 0, []byte{119, 0}) }, st(1, 0, 0x77, 0)},
	{"bulk_read_status_id2", func(d []byte) []byte { return dynamixel.AppendStatus(d, 2, 0, []byte{36}) }, st(2, 0, 0x24)},
	{"bulk_write_1_2", func(d []byte) []byte {
		return dynamixel.AppendBulkWrite(d, []dynamixel.BulkWriteReq{{ID: 1, Addr: 32, Data: []byte{160, 0}}, {ID: 2, Addr: 31, Data: []byte{80}}})
	}, in(0xFE, dynamixel.BulkWrite, 1, 0x20, 0, 2, 0, 0xA0, 0, 2, 0x1F, 0, 1, 0, 0x50)},
	{"fast_bulk_read_3_7_4", func(d []byte) []byte {
		return dynamixel.AppendFastBulkRead(d, []dynamixel.BulkReadReq{{ID: 3, Addr: 132, Size: 4}, {ID: 7, Addr: 124, Size: 2}, {ID: 4, Addr: 146, Size: 1}})
	}, in(0xFE, dynamixel.FastBulkRead, 3, 0x84, 0, 4, 0, 7, 0x7C, 0, 2, 0, 4, 0x92, 0, 1, 0)},
	{"fast_bulk_read_status", func(d []byte) []byte {
		return dynamixel.AppendFastStatus(d, []dynamixel.FastRecord{
			{ID: 3, Data: []byte{0xA6, 0, 0, 0}}, {ID: 7, Data: []byte{0xA5, 0x01}}, {ID: 4, Data: []byte{0x1F}},
		})
	}, st(0xFE, 0, 0x03, 0xA6, 0, 0, 0, 0x67, 0xA4, 0, 0x07, 0xA5, 0x01, 0x24, 0x74, 0, 0x04, 0x1F)},
	{"fast_sync_read_ja40", func(d []byte) []byte { return dynamixel.AppendFastSyncRead(d, 580, 4, []byte{1, 2}) }, in(0xFE, dynamixel.FastSyncRead, 0x44, 0x02, 4, 0, 1, 2)},

	{"stuff_write_0254", func(d []byte) []byte { return dynamixel.AppendWrite(d, 1, 0x0254, []byte{0xFF, 0xFF, 0xFD, 0x00}) }, in(1, dynamixel.Write, 0x54, 0x02, 0xFF, 0xFF, 0xFD, 0x00)},
	{"stuff_write_0074", func(d []byte) []byte { return dynamixel.AppendWrite(d, 1, 0x0074, []byte{0xFF, 0xFF, 0xFD, 0x00}) }, in(1, dynamixel.Write, 0x74, 0x00, 0xFF, 0xFF, 0xFD, 0x00)},
	{"stuff_status_id1", func(d []byte) []byte { return dynamixel.AppendStatus(d, 1, 0, []byte{0xFF, 0xFF, 0xFD, 0x00}) }, st(1, 0, 0xFF, 0xFF, 0xFD, 0x00)},

	{"rustypot_ping_id2", func(d []byte) []byte { return dynamixel.AppendPing(d, 2) }, in(2, dynamixel.Ping)},
	{"rustypot_reboot_id2", func(d []byte) []byte { return dynamixel.AppendReboot(d, 2) }, in(2, dynamixel.Reboot)},
	{"rustypot_read_id1_2b", func(d []byte) []byte { return dynamixel.AppendRead(d, 1, 0x2B, 2) }, in(1, dynamixel.Read, 0x2B, 0, 2, 0)},
	{"godxl_read_id23", func(d []byte) []byte { return dynamixel.AppendRead(d, 0x23, 132, 4) }, in(0x23, dynamixel.Read, 0x84, 0, 4, 0)},
	{"godxl_status_ida6", func(d []byte) []byte { return dynamixel.AppendStatus(d, 0xA6, 0, []byte{0xA6, 0, 0, 0}) }, st(0xA6, 0, 0xA6, 0, 0, 0)},
	{"godxl_err80", func(d []byte) []byte { return dynamixel.AppendStatus(d, 1, 0x80, nil) }, st(1, 0x80)},
	{"godxl_err01", func(d []byte) []byte { return dynamixel.AppendStatus(d, 1, 0x01, nil) }, st(1, 0x01)},
	{"godxl_err02", func(d []byte) []byte { return dynamixel.AppendStatus(d, 1, 0x02, nil) }, st(1, 0x02)},
	{"godxl_err03", func(d []byte) []byte { return dynamixel.AppendStatus(d, 1, 0x03, nil) }, st(1, 0x03)},
	{"godxl_err04", func(d []byte) []byte { return dynamixel.AppendStatus(d, 1, 0x04, nil) }, st(1, 0x04)},
	{"godxl_err05", func(d []byte) []byte { return dynamixel.AppendStatus(d, 1, 0x05, nil) }, st(1, 0x05)},
	{"godxl_err06", func(d []byte) []byte { return dynamixel.AppendStatus(d, 1, 0x06, nil) }, st(1, 0x06)},
	{"godxl_err07", func(d []byte) []byte { return dynamixel.AppendStatus(d, 1, 0x07, nil) }, st(1, 0x07)},
	{"adammck_write_id1_2", func(d []byte) []byte { return dynamixel.AppendWrite(d, 1, 2, []byte{3, 4, 5}) }, in(1, dynamixel.Write, 2, 0, 3, 4, 5)},
	{"mini_sync_read_10_18", func(d []byte) []byte { return dynamixel.AppendSyncRead(d, 132, 4, miniIDs) }, in(0xFE, dynamixel.SyncRead, 0x84, 0, 4, 0, 10, 11, 12, 13, 14, 15, 16, 17, 18)},
	{"mini_fast_sync_read", func(d []byte) []byte { return dynamixel.AppendFastSyncRead(d, 132, 4, miniIDs) }, in(0xFE, dynamixel.FastSyncRead, 0x84, 0, 4, 0, 10, 11, 12, 13, 14, 15, 16, 17, 18)},
	{"mini_sync_write_11_16", func(d []byte) []byte {
		ids := []byte{11, 12, 13, 14, 15, 16}
		var data []byte
		for range ids {
			data = dynamixel.AppendUint32(data, 2048)
		}
		return dynamixel.AppendSyncWrite(d, 116, 4, ids, data)
	}, in(0xFE, dynamixel.SyncWrite, 0x74, 0, 4, 0,
		11, 0, 8, 0, 0, 12, 0, 8, 0, 0, 13, 0, 8, 0, 0, 14, 0, 8, 0, 0, 15, 0, 8, 0, 0, 16, 0, 8, 0, 0)},
	{"mini_torque_enable_id1", func(d []byte) []byte { return dynamixel.AppendWrite(d, 1, 64, []byte{1}) }, in(1, dynamixel.Write, 0x40, 0, 1)},
}

// miniIDs are Reachy Mini's motor IDs.
var miniIDs = []byte{10, 11, 12, 13, 14, 15, 16, 17, 18}

func TestGoldenEncode(t *testing.T) {
	vecs := vectorMap(t)
	seen := make(map[string]bool)
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			want, ok := vecs[c.name]
			if !ok {
				t.Fatalf("no vector %q in testdata", c.name)
			}
			seen[c.name] = true
			if got := c.enc(nil); !bytes.Equal(got, want) {
				t.Errorf("encode:\n got %s\nwant %s", fmtHex(got), fmtHex(want))
			}
			// Appending keeps what dst held.
			prefix := []byte{0xAA, 0xBB}
			if got := c.enc(prefix); !bytes.Equal(got[:2], prefix) || !bytes.Equal(got[2:], want) {
				t.Errorf("encode after prefix: got %s", fmtHex(got))
			}
			// With room in dst, the result shares its array.
			dst := make([]byte, 0, dynamixel.MaxPacket)
			if got := c.enc(dst); &got[0] != &dst[:1][0] {
				t.Errorf("encode reallocated although cap(dst) = %d", cap(dst))
			}
		})
	}
	for name := range vecs {
		if !seen[name] {
			t.Errorf("vector %q has no golden case", name)
		}
	}
}

func TestGoldenDecode(t *testing.T) {
	vecs := vectorMap(t)
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			wire := vecs[c.name]
			p, n, err := parseCopy(wire)
			if err != nil {
				t.Fatalf("ParsePacket: %v", err)
			}
			if n != len(wire) {
				t.Errorf("n = %d, want %d", n, len(wire))
			}
			if !samePacket(p, c.want) {
				t.Errorf("got %+v\nwant %+v", p, c.want)
			}
			// Re-encoding the decoded fields gives the wire bytes back.
			if got := dynamixel.AppendPacket(nil, p); !bytes.Equal(got, wire) {
				t.Errorf("re-encode:\n got %s\nwant %s", fmtHex(got), fmtHex(wire))
			}
			// The Decoder agrees with ParsePacket.
			var d dynamixel.Decoder
			d.Write(wire)
			q, err := d.Next()
			if err != nil || !samePacket(q, c.want) {
				t.Errorf("Decoder: %+v, %v", q, err)
			}
		})
	}
}

func TestErrata(t *testing.T) {
	// The e-Manual prints these CRCs; hardware.md §3.6 corrects them.
	vecs := vectorMap(t)
	for name, wrong := range map[string][2]byte{
		"backup_restore_id1":   {0x92, 0xF5},
		"fast_bulk_read_3_7_4": {0x20, 0xF2},
	} {
		b := bytes.Clone(vecs[name])
		copy(b[len(b)-2:], wrong[:])
		if _, _, err := dynamixel.ParsePacket(b); err != dynamixel.ErrCRC {
			t.Errorf("%s with the e-Manual's CRC: err = %v, want ErrCRC", name, err)
		}
	}
}

func TestCRC(t *testing.T) {
	tests := []struct {
		in   []byte
		want uint16
	}{
		{[]byte("123456789"), 0xFEE8}, // CRC-16/UMTS check value
		{[]byte{0xFF, 0xFF, 0xFD, 0x00, 0x2A, 0x03, 0x00, 0x01}, 0xD216},
		{nil, 0},
	}
	for _, tt := range tests {
		if got := dynamixel.UpdateCRC(0, tt.in); got != tt.want {
			t.Errorf("UpdateCRC(% X) = %#04x, want %#04x", tt.in, got, tt.want)
		}
		// Piecewise updates give the same result.
		for i := range tt.in {
			if got := dynamixel.UpdateCRC(dynamixel.UpdateCRC(0, tt.in[:i]), tt.in[i:]); got != tt.want {
				t.Errorf("split at %d: %#04x", i, got)
			}
		}
	}
	// UpdateCRC(0, {x}) is table entry x: check the ends the spec prints.
	table := func(x byte) uint16 { return dynamixel.UpdateCRC(0, []byte{x}) }
	for i, want := range []uint16{0x0000, 0x8005, 0x800F, 0x000A, 0x801B, 0x001E, 0x0014, 0x8011} {
		if got := table(byte(i)); got != want {
			t.Errorf("table[%d] = %#04x, want %#04x", i, got, want)
		}
	}
	if table(254) != 0x8207 || table(255) != 0x0202 {
		t.Errorf("table[254:] = %#04x %#04x, want 0x8207 0x0202", table(254), table(255))
	}
}
