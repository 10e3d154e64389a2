package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/zaf/g711"
)

// Audio is 8 kHz 16-bit mono PCM, what prompts are kept as. Relay.Play reads Samples while it
// plays: they must not be modified then (one Audio may play on many calls at once).
type Audio struct{ Samples []int16 }

// Duration is how long a plays.
func (a *Audio) Duration() time.Duration {
	return time.Duration(len(a.Samples)) * (time.Second / SampleRate)
}

// SampleRate is the rate of an Audio and of the G.711 codecs.
const SampleRate = 8000

// ErrUnsupportedAudio is any input DecodeWAV cannot read; the wrapping error says why in
// terms a user can act on ("compressed format 0x0055 (MP3) is not supported: upload PCM WAV").
var ErrUnsupportedAudio = errors.New("unsupported audio")

// ErrTooLarge means the input is larger than DecodeWAV's maxBytes.
var ErrTooLarge = errors.New("audio file too large")

// The WAVE format tags DecodeWAV reads, and the names of a few it does not, for the error.
const (
	wavPCM        = 0x0001
	wavFloat      = 0x0003
	wavALaw       = 0x0006
	wavMuLaw      = 0x0007
	wavExtensible = 0xFFFE
)

var wavFormatNames = map[uint16]string{
	0x0002: "MS ADPCM",
	0x0011: "IMA ADPCM",
	0x0031: "GSM 6.10",
	0x0050: "MPEG",
	0x0055: "MP3",
	0x0161: "WMA",
	0xF1AC: "FLAC",
}

// wavGUIDTail is the KSDATAFORMAT_SUBTYPE_* GUID after its first two bytes (the format tag).
var wavGUIDTail = [14]byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

// Limits of what DecodeWAV accepts.
const (
	wavMaxChannels = 8
	wavMinRate     = SampleRate
	wavMaxRate     = 192000
	wavMaxFmt      = 1 << 10 // a fmt chunk is 16 to 40 bytes; more is not a WAVE we read
	wavStreamSize  = 0xFFFFFFFF
	wavBlock       = 32 << 10 // data is read and converted in blocks of this size
	wavPrealloc    = 1 << 20  // most mono frames preallocated from a declared size
)

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUnsupportedAudio}, args...)...)
}

// wavFormat is what a fmt chunk says, reduced to what decoding needs.
type wavFormat struct {
	tag      uint16 // wavPCM, wavFloat, wavALaw or wavMuLaw (extensible resolved)
	channels int
	rate     int
	width    int // bytes per sample of one channel (the container)
	bits     int // bits per sample as declared (12 in a 2-byte container, for one)
}

// DecodeWAV reads a RIFF WAVE file and converts it to an Audio (8 kHz 16-bit mono).
//
// Accepted: PCM (format 1, or WAVE_FORMAT_EXTENSIBLE with the PCM subformat) of 8 (unsigned),
// 16, 24 or 32 bits (signed; fewer valid bits in a container, such as 12 in 16, too), IEEE
// float (3, or extensible) of 32 or 64 bits, G.711 A-law (6) and mu-law (7); 1 to 8
// channels; 8000 to 192000 Hz. Channels are averaged. Other rates are resampled to 8 kHz by a
// windowed-sinc low-pass (see resample), and samples are clipped to 16 bits. Chunks other
// than fmt and data (LIST, fact, cue...) are skipped, with their pad byte when their size is
// odd; nothing after the data chunk is read. A data chunk of size 0xFFFFFFFF (written by
// encoders that stream to a pipe) runs to the end of the input.
//
// It reads at most maxBytes bytes and fails with an error wrapping ErrTooLarge beyond them;
// declared sizes never decide what is allocated (a data chunk that claims more than maxBytes
// fails before it is read). Anything it cannot read, a truncated file included, fails with
// an error wrapping ErrUnsupportedAudio; a read error of r is returned as is. The memory used
// is at most about 4 bytes per input frame besides the result.
//
// converted reports whether the input was anything other than 8 kHz 16-bit mono PCM, so that
// the caller can say the file was converted.
func DecodeWAV(r io.Reader, maxBytes int64) (a *Audio, converted bool, err error) {
	lr := &wavReader{r: r, max: maxBytes}
	var hdr [12]byte
	if err := lr.full(hdr[:]); err != nil {
		if errors.Is(err, ErrUnsupportedAudio) {
			return nil, false, unsupported("not a RIFF/WAVE file")
		}
		return nil, false, err
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		if string(hdr[0:4]) == "RIFX" || string(hdr[0:4]) == "RF64" {
			return nil, false, unsupported("%s files are not supported: upload a RIFF PCM WAV", hdr[0:4])
		}
		return nil, false, unsupported("not a RIFF/WAVE file")
	}
	var f *wavFormat
	for {
		var ch [8]byte
		if err := lr.full(ch[:]); err != nil {
			if errors.Is(err, ErrUnsupportedAudio) {
				if f == nil {
					return nil, false, unsupported("no fmt chunk")
				}
				return nil, false, unsupported("no data chunk")
			}
			return nil, false, err
		}
		id, size := string(ch[0:4]), int64(binary.LittleEndian.Uint32(ch[4:8]))
		switch id {
		case "fmt ":
			if f != nil {
				return nil, false, unsupported("two fmt chunks")
			}
			if size < 16 || size > wavMaxFmt {
				return nil, false, unsupported("fmt chunk of %d bytes", size)
			}
			buf := make([]byte, size+size%2)
			if err := lr.full(buf); err != nil {
				return nil, false, err
			}
			if f, err = parseWAVFormat(buf[:size]); err != nil {
				return nil, false, err
			}
		case "data":
			if f == nil {
				// RIFF puts fmt first; a file that does not cannot be decoded as it streams.
				return nil, false, unsupported("data chunk before the fmt chunk")
			}
			if size != wavStreamSize && size > maxBytes {
				return nil, false, fmt.Errorf("%w: %d bytes of audio, the limit is %d", ErrTooLarge, size, maxBytes)
			}
			mono, err := readWAVData(lr, f, size)
			if err != nil {
				return nil, false, err
			}
			a := &Audio{Samples: resample(mono, f.rate)}
			if len(a.Samples) == 0 {
				return nil, false, unsupported("no audio: the data chunk is empty")
			}
			converted = f.tag != wavPCM || f.width != 2 || f.bits != 16 || f.channels != 1 || f.rate != SampleRate
			return a, converted, nil
		default:
			if err := lr.skip(size + size%2); err != nil {
				return nil, false, err
			}
		}
	}
}

func parseWAVFormat(b []byte) (*wavFormat, error) {
	le := binary.LittleEndian
	tag := le.Uint16(b[0:])
	f := &wavFormat{
		tag:      tag,
		channels: int(le.Uint16(b[2:])),
		rate:     int(le.Uint32(b[4:])),
		bits:     int(le.Uint16(b[14:])),
	}
	block := int(le.Uint16(b[12:]))
	if tag == wavExtensible {
		if len(b) < 40 {
			return nil, unsupported("WAVE_FORMAT_EXTENSIBLE fmt chunk of %d bytes, 40 expected", len(b))
		}
		sub := le.Uint16(b[24:])
		if [14]byte(b[26:40]) != wavGUIDTail || (sub != wavPCM && sub != wavFloat) {
			return nil, unsupported("extensible subformat %x is not supported: upload PCM WAV", b[24:40])
		}
		f.tag = sub
		if valid := int(le.Uint16(b[18:])); valid > 0 && valid < f.bits {
			f.bits = valid
		}
	}
	switch f.tag {
	case wavPCM, wavFloat, wavALaw, wavMuLaw:
	default:
		name := wavFormatNames[f.tag]
		if name == "" {
			name = "unknown"
		}
		return nil, unsupported("compressed format 0x%04X (%s) is not supported: upload PCM WAV", f.tag, name)
	}
	if f.channels < 1 || f.channels > wavMaxChannels {
		return nil, unsupported("%d channels: 1 to %d are supported", f.channels, wavMaxChannels)
	}
	if f.rate < wavMinRate || f.rate > wavMaxRate {
		return nil, unsupported("sample rate %d Hz: %d to %d Hz are supported", f.rate, wavMinRate, wavMaxRate)
	}
	if block%f.channels != 0 {
		return nil, unsupported("block size %d for %d channels", block, f.channels)
	}
	f.width = block / f.channels
	ok := false
	switch f.tag {
	case wavPCM:
		ok = f.width >= 1 && f.width <= 4 && f.bits >= 1 && f.bits <= 8*f.width
	case wavFloat:
		ok = (f.width == 4 || f.width == 8) && f.bits == 8*f.width
	case wavALaw, wavMuLaw:
		ok = f.width == 1 && f.bits == 8
	}
	if !ok {
		return nil, unsupported("%d-bit samples in %d-byte blocks of %d channels are not supported: use 8, 16, 24 or 32-bit PCM or 32/64-bit float",
			f.bits, block, f.channels)
	}
	return f, nil
}

// readWAVData reads a data chunk of size bytes (wavStreamSize: to the end of the input) and
// returns its frames as mono samples in [-1, 1]. A trailing partial frame is ignored.
func readWAVData(lr *wavReader, f *wavFormat, size int64) ([]float32, error) {
	frame := f.width * f.channels
	toEOF := size == wavStreamSize
	prealloc := int64(wavBlock)
	if !toEOF {
		prealloc = min(size/int64(frame), wavPrealloc)
	}
	mono := make([]float32, 0, prealloc)
	buf := make([]byte, wavBlock-wavBlock%frame)
	for remaining := size; toEOF || remaining > 0; {
		n := int64(len(buf))
		if !toEOF {
			n = min(n, remaining)
		}
		got, err := lr.read(buf[:n]) // whole frames, but at the end of the chunk or input
		for b := buf[:got-got%frame]; len(b) > 0; b = b[frame:] {
			mono = append(mono, f.frame(b))
		}
		remaining -= int64(got)
		switch {
		case err == io.EOF && toEOF:
			return mono, nil
		case err == io.EOF:
			return nil, unsupported("truncated: the data chunk declares %d bytes, the file holds %d", size, size-remaining)
		case err != nil:
			return nil, err
		}
	}
	return mono, nil
}

// frame converts one frame (f.channels samples) to a mono sample in [-1, 1].
func (f *wavFormat) frame(b []byte) float32 {
	var sum float64
	for c := range f.channels {
		sum += f.sample(b[c*f.width:])
	}
	v := sum / float64(f.channels)
	switch {
	case v != v: // NaN
		return 0
	case v > 1:
		return 1
	case v < -1:
		return -1
	}
	return float32(v)
}

// sample converts one channel's sample to [-1, 1] (float input may exceed it).
func (f *wavFormat) sample(b []byte) float64 {
	le := binary.LittleEndian
	switch f.tag {
	case wavMuLaw:
		return float64(g711.DecodeUlawFrame(b[0])) / 32768
	case wavALaw:
		return float64(g711.DecodeAlawFrame(b[0])) / 32768
	case wavFloat:
		if f.width == 8 {
			return math.Float64frombits(le.Uint64(b))
		}
		return float64(math.Float32frombits(le.Uint32(b)))
	}
	switch f.width {
	case 1:
		return float64(int(b[0])-128) / 128
	case 2:
		return float64(int16(le.Uint16(b))) / (1 << 15)
	case 3:
		return float64(int32(uint32(b[0])<<8|uint32(b[1])<<16|uint32(b[2])<<24)) / (1 << 31)
	default:
		return float64(int32(le.Uint32(b))) / (1 << 31)
	}
}

// wavReader reads at most max bytes of r and maps running out of input to
// ErrUnsupportedAudio (truncated) and going over max to ErrTooLarge.
type wavReader struct {
	r    io.Reader
	n    int64 // bytes read so far
	max  int64
	over bool
}

// read reads up to len(p) bytes, fewer only at the end of the input (io.EOF) or on an error.
func (l *wavReader) read(p []byte) (int, error) {
	if l.max-l.n < int64(len(p)) {
		// Read one byte past the limit to tell a file of exactly max bytes from a larger one.
		n, err := io.ReadFull(l.r, p[:max(l.max-l.n, 0)])
		l.n += int64(n)
		if err != nil {
			return n, eof(err)
		}
		var one [1]byte
		if m, _ := io.ReadFull(l.r, one[:]); m > 0 {
			l.over = true
			return n, fmt.Errorf("%w: larger than %d bytes", ErrTooLarge, l.max)
		}
		return n, io.EOF
	}
	n, err := io.ReadFull(l.r, p)
	l.n += int64(n)
	if err != nil {
		return n, eof(err)
	}
	return n, nil
}

// eof maps the two ends of input io.ReadFull reports to io.EOF.
func eof(err error) error {
	if err == io.ErrUnexpectedEOF {
		return io.EOF
	}
	return err
}

// full fills p; running out of input is ErrUnsupportedAudio (truncated).
func (l *wavReader) full(p []byte) error {
	n, err := l.read(p)
	if n == len(p) {
		return nil
	}
	if err == io.EOF {
		return unsupported("truncated after %d bytes", l.n)
	}
	return err
}

// skip discards n bytes.
func (l *wavReader) skip(n int64) error {
	var buf [4096]byte
	for n > 0 {
		k := min(n, int64(len(buf)))
		if err := l.full(buf[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// EncodeWAV writes a as a canonical PCM WAV: a 44-byte header (RIFF, fmt of 16 bytes, data)
// and 8 kHz 16-bit mono samples.
func EncodeWAV(w io.Writer, a *Audio) error {
	data := 2 * int64(len(a.Samples))
	if data > math.MaxUint32-36 {
		return fmt.Errorf("encode wav: %d samples do not fit in a WAV file", len(a.Samples))
	}
	b := make([]byte, 44+data)
	le := binary.LittleEndian
	copy(b[0:], "RIFF")
	le.PutUint32(b[4:], uint32(36+data))
	copy(b[8:], "WAVEfmt ")
	le.PutUint32(b[16:], 16)
	le.PutUint16(b[20:], wavPCM)
	le.PutUint16(b[22:], 1)
	le.PutUint32(b[24:], SampleRate)
	le.PutUint32(b[28:], 2*SampleRate)
	le.PutUint16(b[32:], 2)
	le.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	le.PutUint32(b[40:], uint32(data))
	for i, s := range a.Samples {
		le.PutUint16(b[44+2*i:], uint16(s))
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("encode wav: %w", err)
	}
	return nil
}

// Resampler: a windowed-sinc low-pass evaluated at each output instant (bandlimited
// interpolation, as libresample and SoX's "rate" do) rather than linear interpolation:
// decimating 44.1 or 48 kHz speech to 8 kHz needs a real low-pass, or everything between
// 4 kHz and the input's Nyquist frequency folds back into the telephone band as noise.
//
//   - Kaiser window, beta 8, 24 zero crossings each side, cut-off (-6 dB) at 3800 Hz.
//     Measured: -0.1 dB at 3.5 kHz (the telephone band ends at 3.4), -6 dB at 3.8, -38 dB
//     at 4.1 and -77 dB or lower from 4.2 kHz on. What folds back is either from 4 to
//     4.2 kHz, landing at 3.8 to 4 kHz, above the telephone band, or 77 dB down.
//   - The kernel is tabulated (128 points per zero crossing, linearly interpolated: error
//     below -80 dB). The output instants fall on 8000/gcd(rate, 8000) phases between input
//     samples (1 at 48 kHz, 80 at 44.1 kHz); the filter of each phase is computed once when
//     they fit in 4 MiB, else for each output sample (odd rates such as 44056 Hz): any rate
//     works.
//   - Cost: a dot product of 24*rate/3800 taps per output sample (about 300 at 48 kHz); a
//     minute of 48 kHz stereo converts in about 0.2 s here, once, when it is uploaded.
const (
	rsCutoff   = 3800.0
	rsZeros    = 24
	rsBeta     = 8.0
	rsRes      = 128
	rsMaxTable = 1 << 20 // coefficients of the per-phase filters
)

// rsKernel[i] is the windowed sinc at i/rsRes zero crossings from the centre.
var rsKernel = func() []float64 {
	k := make([]float64, rsZeros*rsRes+2)
	i0beta := besselI0(rsBeta)
	for i := range rsZeros * rsRes {
		u := float64(i) / rsRes
		sinc := 1.0
		if u > 0 {
			sinc = math.Sin(math.Pi*u) / (math.Pi * u)
		}
		t := u / rsZeros
		k[i] = sinc * besselI0(rsBeta*math.Sqrt(1-t*t)) / i0beta
	}
	return k
}()

// besselI0 is the modified Bessel function of the first kind, order 0 (power series).
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 100; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < sum*1e-17 {
			break
		}
	}
	return sum
}

// resample converts mono samples in [-1, 1] at rate (>= 8000) to 16-bit samples at 8 kHz,
// rounding and clipping. At 8 kHz the samples are only quantised.
func resample(in []float32, rate int) []int16 {
	if rate == SampleRate {
		out := make([]int16, len(in))
		for i, v := range in {
			out[i] = quantize(float64(v))
		}
		return out
	}
	out := make([]int16, int64(len(in))*SampleRate/int64(rate))
	step := 2 * rsCutoff / float64(rate) // kernel zero crossings per input sample
	half := int(math.Ceil(rsZeros / step))
	ntaps := 2*half + 2 // input samples c-half .. c+half+1 around an instant in [c, c+1)
	g := gcd(rate, SampleRate)
	phases := SampleRate / g
	var table []float32
	if phases*ntaps <= rsMaxTable {
		table = make([]float32, phases*ntaps)
		for p := range phases {
			rsFilter(table[p*ntaps:(p+1)*ntaps], float64(p)/float64(phases), half, step)
		}
	}
	scratch := make([]float32, ntaps)
	for j := range out {
		pos := int64(j) * int64(rate)
		c, rem := int(pos/SampleRate), int(pos%SampleRate) // the instant is c + rem/8000
		h := scratch
		if table != nil {
			p := rem / g
			h = table[p*ntaps : (p+1)*ntaps]
		} else {
			rsFilter(h, float64(rem)/SampleRate, half, step)
		}
		lo := c - half
		var sum float64
		if lo >= 0 && lo+ntaps <= len(in) {
			x := in[lo : lo+ntaps]
			for i, v := range h {
				sum += float64(x[i]) * float64(v)
			}
		} else { // the edges: samples outside the input are silence
			for i, v := range h {
				if k := lo + i; k >= 0 && k < len(in) {
					sum += float64(in[k]) * float64(v)
				}
			}
		}
		out[j] = quantize(sum)
	}
	return out
}

// rsFilter fills h with the low-pass for an output instant frac (0 <= frac < 1) after the
// input sample h[half], scaled for unity gain.
func rsFilter(h []float32, frac float64, half int, step float64) {
	for i := range h {
		u := math.Abs(float64(i-half)-frac) * step * rsRes
		k := int(u)
		if k >= rsZeros*rsRes {
			h[i] = 0
			continue
		}
		f := u - float64(k)
		h[i] = float32(step * (rsKernel[k] + f*(rsKernel[k+1]-rsKernel[k])))
	}
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func quantize(v float64) int16 {
	x := math.Round(v * 32768)
	switch {
	case x > math.MaxInt16:
		return math.MaxInt16
	case x < math.MinInt16:
		return math.MinInt16
	}
	return int16(x)
}
