package dynamixel_test

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/anther-robotics/anther/drivers/dynamixel"
)

// event is what one Decoder.Next call gave: a packet (params copied) or an
// error.
type event struct {
	p   dynamixel.Packet
	err error
}

// drain calls Next until ErrNeedMore and returns what it got.
func drain(tb testing.TB, d *dynamixel.Decoder) []event {
	tb.Helper()
	var evs []event
	for range 100000 {
		p, err := d.Next()
		if err == dynamixel.ErrNeedMore {
			return evs
		}
		p.Params = bytes.Clone(p.Params)
		evs = append(evs, event{p, err})
	}
	tb.Fatal("Next never returned ErrNeedMore")
	return nil
}

// feed writes all of b in chunks of the given sizes (cycled), draining as
// it goes, and returns every event.
func feed(tb testing.TB, d *dynamixel.Decoder, b []byte, chunks ...int) []event {
	tb.Helper()
	var evs []event
	for k := 0; len(b) > 0; k++ {
		n := len(b)
		if len(chunks) > 0 {
			n = min(n, max(1, chunks[k%len(chunks)]))
		}
		chunk := b[:n]
		b = b[n:]
		for len(chunk) > 0 {
			w, err := d.Write(chunk)
			chunk = chunk[w:]
			if err != nil && err != dynamixel.ErrBufferFull {
				tb.Fatalf("Write: %v", err)
			}
			evs = append(evs, drain(tb, d)...)
		}
	}
	return evs
}

// packetsOf keeps the packets of evs.
func packetsOf(evs []event) []dynamixel.Packet {
	var ps []dynamixel.Packet
	for _, e := range evs {
		if e.err == nil {
			ps = append(ps, e.p)
		}
	}
	return ps
}

// errorsOf keeps the errors of evs.
func errorsOf(evs []event) []error {
	var errs []error
	for _, e := range evs {
		if e.err != nil {
			errs = append(errs, e.err)
		}
	}
	return errs
}

func samePackets(a, b []dynamixel.Packet) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !samePacket(a[i], b[i]) {
			return false
		}
	}
	return true
}

// decodeAll parses each wire packet on its own, for expected values.
func decodeAll(tb testing.TB, wires ...[]byte) []dynamixel.Packet {
	var ps []dynamixel.Packet
	for _, w := range wires {
		p, _, err := parseCopy(w)
		if err != nil {
			tb.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

// garbage holds noise with near-headers but no FF FF FD 00.
var garbage = []byte{0x00, 0x13, 0xFF, 0xFF, 0xFF, 0xFD, 0xFD, 0xFF, 0xFF, 0xFD, 0x01, 0xFF, 0xFD, 0x00, 0xFF}

func TestDecoderGarbage(t *testing.T) {
	v := vectorMap(t)
	pkts := [][]byte{v["ping_id1_status"], v["stuff_status_id1"], v["fast_sync_read_status"], v["status_ok_id1"]}
	stream := cat(garbage, pkts[0], garbage, pkts[1], pkts[2], garbage[:4], pkts[3], garbage)
	var d dynamixel.Decoder
	evs := feed(t, &d, stream)
	if errs := errorsOf(evs); len(errs) != 0 {
		t.Errorf("errors: %v", errs)
	}
	if got, want := packetsOf(evs), decodeAll(t, pkts...); !samePackets(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	s := d.Stats()
	wantGarbage := uint64(3*len(garbage) + 4 - d.Buffered())
	if s.Packets != 4 || s.Garbage != wantGarbage {
		t.Errorf("stats = %+v, buffered %d; want 4 packets, %d garbage", s, d.Buffered(), wantGarbage)
	}
	// The trailing FF may start a header, so it is kept.
	if d.Buffered() != 1 {
		t.Errorf("Buffered = %d, want 1", d.Buffered())
	}
}

// testStream is several packets, garbage and a damaged packet.
func testStream(tb testing.TB) (stream []byte, want []dynamixel.Packet) {
	v := vectorMap(tb)
	bad := bytes.Clone(v["read_pos_id1_status"])
	bad[9] ^= 0x40
	good := [][]byte{v["ping_id1_status"], v["stuff_status_id1"], v["fast_bulk_read_status"], v["sync_write_goal_1_2"], v["bulk_read_status_id2"]}
	stream = cat(garbage[:5], good[0], good[1], bad, garbage, good[2], good[3], garbage[:9], good[4])
	return stream, decodeAll(tb, good...)
}

func TestDecoderEverySplit(t *testing.T) {
	stream, want := testStream(t)
	check := func(name string, evs []event) {
		t.Helper()
		if got := packetsOf(evs); !samePackets(got, want) {
			t.Fatalf("%s: got %d packets %+v\nwant %+v", name, len(got), got, want)
		}
		if errs := errorsOf(evs); len(errs) != 1 || errs[0] != dynamixel.ErrCRC {
			t.Fatalf("%s: errors %v, want one ErrCRC", name, errs)
		}
	}
	var d dynamixel.Decoder
	for i := range len(stream) + 1 {
		d.Reset()
		evs := feed(t, &d, stream[:i])
		evs = append(evs, feed(t, &d, stream[i:])...)
		check("split", evs)
	}
	d.Reset()
	check("byte by byte", feed(t, &d, stream, 1))
	r := rand.New(rand.NewPCG(7, 7))
	for range 500 {
		d.Reset()
		chunks := make([]int, 1+r.IntN(8))
		for i := range chunks {
			chunks[i] = 1 + r.IntN(40)
		}
		check("random chunks", feed(t, &d, stream, chunks...))
	}
}

func TestDecoderCRCThenGood(t *testing.T) {
	v := vectorMap(t)
	bad := bytes.Clone(v["read_pos_id1_status"])
	bad[len(bad)-1] ^= 0xFF
	good := v["sync_read_status_id2"]
	var d dynamixel.Decoder
	d.Write(cat(bad, good))
	if _, err := d.Next(); err != dynamixel.ErrCRC {
		t.Fatalf("first Next: %v, want ErrCRC", err)
	}
	p, err := d.Next()
	if err != nil || !samePacket(p, decodeAll(t, good)[0]) {
		t.Fatalf("second Next: %+v, %v", p, err)
	}
	if _, err := d.Next(); err != dynamixel.ErrNeedMore {
		t.Errorf("third Next: %v", err)
	}
	if s := d.Stats(); s.CRCErrors != 1 || s.Packets != 1 || s.Garbage != uint64(len(bad)) {
		t.Errorf("stats = %+v", s)
	}
}

func TestDecoderTruncated(t *testing.T) {
	v := vectorMap(t)
	// A header cut short, then the rest of it: one packet.
	var d dynamixel.Decoder
	pkt := v["ping_id1_status"]
	for _, cut := range []int{1, 2, 3, 4, 5, 7, 8} {
		d.Reset()
		d.Write(pkt[:cut])
		if _, err := d.Next(); err != dynamixel.ErrNeedMore || d.Buffered() != cut {
			t.Fatalf("cut %d: %v, Buffered %d", cut, err, d.Buffered())
		}
		d.Write(pkt[cut:])
		if p, err := d.Next(); err != nil || p.ID != 1 {
			t.Fatalf("cut %d: %+v, %v", cut, p, err)
		}
	}
	// A packet that lost its tail on the wire swallows the start of the next
	// one, fails its CRC, and the next one is still found.
	long := v["sync_write_goal_1_2"] // 24 bytes
	next := v["status_ok_id1"]       // 11 bytes
	d.Reset()
	evs := feed(t, &d, cat(long[:20], next, next))
	if got, want := packetsOf(evs), decodeAll(t, next, next); !samePackets(got, want) {
		t.Errorf("after truncated packet: got %+v, want %+v (errors %v)", got, want, errorsOf(evs))
	}
	// If nothing follows, the hidden packet waits until Resync.
	d.Reset()
	if evs := feed(t, &d, cat(long[:10], next)); len(evs) != 0 {
		t.Fatalf("events before Resync: %+v", evs)
	}
	if !d.Resync() {
		t.Fatal("Resync found no header")
	}
	if got := packetsOf(drain(t, &d)); !samePackets(got, decodeAll(t, next)) {
		t.Errorf("after Resync: %+v", got)
	}
	if d.Resync() {
		t.Error("second Resync discarded something")
	}
}

func TestDecoderBogusLength(t *testing.T) {
	good := vectorMap(t)["ping_id1_status"]
	var d dynamixel.Decoder
	for _, l := range []int{0, 1, 2, 0xFFFF, dynamixel.MaxPacket} {
		d.Reset()
		bogus := []byte{0xFF, 0xFF, 0xFD, 0x00, 0x01, byte(l), byte(l >> 8), 0x55}
		evs := feed(t, &d, cat(bogus, good))
		if errs := errorsOf(evs); len(errs) != 1 || errs[0] != dynamixel.ErrLength {
			t.Errorf("LEN %d: errors %v, want ErrLength", l, errs)
		}
		if got := packetsOf(evs); !samePackets(got, decodeAll(t, good)) {
			t.Errorf("LEN %d: packets %+v", l, got)
		}
		if s := d.Stats(); s.LengthErrors != 1 {
			t.Errorf("LEN %d: stats %+v", l, s)
		}
	}
	// A bad ID is skipped the same way.
	d.Reset()
	evs := feed(t, &d, cat([]byte{0xFF, 0xFF, 0xFD, 0x00, 0xFF}, good))
	if errs := errorsOf(evs); len(errs) != 1 || errs[0] != dynamixel.ErrID || len(packetsOf(evs)) != 1 {
		t.Errorf("bad ID: %+v", evs)
	}
}

func TestDecoderBufferFull(t *testing.T) {
	good := vectorMap(t)["ping_id1_status"]
	noise := bytes.Repeat([]byte{0x11}, 3*dynamixel.MaxPacket)
	var d dynamixel.Decoder
	n, err := d.Write(noise)
	if err != dynamixel.ErrBufferFull || n != 2*dynamixel.MaxPacket {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if s := d.Stats(); s.Dropped != uint64(len(noise)-n) {
		t.Errorf("Dropped = %d", s.Dropped)
	}
	// Draining makes room; a packet of MaxPacket bytes always fits.
	big := dynamixel.AppendWrite(nil, 1, 0, make([]byte, dynamixel.MaxPacket-12))
	evs := feed(t, &d, cat(noise[n:], big, good))
	if got := packetsOf(evs); !samePackets(got, decodeAll(t, big, good)) {
		t.Errorf("got %d packets, want 2", len(got))
	}
	// A full buffer of a half-received max packet and more still drains.
	d.Reset()
	evs = feed(t, &d, cat(big, big, big, good), 1500, 2*dynamixel.MaxPacket)
	if got := packetsOf(evs); len(got) != 4 {
		t.Errorf("got %d packets, want 4", len(got))
	}
}

func TestDecoderStuffing(t *testing.T) {
	// A fast reply holding FF FF FD FD: raw by default, un-stuffed on request.
	wire := dynamixel.AppendFastStatus(nil, []dynamixel.FastRecord{{ID: 1, Data: []byte{0xFF, 0xFF, 0xFD, 0xFD}}})
	var d dynamixel.Decoder
	d.Write(wire)
	if p, err := d.Next(); err != nil || len(p.Params) != 5 {
		t.Errorf("StuffingAuto: %+v, %v", p, err)
	}
	d.Stuffing = dynamixel.StuffingAlways
	d.Reset()
	if d.Stuffing != dynamixel.StuffingAlways {
		t.Error("Reset cleared Stuffing")
	}
	d.Write(wire)
	if p, err := d.Next(); err != nil || len(p.Params) != 4 {
		t.Errorf("StuffingAlways: %+v, %v", p, err)
	}
}

func TestDecoderReset(t *testing.T) {
	var d dynamixel.Decoder
	d.Write(garbage)
	d.Write([]byte{0xFF, 0xFF, 0xFD})
	drain(t, &d)
	d.Reset()
	if d.Buffered() != 0 || d.Stats() != (dynamixel.DecoderStats{}) {
		t.Errorf("after Reset: Buffered %d, stats %+v", d.Buffered(), d.Stats())
	}
	// The leftover FF FF FD is gone: this is not a packet.
	d.Write([]byte{0x00, 0x01, 0x04, 0x00, 0x55, 0x00, 0xA1, 0x0C})
	if _, err := d.Next(); err != dynamixel.ErrNeedMore {
		t.Errorf("Next after Reset: %v", err)
	}
}

func TestDecoderByteAccounting(t *testing.T) {
	// Every byte written is a packet byte, garbage, or still buffered.
	r := rand.New(rand.NewPCG(3, 4))
	g := newGen()
	var d dynamixel.Decoder
	var total, pktBytes uint64
	for range 2000 {
		var chunk []byte
		switch r.IntN(3) {
		case 0:
			chunk, _ = g.randomCase()
		case 1:
			chunk, _ = g.randomCase()
			chunk[r.IntN(len(chunk))] ^= byte(1 + r.IntN(255))
		default:
			chunk = g.bytes(30)
		}
		total += uint64(len(chunk))
		for _, e := range feed(t, &d, chunk) {
			if e.err == nil {
				pktBytes += uint64(len(dynamixel.AppendPacket(nil, e.p)))
			}
		}
	}
	s := d.Stats()
	if s.Dropped != 0 {
		t.Fatalf("dropped %d", s.Dropped)
	}
	if total != pktBytes+s.Garbage+uint64(d.Buffered()) {
		t.Errorf("written %d != packets %d + garbage %d + buffered %d", total, pktBytes, s.Garbage, d.Buffered())
	}
	if s.Packets < 500 || s.CRCErrors == 0 {
		t.Errorf("stats %+v: the mix is off", s)
	}
}

func TestDecoderParamsValidUntilWrite(t *testing.T) {
	wire := nineStatuses()
	var d dynamixel.Decoder
	d.Write(wire)
	var ps []dynamixel.Packet
	for range miniIDs {
		p, err := d.Next()
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p) // Params not copied
	}
	if _, err := d.Next(); err != dynamixel.ErrNeedMore {
		t.Fatal(err)
	}
	want := decodeAll(t, splitPackets(t, wire)...)
	if !samePackets(ps, want) {
		t.Errorf("Params changed by later Next calls:\n got %+v\nwant %+v", ps, want)
	}
}

// splitPackets cuts a run of whole packets into one slice per packet.
func splitPackets(tb testing.TB, b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		n := 7 + int(dynamixel.Uint16(b[5:]))
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}
