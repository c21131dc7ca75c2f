package dynamixel_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/anther-robotics/anther/drivers/dynamixel"
)

// vector is one golden packet from testdata/spec_vectors.txt.
type vector struct {
	name  string
	bytes []byte
}

// loadVectors reads testdata/spec_vectors.txt in file order.
func loadVectors(tb testing.TB) []vector {
	tb.Helper()
	f, err := os.Open("testdata/spec_vectors.txt")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var vs []vector
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if !ok {
			tb.Fatalf("bad vector line %q", line)
		}
		vs = append(vs, vector{name, mustHex(tb, rest)})
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return vs
}

// vectorMap indexes loadVectors by name.
func vectorMap(tb testing.TB) map[string][]byte {
	m := make(map[string][]byte)
	for _, v := range loadVectors(tb) {
		if _, dup := m[v.name]; dup {
			tb.Fatalf("duplicate vector %q", v.name)
		}
		m[v.name] = v.bytes
	}
	return m
}

// mustHex decodes space-separated hex such as "FF FF FD 00".
func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		tb.Fatalf("hex %q: %v", s, err)
	}
	return b
}

// fmtHex formats b as space-separated upper-case hex, as the spec does.
func fmtHex(b []byte) string {
	var sb strings.Builder
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(strings.ToUpper(hex.EncodeToString([]byte{c})))
	}
	return sb.String()
}

// parseCopy parses a copy of b, leaving b intact (ParsePacket un-stuffs in
// place).
func parseCopy(b []byte) (dynamixel.Packet, int, error) {
	return dynamixel.ParsePacket(bytes.Clone(b))
}

// samePacket reports whether a and b have the same fields.
func samePacket(a, b dynamixel.Packet) bool {
	return a.ID == b.ID && a.Instruction == b.Instruction && a.Err == b.Err && bytes.Equal(a.Params, b.Params)
}

// rawPacket frames body (INST and everything up to the CRC) exactly as
// given, without stuffing, with a correct LEN and CRC.
func rawPacket(id byte, body ...byte) []byte {
	l := len(body) + 2
	b := append([]byte{0xFF, 0xFF, 0xFD, 0x00, id, byte(l), byte(l >> 8)}, body...)
	crc := dynamixel.UpdateCRC(0, b)
	return append(b, byte(crc), byte(crc>>8))
}
