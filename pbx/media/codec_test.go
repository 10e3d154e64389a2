package media

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/zaf/g711"
)

// TestTranscodeKnownSamples checks the relay's tables against github.com/zaf/g711 on
// samples whose codes are known from ITU-T G.711 and on a sine encoded by zaf/g711.
func TestTranscodeKnownSamples(t *testing.T) {
	cases := []struct {
		name     string
		tab      *[256]byte
		zaf      func(uint8) uint8
		in, want byte
	}{
		{"ulaw silence to alaw +8", &ulawToAlaw, g711.Ulaw2AlawFrame, 0xFF, 0xD5},
		{"alaw +8 to ulaw +8", &alawToUlaw, g711.Alaw2UlawFrame, 0xD5, 0xFE},
		{"ulaw +32124 to alaw +32256", &ulawToAlaw, g711.Ulaw2AlawFrame, 0x80, 0xAA},
		{"alaw +32256 to ulaw +32124", &alawToUlaw, g711.Alaw2UlawFrame, 0xAA, 0x80},
		{"ulaw -32124 to alaw -32256", &ulawToAlaw, g711.Ulaw2AlawFrame, 0x00, 0x2A},
		{"alaw -1008 to ulaw -988", &alawToUlaw, g711.Alaw2UlawFrame, 0x7A, 0x4E},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.zaf(tc.in), tc.want, "zaf/g711")
			p := []byte{tc.in}
			transcode(tc.tab, p)
			require.Equal(t, tc.want, p[0])
		})
	}

	// A 440 Hz sine at 8 kHz, one 20 ms frame, encoded by zaf/g711 in both laws.
	pcm := make([]byte, 320)
	for i := range 160 {
		v := int16(12000 * math.Sin(2*math.Pi*440*float64(i)/8000))
		binary.LittleEndian.PutUint16(pcm[2*i:], uint16(v))
	}
	for _, tc := range []struct {
		name string
		in   []byte
		tab  *[256]byte
		want []byte
	}{
		{"ulaw to alaw", g711.EncodeUlaw(pcm), &ulawToAlaw, g711.Ulaw2Alaw(g711.EncodeUlaw(pcm))},
		{"alaw to ulaw", g711.EncodeAlaw(pcm), &alawToUlaw, g711.Alaw2Ulaw(g711.EncodeAlaw(pcm))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := append([]byte(nil), tc.in...)
			transcode(tc.tab, got)
			require.Equal(t, tc.want, got)
		})
	}
}

// TestTranscodeError is independent of how the tables are built: every code converted to
// the other law decodes to nearly the same linear value (within the coarser law's step).
func TestTranscodeError(t *testing.T) {
	for i := range 256 {
		u := byte(i)
		x, y := int(g711.DecodeUlawFrame(u)), int(g711.DecodeAlawFrame(ulawToAlaw[u]))
		require.LessOrEqualf(t, abs(x-y), 16+abs(x)/16, "ulaw %#x: %d became %d", u, x, y)
		a := byte(i)
		x, y = int(g711.DecodeAlawFrame(a)), int(g711.DecodeUlawFrame(alawToUlaw[a]))
		require.LessOrEqualf(t, abs(x-y), 16+abs(x)/16, "alaw %#x: %d became %d", a, x, y)
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestLawOf(t *testing.T) {
	require.Equal(t, lawU, lawOf(Codec{Name: "pcmu", ClockRate: 8000}))
	require.Equal(t, lawA, lawOf(PCMA))
	require.Equal(t, lawOther, lawOf(Codec{Name: "PCMU", ClockRate: 16000}))
	require.Equal(t, lawOther, lawOf(Codec{Name: "G722", ClockRate: 8000}))
	require.Nil(t, transcodeTable(lawU, lawU))
	require.Nil(t, transcodeTable(lawOther, lawA))
}
