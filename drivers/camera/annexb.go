package camera

// NAL unit types this package looks at.
const (
	h264NALIDR = 5
	h264NALSPS = 7
	h264NALPPS = 8

	h265NALIRAPFirst = 16 // BLA_W_LP
	h265NALIRAPLast  = 21 // CRA_NUT
	h265NALVPS       = 32
	h265NALSPS       = 33
	h265NALPPS       = 34
)

// annexB turns the access units an RTP depacketizer yields (NAL units
// without start codes) into the Annex-B byte stream a decoder takes. It
// remembers the stream's parameter sets, from the session description and
// from the stream itself, and puts them in front of every random-access
// unit that lacks them: ffmpeg publishers send SPS/PPS only in the SDP.
// Until the first random-access unit, units are reported as not decodable.
type annexB struct {
	codec         Codec
	vps, sps, pps []byte // newest parameter sets, owned copies
	started       bool   // a random-access unit has been seen
}

// setParams stores parameter sets (nil ones are left unchanged).
func (a *annexB) setParams(vps, sps, pps []byte) {
	if vps != nil {
		a.vps = append(a.vps[:0], vps...)
	}
	if sps != nil {
		a.sps = append(a.sps[:0], sps...)
	}
	if pps != nil {
		a.pps = append(a.pps[:0], pps...)
	}
}

// nalType returns the NAL unit type of n (n is not empty).
func (a *annexB) nalType(n []byte) int {
	if a.codec == CodecH265 {
		return int(n[0]>>1) & 0x3f
	}
	return int(n[0]) & 0x1f
}

// appendAU appends au to dst[:0] in Annex-B form, parameter sets first if
// au is a random-access unit without them, and leaves DecoderPadding bytes
// of spare capacity. ok is false (and out empty) until the stream has
// reached a random-access unit, or if au holds no NAL unit.
func (a *annexB) appendAU(dst []byte, au [][]byte) (out []byte, ok bool) {
	random, hasVPS, hasSPS, hasPPS := false, false, false, false
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		switch t := a.nalType(n); {
		case a.codec == CodecH264 && t == h264NALIDR,
			a.codec == CodecH265 && t >= h265NALIRAPFirst && t <= h265NALIRAPLast:
			random = true
		case a.codec == CodecH265 && t == h265NALVPS:
			hasVPS = true
			a.vps = append(a.vps[:0], n...)
		case a.codec == CodecH264 && t == h264NALSPS, a.codec == CodecH265 && t == h265NALSPS:
			hasSPS = true
			a.sps = append(a.sps[:0], n...)
		case a.codec == CodecH264 && t == h264NALPPS, a.codec == CodecH265 && t == h265NALPPS:
			hasPPS = true
			a.pps = append(a.pps[:0], n...)
		}
	}
	if random {
		a.started = true
	}
	out = dst[:0]
	if !a.started {
		return out, false
	}
	if random {
		if a.codec == CodecH265 && !hasVPS && len(a.vps) > 0 {
			out = appendNAL(out, a.vps)
		}
		if !hasSPS && len(a.sps) > 0 {
			out = appendNAL(out, a.sps)
		}
		if !hasPPS && len(a.pps) > 0 {
			out = appendNAL(out, a.pps)
		}
	}
	for _, n := range au {
		if len(n) > 0 {
			out = appendNAL(out, n)
		}
	}
	if len(out) == 0 {
		return out, false
	}
	if cap(out)-len(out) < DecoderPadding {
		grown := make([]byte, len(out), 2*len(out)+DecoderPadding)
		copy(grown, out)
		out = grown
	}
	return out, true
}

// appendNAL appends a 4-byte start code and n.
func appendNAL(dst, n []byte) []byte {
	return append(append(dst, 0, 0, 0, 1), n...)
}
