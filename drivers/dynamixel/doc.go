// Package dynamixel is the pure packet codec for ROBOTIS Dynamixel
// Protocol 2.0: framing, CRC-16, byte stuffing, status decoding and the
// FAST SYNC/BULK READ reply layout.
//
// The package does no I/O. The bus code (host side) and the firmware and
// simulator (device side) move the bytes; this package only turns values into
// wire bytes and wire bytes back into values.
//
// # Encoding
//
// Every Append function encodes one whole packet,
//
//	FF FF FD 00 | ID | LEN_L LEN_H | INST | PARAMS (stuffed) | CRC_L CRC_H
//
// onto the end of a caller-owned slice and returns the extended slice, as
// strconv.AppendInt does. When cap(dst) is large enough nothing is
// allocated, so a driver keeps one buffer of MaxPacket bytes and reuses it
// every tick:
//
//	tx = dynamixel.AppendSyncWrite(tx[:0], 116, 4, ids, goals)
//
// The Append functions panic only on programmer errors that cannot be
// encoded at all: a length field above 0xFFFF, or a SYNC WRITE whose data is
// not len(ids)*size bytes. They do not enforce MaxPacket; keep packets within
// it if this package (or a Decoder) is to read them back.
//
// # Byte stuffing
//
// On transmit, wherever FF FF FD occurs in the region from the instruction
// byte to the last parameter, an extra FD is inserted; LEN and the CRC cover
// the stuffed bytes. On receive the CRC is checked over the stuffed bytes and
// the extra FD is then removed. The un-stuffing is lenient, like ROBOTIS'
// DynamixelSDK: an FF FF FD that is not followed by the extra FD is kept as it
// is (the CRC already vouches for the bytes).
//
// FAST SYNC READ and FAST BULK READ replies are sent without stuffing. Such a
// reply is the only status packet whose ID is BroadcastID (0xFE), so by
// default (StuffingAuto) the codec recognises it by that ID and neither
// stuffs nor un-stuffs it: AppendStatus and AppendFastStatus with
// BroadcastID write raw parameters, and ParsePacket and Decoder leave them
// raw. No per-transaction flag is needed. A peer that stuffs its fast replies
// anyway can be read with StuffingAlways (see Stuffing).
//
// # Decoding
//
// ParsePacket decodes one packet from the start of a slice and un-stuffs the
// parameters in place. Decoder is the streaming form: the bus writes the
// received bytes into it in chunks of any size, and Next returns whole
// packets, skipping garbage and re-synchronising after damaged packets. It
// holds a fixed array (no growth, no allocation) and never panics.
//
// A Packet's Params aliases the buffer it was decoded from: it is valid until
// that buffer is changed (for a Decoder, until its next Write or Reset).
// Copy what must outlive that.
//
// # Real-time use
//
// Encoding, ParsePacket, Decoder.Write, Decoder.Next and FastReader do no
// allocation and run in time linear in the packet size. The codec files use
// no fmt, reflect or maps, so the package also builds with TinyGo for the
// firmware.
package dynamixel
