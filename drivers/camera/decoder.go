package camera

/*
#cgo pkg-config: libavcodec libavutil libswscale
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <libavcodec/avcodec.h>
#include <libavutil/error.h>
#include <libavutil/log.h>
#include <libswscale/swscale.h>

typedef struct {
	AVCodecContext *ctx;
	AVFrame *frame;
	AVPacket *pkt;
	struct SwsContext *sws;
	int64_t cpu_ns;
} anther_dec;

static int64_t anther_thread_cpu_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void anther_dec_free(anther_dec *d) {
	if (!d) return;
	if (d->sws) sws_freeContext(d->sws);
	av_packet_free(&d->pkt);
	av_frame_free(&d->frame);
	avcodec_free_context(&d->ctx);
	free(d);
}

static int anther_dec_open(anther_dec **out, int hevc, int threads) {
	av_log_set_level(AV_LOG_FATAL);
	const AVCodec *codec = avcodec_find_decoder(hevc ? AV_CODEC_ID_HEVC : AV_CODEC_ID_H264);
	if (!codec) return AVERROR_DECODER_NOT_FOUND;
	anther_dec *d = calloc(1, sizeof *d);
	if (!d) return AVERROR(ENOMEM);
	d->ctx = avcodec_alloc_context3(codec);
	d->frame = av_frame_alloc();
	d->pkt = av_packet_alloc();
	if (!d->ctx || !d->frame || !d->pkt) {
		anther_dec_free(d);
		return AVERROR(ENOMEM);
	}
	d->ctx->flags |= AV_CODEC_FLAG_LOW_DELAY;
	d->ctx->thread_count = threads;
	d->ctx->thread_type = FF_THREAD_SLICE;
	int err = avcodec_open2(d->ctx, codec, NULL);
	if (err < 0) {
		anther_dec_free(d);
		return err;
	}
	*out = d;
	return 0;
}

// anther_dec_decode sends one access unit (Annex-B, followed by
// AV_INPUT_BUFFER_PADDING_SIZE readable bytes) and returns 1 with the
// picture's size if one is ready, 0 if the decoder needs more input, or a
// negative AVERROR.
static int anther_dec_decode(anther_dec *d, uint8_t *data, int size, int *w, int *h) {
	int64_t t0 = anther_thread_cpu_ns();
	d->pkt->data = data;
	d->pkt->size = size;
	int err = avcodec_send_packet(d->ctx, d->pkt);
	d->pkt->data = NULL;
	d->pkt->size = 0;
	if (err < 0 && err != AVERROR(EAGAIN)) goto out;
	err = avcodec_receive_frame(d->ctx, d->frame);
	if (err == AVERROR(EAGAIN)) {
		err = 0;
	} else if (err == 0) {
		*w = d->frame->width;
		*h = d->frame->height;
		err = 1;
	}
out:
	d->cpu_ns += anther_thread_cpu_ns() - t0;
	return err;
}

// anther_dec_convert writes the picture from the last successful decode
// into dst (w*h*bpp bytes) as packed BGR24 (fmt 0), RGB24 (1) or GRAY8 (2).
static int anther_dec_convert(anther_dec *d, uint8_t *dst, int fmt) {
	int64_t t0 = anther_thread_cpu_ns();
	int w = d->frame->width, h = d->frame->height, bpp = 3;
	enum AVPixelFormat out = AV_PIX_FMT_BGR24;
	if (fmt == 1) out = AV_PIX_FMT_RGB24;
	if (fmt == 2) { out = AV_PIX_FMT_GRAY8; bpp = 1; }
	d->sws = sws_getCachedContext(d->sws, w, h, d->frame->format, w, h, out, SWS_BILINEAR, NULL, NULL, NULL);
	int err = 0;
	if (!d->sws) {
		err = AVERROR(EINVAL);
	} else {
		uint8_t *planes[4] = {dst, NULL, NULL, NULL};
		int strides[4] = {w * bpp, 0, 0, 0};
		sws_scale(d->sws, (const uint8_t *const *)d->frame->data, d->frame->linesize, 0, h, planes, strides);
	}
	av_frame_unref(d->frame);
	d->cpu_ns += anther_thread_cpu_ns() - t0;
	return err;
}

static void anther_av_err(int err, char *buf, int n) { av_strerror(err, buf, n); }
*/
import "C"

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/anther-robotics/anther/robot"
)

// padding is libavcodec's AV_INPUT_BUFFER_PADDING_SIZE: input buffers must
// have this many readable bytes past their end.
const padding = C.AV_INPUT_BUFFER_PADDING_SIZE

// Codec is a compressed video format the decoder handles.
type Codec int

// Codecs.
const (
	CodecH264 Codec = iota // H.264 / AVC
	CodecH265              // H.265 / HEVC
)

// String names the codec: "h264" or "h265".
func (c Codec) String() string {
	if c == CodecH265 {
		return "h265"
	}
	return "h264"
}

// Decoder turns Annex-B access units into packed BGR/RGB pictures with
// libavcodec (one decoder per stream, not safe for concurrent use). It is
// set for low delay: with slice threading and no B-frames, each access unit
// gives its picture at once.
type Decoder struct {
	d     *C.anther_dec
	codec Codec
	w, h  int
}

// ErrDecode wraps libavcodec's errors.
var ErrDecode = errors.New("camera: decode")

// NewDecoder opens a decoder for codec with the given number of slice
// threads (1 for the least latency and CPU per stream).
func NewDecoder(codec Codec, threads int) (*Decoder, error) {
	var d *C.anther_dec
	hevc := C.int(0)
	if codec == CodecH265 {
		hevc = 1
	}
	if rc := C.anther_dec_open(&d, hevc, C.int(max(threads, 1))); rc < 0 {
		return nil, fmt.Errorf("%w: open %s decoder: %s: %w", ErrDecode, codec, avErr(rc), ErrFatal)
	}
	return &Decoder{d: d, codec: codec}, nil
}

// Decode sends one access unit in Annex-B form. au must have
// DecoderPadding spare bytes of capacity past len(au) (AppendAnnexB leaves
// them); they are zeroed here. It reports whether a picture is ready and
// its size; take it with Convert before the next Decode.
func (d *Decoder) Decode(au []byte) (w, h int, ok bool, err error) {
	if len(au) == 0 {
		return 0, 0, false, nil
	}
	if cap(au)-len(au) < padding {
		return 0, 0, false, fmt.Errorf("%w: access unit needs %d bytes of spare capacity", ErrDecode, padding)
	}
	clear(au[len(au) : len(au)+padding])
	var cw, ch C.int
	rc := C.anther_dec_decode(d.d, (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(au))), C.int(len(au)), &cw, &ch)
	if rc < 0 {
		return 0, 0, false, fmt.Errorf("%w: %s", ErrDecode, avErr(rc))
	}
	if rc == 0 {
		return 0, 0, false, nil
	}
	d.w, d.h = int(cw), int(ch)
	return d.w, d.h, true, nil
}

// Convert writes the picture Decode reported into dst, which must hold
// w*h*f.BytesPerPixel() bytes, packed.
func (d *Decoder) Convert(dst []byte, f robot.PixelFormat) error {
	var cf C.int
	switch f {
	case robot.PixelBGR24:
		cf = 0
	case robot.PixelRGB24:
		cf = 1
	case robot.PixelGray8:
		cf = 2
	default:
		return fmt.Errorf("%w: format %s", ErrDecode, f)
	}
	if len(dst) < d.w*d.h*f.BytesPerPixel() || d.w == 0 {
		return fmt.Errorf("%w: buffer of %d bytes for %dx%d %s", ErrDecode, len(dst), d.w, d.h, f)
	}
	if rc := C.anther_dec_convert(d.d, (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(dst))), cf); rc < 0 {
		return fmt.Errorf("%w: convert: %s", ErrDecode, avErr(rc))
	}
	return nil
}

// Skip discards the picture Decode reported (when there is nowhere to put it).
func (d *Decoder) Skip() { C.av_frame_unref(d.d.frame) }

// CPU is the thread CPU time spent decoding and converting so far.
func (d *Decoder) CPU() time.Duration { return time.Duration(d.d.cpu_ns) }

// Close frees the decoder. It is idempotent.
func (d *Decoder) Close() {
	if d.d != nil {
		C.anther_dec_free(d.d)
		d.d = nil
	}
}

// DecoderPadding is the spare capacity Decode needs past an access unit.
const DecoderPadding = int(padding)

func avErr(rc C.int) string {
	var buf [128]C.char
	C.anther_av_err(rc, &buf[0], C.int(len(buf)))
	return C.GoString(&buf[0])
}
