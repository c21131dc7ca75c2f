package actuator_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/anther-robotics/anther/drivers/dynamixel"
	"github.com/anther-robotics/anther/firmware/actuator"
)

// TestWriteFuzzCorpus rewrites the seed corpus of FuzzDeviceHandle when
// ANTHER_WRITE_CORPUS=1; otherwise it is skipped.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("ANTHER_WRITE_CORPUS") != "1" {
		t.Skip("set ANTHER_WRITE_CORPUS=1 to rewrite testdata/fuzz/FuzzDeviceHandle")
	}
	seeds := map[string][]byte{}
	for name, s := range map[string]string{
		"ping":           "FF FF FD 00 01 03 00 01 19 4E",
		"ping_broadcast": "FF FF FD 00 FE 03 00 01 31 42",
		"read_position":  "FF FF FD 00 01 07 00 02 84 00 04 00 1D 15",
		"write_goal":     "FF FF FD 00 01 09 00 03 74 00 00 02 00 00 CA 89",
		"reg_write":      "FF FF FD 00 01 09 00 04 68 00 C8 00 00 00 AE 8E",
		"action":         "FF FF FD 00 01 03 00 05 02 CE",
		"factory_reset":  "FF FF FD 00 01 04 00 06 01 A1 E6",
		"reboot":         "FF FF FD 00 01 03 00 08 2F 4E",
		"clear":          "FF FF FD 00 01 08 00 10 01 44 58 4C 22 B1 DC",
		"backup_store":   "FF FF FD 00 01 08 00 20 01 43 54 52 4C 16 F5",
		"backup_restore": "FF FF FD 00 01 08 00 20 02 43 54 52 4C 9E F5",
		"sync_read":      "FF FF FD 00 FE 09 00 82 84 00 04 00 01 02 CE FA",
		"sync_write":     "FF FF FD 00 FE 11 00 83 74 00 04 00 01 96 00 00 00 02 AA 00 00 00 82 87",
		"fast_sync_read": "FF FF FD 00 FE 0A 00 8A 84 00 04 00 03 07 04 20 F2",
		"bulk_read":      "FF FF FD 00 FE 0D 00 92 01 90 00 02 00 02 92 00 01 00 1A 05",
		"bulk_write":     "FF FF FD 00 FE 10 00 93 01 20 00 02 00 A0 00 02 1F 00 01 00 50 B7 68",
		"fast_bulk_read": "FF FF FD 00 FE 12 00 9A 03 84 00 04 00 07 7C 00 02 00 04 92 00 01 00 DA 2D",
		"torque_enable":  "FF FF FD 00 01 06 00 03 40 00 01 DB 66",
		"stuffed_write":  "FF FF FD 00 01 0A 00 03 74 00 FF FF FD FD 00 21 E7",
	} {
		seeds[name] = hx(t, s)
	}
	// Streams: set up a device, then move it, read it, break it.
	var s []byte
	s = dynamixel.AppendWrite(s, 1, actuator.AddrIndirectAddress1, []byte{132, 0, 133, 0, 134, 0, 135, 0})
	s = append(s, 0x00, 0xFF, 0xFF, 0xFD) // noise
	s = dynamixel.AppendWrite(s, 1, actuator.AddrOperatingMode, []byte{actuator.ModeVelocity})
	s = dynamixel.AppendWrite(s, 1, actuator.AddrTorqueEnable, []byte{1})
	s = dynamixel.AppendWrite(s, 2, actuator.AddrBusWatchdog, []byte{1})
	s = dynamixel.AppendSyncWrite(s, 104, 4, []byte{1, 2}, []byte{100, 0, 0, 0, 0x9C, 0xFF, 0xFF, 0xFF})
	s = dynamixel.AppendFastSyncRead(s, 126, 10, []byte{1, 2, 3})
	s = dynamixel.AppendRead(s, 1, 208, 4)
	s = dynamixel.AppendFastBulkRead(s, []dynamixel.BulkReadReq{{ID: 3, Addr: 0, Size: 252}, {ID: 1, Addr: 70, Size: 1}})
	s = dynamixel.AppendControlTableBackup(s, 1, dynamixel.BackupStore)
	s = dynamixel.AppendFactoryReset(s, 2, dynamixel.ResetExceptIDBaud)
	s = dynamixel.AppendReboot(s, dynamixel.BroadcastID)
	s = dynamixel.AppendPing(s, dynamixel.BroadcastID)
	seeds["stream_setup"] = s
	s = nil
	s = dynamixel.AppendWrite(s, 3, actuator.AddrStatusReturnLevel, []byte{0})
	s = dynamixel.AppendRegWrite(s, 1, actuator.AddrGoalPosition, []byte{0, 8, 0, 0})
	s = dynamixel.AppendAction(s, dynamixel.BroadcastID)
	s = dynamixel.AppendBulkWrite(s, []dynamixel.BulkWriteReq{{ID: 1, Addr: 64, Data: []byte{1}}, {ID: 2, Addr: 116, Data: []byte{0, 4, 0, 0}}})
	s = dynamixel.AppendBulkRead(s, []dynamixel.BulkReadReq{{ID: 1, Addr: 132, Size: 4}, {ID: 2, Addr: 0, Size: 700}})
	s = dynamixel.AppendClear(s, 1, dynamixel.ClearMultiTurn)
	s = dynamixel.AppendWrite(s, 1, actuator.AddrSecondaryID, []byte{9})
	s = dynamixel.AppendWrite(s, 9, actuator.AddrLED, []byte{1})
	s = dynamixel.AppendInstruction(s, 1, 0x07, []byte{1, 2, 3})
	s = dynamixel.AppendWrite(s, 1, actuator.AddrID, []byte{3})
	s = dynamixel.AppendSyncRead(s, 0, 4, []byte{3, 3, 1})
	seeds["stream_mixed"] = s

	dir := filepath.Join("testdata", "fuzz", "FuzzDeviceHandle")
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
