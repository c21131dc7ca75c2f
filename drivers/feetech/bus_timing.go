package feetech

import "time"

// WireTime is how long n bytes take on the wire at baud bits per second,
// 8N1 (ten bit times per byte).
func WireTime(n, baud int) time.Duration {
	if baud <= 0 {
		return 0
	}
	return time.Duration(int64(n) * 10 * int64(time.Second) / int64(baud))
}

// Packet sizes on the wire (no stuffing in this protocol).
func syncReadTxBytes(n int) int       { return PacketLen(2 + n) }
func syncReadRxBytes(n, size int) int { return n * PacketLen(size) }
func syncWriteBytes(n, size int) int  { return PacketLen(2 + n*(1+size)) }
func readTxBytes() int                { return PacketLen(2) }
func writeTxBytes(size int) int       { return PacketLen(1 + size) }

// Timing is a bus's model of one transaction's duration, used to set read
// timeouts: the wire time of the bytes, each reply's return delay and
// processing time, and a fixed allowance for the host side (USB latency,
// scheduling).
type Timing struct {
	Baud        int           // bits per second
	ReturnDelay time.Duration // each servo's Return_Delay_Time
	Processing  time.Duration // a servo's time to start answering, beyond the return delay
	Latency     time.Duration // host-side allowance: USB latency timer, scheduling
}

// Timeout is how long to wait for the replies of a transaction that puts
// tx then rx bytes on the wire, with replies servos answering.
func (t Timing) Timeout(tx, rx, replies int) time.Duration {
	return WireTime(tx+rx, t.Baud) + time.Duration(replies)*(t.ReturnDelay+t.Processing) + t.Latency
}

// SyncReadTimeout is the timeout of a SYNC_READ of size bytes from n
// servos.
func (t Timing) SyncReadTimeout(n, size int) time.Duration {
	return t.Timeout(syncReadTxBytes(n), syncReadRxBytes(n, size), n)
}
