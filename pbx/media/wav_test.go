package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zaf/g711"
)

// WAV files are written byte by byte here, from the format's description, so that the
// decoder is not checked against itself.

// chunk is a RIFF chunk: id, size, body and the pad byte of an odd size.
func chunk(id string, body []byte) []byte {
	b := binary.LittleEndian.AppendUint32([]byte(id), uint32(len(body)))
	b = append(b, body...)
	if len(body)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

// riff is a RIFF WAVE file of these chunks.
func riff(chunks ...[]byte) []byte {
	body := []byte("WAVE")
	for _, c := range chunks {
		body = append(body, c...)
	}
	return append(binary.LittleEndian.AppendUint32([]byte("RIFF"), uint32(len(body))), body...)
}

// fmtChunk is a 16-byte fmt chunk; block is channels * ceil(bits/8).
func fmtChunk(tag uint16, channels, rate, bits int) []byte {
	block := channels * ((bits + 7) / 8)
	le := binary.LittleEndian
	b := le.AppendUint16(nil, tag)
	b = le.AppendUint16(b, uint16(channels))
	b = le.AppendUint32(b, uint32(rate))
	b = le.AppendUint32(b, uint32(rate*block))
	b = le.AppendUint16(b, uint16(block))
	b = le.AppendUint16(b, uint16(bits))
	return chunk("fmt ", b)
}

// fmtExtensible is a 40-byte WAVE_FORMAT_EXTENSIBLE fmt chunk with subformat sub.
func fmtExtensible(sub uint16, channels, rate, container, valid int) []byte {
	block := channels * container / 8
	le := binary.LittleEndian
	b := le.AppendUint16(nil, 0xFFFE)
	b = le.AppendUint16(b, uint16(channels))
	b = le.AppendUint32(b, uint32(rate))
	b = le.AppendUint32(b, uint32(rate*block))
	b = le.AppendUint16(b, uint16(block))
	b = le.AppendUint16(b, uint16(container))
	b = le.AppendUint16(b, 22)            // cbSize
	b = le.AppendUint16(b, uint16(valid)) // valid bits per sample
	b = le.AppendUint32(b, 0)             // channel mask
	b = le.AppendUint16(b, sub)           // GUID: the format tag, then the fixed tail
	b = append(b, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71)
	return chunk("fmt ", b)
}

// Sample encoders: one 16-bit sample into its representation in each format.
var (
	enc8    = func(x int16) []byte { return []byte{byte(int(x>>8) + 128)} }
	enc16   = func(x int16) []byte { return binary.LittleEndian.AppendUint16(nil, uint16(x)) }
	enc24   = func(x int16) []byte { v := uint32(int32(x) << 8); return []byte{byte(v), byte(v >> 8), byte(v >> 16)} }
	enc32   = func(x int16) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(int32(x)<<16)) }
	encF32  = func(x int16) []byte { return binary.LittleEndian.AppendUint32(nil, math.Float32bits(float32(x)/32768)) }
	encF64  = func(x int16) []byte { return binary.LittleEndian.AppendUint64(nil, math.Float64bits(float64(x)/32768)) }
	encULaw = func(x int16) []byte { return []byte{g711.EncodeUlawFrame(x)} }
	encALaw = func(x int16) []byte { return []byte{g711.EncodeAlawFrame(x)} }
)

// interleave encodes the channels' samples frame by frame.
func interleave(enc func(int16) []byte, channels ...[]int16) []byte {
	var b []byte
	for i := range channels[0] {
		for _, c := range channels {
			b = append(b, enc(c[i])...)
		}
	}
	return b
}

// tone is n samples of a sine of freq Hz at rate, amplitude amp (full scale 1).
func tone(n int, freq, rate, amp float64) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(math.Round(amp * 32767 * math.Sin(2*math.Pi*freq*float64(i)/rate)))
	}
	return s
}

// refSignal is 8 kHz speech-like test material: a sum of tones, full-scale peaks, silence.
func refSignal() []int16 {
	s := make([]int16, 1000)
	for i := range s {
		v := 9000*math.Sin(2*math.Pi*440*float64(i)/8000) + 4000*math.Sin(2*math.Pi*1330*float64(i)/8000)
		s[i] = int16(v)
	}
	s[10], s[11], s[12] = math.MaxInt16, math.MinInt16, 0
	return s
}

// amplitude is the amplitude (full scale 1) of the freq Hz component of x at 8 kHz (a
// single-bin DFT, as Goertzel computes it).
func amplitude(x []int16, freq float64) float64 {
	var re, im float64
	for i, v := range x {
		w := 2 * math.Pi * freq * float64(i) / 8000
		re += float64(v) * math.Cos(w)
		im += float64(v) * math.Sin(w)
	}
	return 2 * math.Hypot(re, im) / float64(len(x)) / 32768
}

func rms(x []int16) float64 {
	var sum float64
	for _, v := range x {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum/float64(len(x))) / 32768
}

func decode(t *testing.T, b []byte) (*Audio, bool) {
	t.Helper()
	a, converted, err := DecodeWAV(bytes.NewReader(b), int64(len(b)))
	require.NoError(t, err)
	return a, converted
}

func TestAudioDuration(t *testing.T) {
	require.Equal(t, time.Second, (&Audio{Samples: make([]int16, 8000)}).Duration())
	require.Equal(t, 20*time.Millisecond, (&Audio{Samples: make([]int16, 160)}).Duration())
	require.Zero(t, (&Audio{}).Duration())
}

func TestWAVRoundTrip(t *testing.T) {
	for _, n := range []int{1, 159, 160, 8001} {
		a := &Audio{Samples: make([]int16, n)}
		for i := range a.Samples {
			a.Samples[i] = int16(rand.IntN(1 << 16))
		}
		a.Samples[0] = math.MinInt16
		var buf bytes.Buffer
		require.NoError(t, EncodeWAV(&buf, a))
		require.Equal(t, 44+2*n, buf.Len())
		require.Equal(t, riff(fmtChunk(1, 1, 8000, 16), chunk("data", interleave(enc16, a.Samples))), buf.Bytes(),
			"the canonical 44-byte header")
		got, converted := decode(t, buf.Bytes())
		require.False(t, converted)
		require.Equal(t, a.Samples, got.Samples)
	}
}

// TestDecodeWAVFormats: every accepted encoding of the same 8 kHz signal decodes to it,
// within the precision of the format.
func TestDecodeWAVFormats(t *testing.T) {
	ref := refSignal()
	third := make([]int16, len(ref))
	for i, v := range ref {
		third[i] = v / 3
	}
	twelve := make([]int16, len(ref)) // 12 valid bits in 16
	for i, v := range ref {
		twelve[i] = v &^ 0xF
	}
	stereo := make([]int16, len(ref))
	for i := range ref {
		stereo[i] = int16(math.Round((float64(ref[i]) + float64(third[i])) / 2))
	}
	ulaw, alaw := make([]int16, len(ref)), make([]int16, len(ref))
	for i, v := range ref {
		ulaw[i] = g711.DecodeUlawFrame(g711.EncodeUlawFrame(v))
		alaw[i] = g711.DecodeAlawFrame(g711.EncodeAlawFrame(v))
	}
	cases := []struct {
		name      string
		file      []byte
		want      []int16
		tolerance int
		converted bool
	}{
		{"PCM 16-bit mono 8 kHz", riff(fmtChunk(1, 1, 8000, 16), chunk("data", interleave(enc16, ref))), ref, 0, false},
		{"PCM 8-bit unsigned", riff(fmtChunk(1, 1, 8000, 8), chunk("data", interleave(enc8, ref))), ref, 256, true},
		{"PCM 24-bit", riff(fmtChunk(1, 1, 8000, 24), chunk("data", interleave(enc24, ref))), ref, 0, true},
		{"PCM 32-bit", riff(fmtChunk(1, 1, 8000, 32), chunk("data", interleave(enc32, ref))), ref, 0, true},
		{"PCM 12-bit in 16", riff(fmtChunk(1, 1, 8000, 12), chunk("data", interleave(enc16, twelve))), twelve, 0, true},
		{"float 32-bit", riff(fmtChunk(3, 1, 8000, 32), chunk("data", interleave(encF32, ref))), ref, 0, true},
		{"float 64-bit", riff(fmtChunk(3, 1, 8000, 64), chunk("data", interleave(encF64, ref))), ref, 0, true},
		{"mu-law", riff(fmtChunk(7, 1, 8000, 8), chunk("data", interleave(encULaw, ref))), ulaw, 0, true},
		{"A-law", riff(fmtChunk(6, 1, 8000, 8), chunk("data", interleave(encALaw, ref))), alaw, 0, true},
		{"stereo 16-bit, channels averaged", riff(fmtChunk(1, 2, 8000, 16), chunk("data", interleave(enc16, ref, third))), stereo, 1, true},
		{"extensible PCM 16-bit", riff(fmtExtensible(1, 1, 8000, 16, 16), chunk("data", interleave(enc16, ref))), ref, 0, false},
		{"extensible PCM 24 valid bits in 32", riff(fmtExtensible(1, 1, 8000, 32, 24), chunk("data", interleave(enc32, ref))), ref, 0, true},
		{"extensible float 32-bit stereo", riff(fmtExtensible(3, 2, 8000, 32, 32), chunk("data", interleave(encF32, ref, ref))), ref, 0, true},
		{"8 channels", riff(fmtChunk(1, 8, 8000, 16), chunk("data", interleave(enc16, ref, ref, ref, ref, ref, ref, ref, ref))), ref, 0, true},
		{"chunks skipped (LIST of odd size, fact), trailing chunk ignored", riff(
			chunk("LIST", []byte("INFOabc")), fmtChunk(1, 1, 8000, 16), chunk("fact", []byte{1, 2, 3, 4}),
			chunk("data", interleave(enc16, ref)), chunk("LIST", bytes.Repeat([]byte{1}, 99))), ref, 0, false},
		{"8-bit data of odd size with its pad byte", riff(fmtChunk(1, 1, 8000, 8), chunk("data", interleave(enc8, ref[:999])), chunk("junk", nil)), ref[:999], 256, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, converted := decode(t, tc.file)
			require.Equal(t, tc.converted, converted)
			require.Len(t, a.Samples, len(tc.want))
			for i := range tc.want {
				if d := abs(int(a.Samples[i]) - int(tc.want[i])); d > tc.tolerance {
					t.Fatalf("sample %d: got %d, want %d (tolerance %d)", i, a.Samples[i], tc.want[i], tc.tolerance)
				}
			}
		})
	}
}

// TestDecodeWAVStreamed: a file written to a pipe has 0xFFFFFFFF sizes; its data runs to the
// end (a trailing partial frame is dropped).
func TestDecodeWAVStreamed(t *testing.T) {
	ref := refSignal()
	b := riff(fmtChunk(1, 1, 8000, 16), chunk("data", interleave(enc16, ref)))
	binary.LittleEndian.PutUint32(b[4:], 0xFFFFFFFF)
	binary.LittleEndian.PutUint32(b[40:], 0xFFFFFFFF)
	a, _ := decode(t, append(b, 7))
	require.Equal(t, ref, a.Samples)
}

// TestDecodeWAVResamples: common rates come out at 8 kHz with the length and the tone they
// had: a 1 kHz sine stays a 1 kHz sine of the same amplitude, nothing else.
func TestDecodeWAVResamples(t *testing.T) {
	cases := []struct {
		name string
		file func(x []int16, rate int) []byte
		rate int
	}{
		{"44.1 kHz stereo 16-bit", func(x []int16, rate int) []byte {
			return riff(fmtChunk(1, 2, rate, 16), chunk("data", interleave(enc16, x, x)))
		}, 44100},
		{"48 kHz float32", func(x []int16, rate int) []byte {
			return riff(fmtChunk(3, 1, rate, 32), chunk("data", interleave(encF32, x)))
		}, 48000},
		{"48 kHz 24-bit extensible", func(x []int16, rate int) []byte {
			return riff(fmtExtensible(1, 1, rate, 24, 24), chunk("data", interleave(enc24, x)))
		}, 48000},
		{"11025 Hz 8-bit", func(x []int16, rate int) []byte {
			return riff(fmtChunk(1, 1, rate, 8), chunk("data", interleave(enc8, x)))
		}, 11025},
		{"16 kHz", func(x []int16, rate int) []byte {
			return riff(fmtChunk(1, 1, rate, 16), chunk("data", interleave(enc16, x)))
		}, 16000},
		{"22.05 kHz", func(x []int16, rate int) []byte {
			return riff(fmtChunk(1, 1, rate, 16), chunk("data", interleave(enc16, x)))
		}, 22050},
		{"96 kHz", func(x []int16, rate int) []byte {
			return riff(fmtChunk(1, 1, rate, 16), chunk("data", interleave(enc16, x)))
		}, 96000},
		{"192 kHz", func(x []int16, rate int) []byte {
			return riff(fmtChunk(1, 1, rate, 16), chunk("data", interleave(enc16, x)))
		}, 192000},
		{"8001 Hz", func(x []int16, rate int) []byte {
			return riff(fmtChunk(1, 1, rate, 16), chunk("data", interleave(enc16, x)))
		}, 8001},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const amp = 0.5
			a, converted := decode(t, tc.file(tone(tc.rate, 1000, float64(tc.rate), amp), tc.rate))
			require.True(t, converted)
			require.Len(t, a.Samples, 8000, "one second at 8 kHz")
			mid := a.Samples[2000:6000] // away from the edges, where the filter sees the cut
			got := amplitude(mid, 1000)
			tol := 0.01
			if tc.rate == 11025 {
				tol = 0.02 // 8-bit input
			}
			require.InDelta(t, amp, got, tol, "1 kHz amplitude")
			// What is not the 1 kHz tone (aliases, distortion) is at least 40 dB down.
			residual := math.Sqrt(math.Max(rms(mid)*rms(mid)-got*got/2, 0))
			require.Less(t, residual, amp/100, "residual %.5f", residual)
			crossings := 0
			for i := 1; i < len(mid); i++ {
				if (mid[i-1] < 0) != (mid[i] < 0) {
					crossings++
				}
			}
			require.InDelta(t, 1000, crossings, 4, "zero crossings in half a second of 1 kHz")
		})
	}
}

// TestDecodeWAVAntiAliasing: decimating 48 kHz to 8 kHz, a 6 kHz tone (which naive sample
// dropping folds to 2 kHz at full strength) is removed, and the telephone band is kept.
func TestDecodeWAVAntiAliasing(t *testing.T) {
	const amp = 0.5
	level := func(freq float64) float64 {
		x := tone(48000, freq, 48000, amp)
		a, _ := decode(t, riff(fmtChunk(1, 1, 48000, 16), chunk("data", interleave(enc16, x))))
		return rms(a.Samples[2000:6000]) * math.Sqrt2 / amp // gain: 1 passes, 0 removed
	}
	for _, f := range []float64{300, 1000, 3000, 3400} {
		g := level(f)
		t.Logf("%5.0f Hz: %+.2f dB", f, 20*math.Log10(g))
		require.InDelta(t, 1, g, 0.06, "%v Hz passes (gain %.4f)", f, g)
	}
	for _, f := range []float64{4500, 6000, 9000, 15000} {
		g := level(f)
		t.Logf("%5.0f Hz: %+.1f dB", f, 20*math.Log10(g))
		require.Less(t, g, 0.001, "%v Hz at least 60 dB down (gain %.6f)", f, g)
	}
}

func TestDecodeWAVRejects(t *testing.T) {
	ref := refSignal()
	good := riff(fmtChunk(1, 1, 8000, 16), chunk("data", interleave(enc16, ref)))
	cases := []struct {
		name string
		file []byte
		max  int64 // 0: 1 MiB
		err  error
		msg  string
	}{
		{"MP3 in WAV", riff(fmtChunk(0x55, 2, 44100, 0), chunk("data", make([]byte, 400))), 0, ErrUnsupportedAudio, "compressed format 0x0055 (MP3) is not supported: upload PCM WAV"},
		{"IMA ADPCM", riff(fmtChunk(0x11, 1, 8000, 4), chunk("data", make([]byte, 400))), 0, ErrUnsupportedAudio, "0x0011 (IMA ADPCM)"},
		{"MS ADPCM", riff(fmtChunk(0x02, 1, 8000, 4), chunk("data", make([]byte, 400))), 0, ErrUnsupportedAudio, "0x0002 (MS ADPCM)"},
		{"unknown format", riff(fmtChunk(0x1234, 1, 8000, 16), chunk("data", make([]byte, 400))), 0, ErrUnsupportedAudio, "0x1234 (unknown)"},
		{"extensible with another subformat", riff(fmtExtensible(0x55, 1, 8000, 16, 16), chunk("data", make([]byte, 400))), 0, ErrUnsupportedAudio, "subformat"},
		{"garbage", []byte("this is not a wav file at all, it is a text"), 0, ErrUnsupportedAudio, "not a RIFF/WAVE file"},
		{"empty input", nil, 10, ErrUnsupportedAudio, "not a RIFF/WAVE file"},
		{"RIFF of another kind", append([]byte("RIFF\x04\x00\x00\x00AVI "), make([]byte, 40)...), 0, ErrUnsupportedAudio, "not a RIFF/WAVE file"},
		{"big-endian RIFX", append([]byte("RIFX"), good[4:]...), 0, ErrUnsupportedAudio, "RIFX"},
		{"truncated data", good[:len(good)-301], 0, ErrUnsupportedAudio, "truncated"},
		{"truncated fmt", good[:30], 0, ErrUnsupportedAudio, "truncated"},
		{"truncated unknown chunk", riff(fmtChunk(1, 1, 8000, 16), chunk("LIST", make([]byte, 100)))[:80], 0, ErrUnsupportedAudio, "truncated"},
		{"empty data", riff(fmtChunk(1, 1, 8000, 16), chunk("data", nil)), 0, ErrUnsupportedAudio, "no audio"},
		{"one frame at 48 kHz", riff(fmtChunk(1, 1, 48000, 16), chunk("data", []byte{1, 2})), 0, ErrUnsupportedAudio, "no audio"},
		{"no data chunk", riff(fmtChunk(1, 1, 8000, 16), chunk("LIST", []byte("INFO"))), 0, ErrUnsupportedAudio, "no data chunk"},
		{"no fmt chunk", riff(chunk("LIST", []byte("INFO"))), 0, ErrUnsupportedAudio, "no fmt chunk"},
		{"data before fmt", riff(chunk("data", interleave(enc16, ref)), fmtChunk(1, 1, 8000, 16)), 0, ErrUnsupportedAudio, "before the fmt"},
		{"24 channels", riff(fmtChunk(1, 24, 8000, 16), chunk("data", make([]byte, 480))), 0, ErrUnsupportedAudio, "24 channels"},
		{"4 kHz", riff(fmtChunk(1, 1, 4000, 16), chunk("data", make([]byte, 400))), 0, ErrUnsupportedAudio, "sample rate 4000 Hz"},
		{"384 kHz", riff(fmtChunk(1, 1, 384000, 16), chunk("data", make([]byte, 400))), 0, ErrUnsupportedAudio, "sample rate 384000 Hz"},
		{"16-bit float", riff(fmtChunk(3, 1, 8000, 16), chunk("data", make([]byte, 400))), 0, ErrUnsupportedAudio, "16-bit"},
		{"40-bit PCM", riff(fmtChunk(1, 1, 8000, 40), chunk("data", make([]byte, 400))), 0, ErrUnsupportedAudio, "40-bit"},
		{"short fmt", riff(chunk("fmt ", make([]byte, 10)), chunk("data", make([]byte, 400))), 0, ErrUnsupportedAudio, "fmt chunk of 10 bytes"},
		{"too large", good, int64(len(good)) - 1, ErrTooLarge, "larger than"},
		{"data chunk declared larger than the limit", good, 1000, ErrTooLarge, "2000 bytes of audio, the limit is 1000"},
		{"huge LIST chunk", riff(chunk("LIST", make([]byte, 5000)), fmtChunk(1, 1, 8000, 16), chunk("data", make([]byte, 400))), 4000, ErrTooLarge, "larger than 4000 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			limit := tc.max
			if limit == 0 {
				limit = 1 << 20
			}
			a, _, err := DecodeWAV(bytes.NewReader(tc.file), limit)
			require.Nil(t, a)
			require.ErrorIs(t, err, tc.err)
			require.ErrorContains(t, err, tc.msg)
			if tc.err == ErrTooLarge {
				require.NotErrorIs(t, err, ErrUnsupportedAudio)
			}
		})
	}

	t.Run("a read error is passed on", func(t *testing.T) {
		boom := errors.New("connection reset")
		_, _, err := DecodeWAV(io.MultiReader(bytes.NewReader(good[:100]), iotestErrReader{boom}), 1<<20)
		require.ErrorIs(t, err, boom)
		require.NotErrorIs(t, err, ErrUnsupportedAudio)
	})
	t.Run("exactly the limit is fine", func(t *testing.T) {
		_, _, err := DecodeWAV(bytes.NewReader(good), int64(len(good)))
		require.NoError(t, err)
	})
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

// TestDecodeWAVAsteriskPrompt decodes a real prompt when Asterisk's sounds are installed:
// 8 kHz 16-bit mono, taken as is, and written back byte for byte.
func TestDecodeWAVAsteriskPrompt(t *testing.T) {
	const path = "/usr/share/asterisk/sounds/en/vm-goodbye.wav"
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("%s not installed", path)
	}
	require.NoError(t, err)
	a, converted, err := DecodeWAV(bytes.NewReader(b), 1<<20)
	require.NoError(t, err)
	require.False(t, converted)
	require.Equal(t, (len(b)-44)/2, len(a.Samples))
	require.InDelta(t, float64(len(b)-44)/16000, a.Duration().Seconds(), 1e-9)
	require.Greater(t, rms(a.Samples), 0.01, "speech, not silence")
	var out bytes.Buffer
	require.NoError(t, EncodeWAV(&out, a))
	if bytes.Equal(b[:4], []byte("RIFF")) && binary.LittleEndian.Uint32(b[16:]) == 16 && len(b) == 44+2*len(a.Samples) {
		require.Equal(t, b, out.Bytes(), "a canonical file round-trips byte for byte")
	}
}

// FuzzDecodeWAV: no input panics, errors are ours, memory follows the input (the samples
// never outnumber its bytes), and whatever decodes re-encodes to itself.
func FuzzDecodeWAV(f *testing.F) {
	ref := refSignal()[:200]
	f.Add(riff(fmtChunk(1, 1, 8000, 16), chunk("data", interleave(enc16, ref))))
	f.Add(riff(fmtChunk(1, 2, 44100, 16), chunk("data", interleave(enc16, ref, ref))))
	f.Add(riff(fmtChunk(3, 1, 48000, 32), chunk("data", interleave(encF32, ref))))
	f.Add(riff(fmtChunk(3, 1, 8000, 64), chunk("data", interleave(encF64, ref))))
	f.Add(riff(fmtChunk(7, 1, 8000, 8), chunk("data", interleave(encULaw, ref))))
	f.Add(riff(fmtChunk(1, 1, 22050, 24), chunk("LIST", []byte("INFOx")), chunk("data", interleave(enc24, ref))))
	f.Add(riff(fmtExtensible(1, 2, 96000, 32, 24), chunk("data", interleave(enc32, ref, ref))))
	f.Add(riff(fmtChunk(0x55, 1, 8000, 16), chunk("data", make([]byte, 10))))
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEdata\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		const limit = 1 << 16
		a, _, err := DecodeWAV(bytes.NewReader(b), limit)
		if err != nil {
			if !errors.Is(err, ErrUnsupportedAudio) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error of no kind: %v", err)
			}
			return
		}
		if len(a.Samples) == 0 || len(a.Samples) > len(b) {
			t.Fatalf("%d samples from %d bytes", len(a.Samples), len(b))
		}
		var out bytes.Buffer
		if err := EncodeWAV(&out, a); err != nil {
			t.Fatal(err)
		}
		again, converted, err := DecodeWAV(&out, 4*limit)
		if err != nil || converted || !slicesEqual(a.Samples, again.Samples) {
			t.Fatalf("round trip: %v, converted %v", err, converted)
		}
	})
}

func slicesEqual(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
