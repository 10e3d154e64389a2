package routing

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// menuNode builds a graph with one IVR of the given choices and returns its node on entry.
func menuNode(t *testing.T, dialExtensions bool, maxDigits int, exts []string, choices ...string) Node {
	t.Helper()
	in := GraphInput{
		Numbers:    map[string]Destination{ccMain: toIVR(1)},
		Extensions: map[string]bool{"100": true},
	}
	for _, e := range exts {
		in.Extensions[e] = true
	}
	iv := IVR{ID: 1, Name: "Menu", Menu: "11", DialExtensions: dialExtensions, MaxDigits: maxDigits}
	for _, c := range choices {
		iv.Choices = append(iv.Choices, Choice{Digits: c, Destination: toExt("100")})
	}
	in.IVRs = []IVR{iv}
	g, err := NewGraph(in)
	require.NoError(t, err)
	w, err := g.Start(ccMain, "")
	require.NoError(t, err)
	n := w.Next(wednesdayMorning)
	require.Equal(t, NodeIVR, n.Kind)
	return n
}

func TestComplete(t *testing.T) {
	plain := menuNode(t, false, 0, nil, "1", "2", "31", "32")
	hash := menuNode(t, false, 0, nil, "1", "1#", "#", "*9")
	dial := menuNode(t, true, 0, []string{"2001", "2002", "201"}, "2", "0")
	dialNoChoice := menuNode(t, true, 0, []string{"2001", "2002", "201"}, "0")
	capped := menuNode(t, false, 3, nil, "1", "123")
	tests := []struct {
		name   string
		node   Node
		digits string
		want   bool
	}{
		{"nothing yet", plain, "", false},
		{"a choice nothing extends", plain, "1", true},
		{"the start of longer choices", plain, "3", false},
		{"a longer choice", plain, "31", true},
		{"nothing starts with it: invalid, end early", plain, "4", true},
		{"invalid after a valid start", plain, "35", true},
		{"# ends the input", plain, "3#", true},
		{"# alone ends the input", plain, "#", true},
		{"a choice extended by #", hash, "1", false},
		{"the choice with #", hash, "1#", true},
		{"# as a choice", hash, "#", true},
		{"star starts a choice", hash, "*", false},
		{"star choice", hash, "*9", true},
		{"choice 2 and extensions 2xxx: wait", dial, "2", false},
		{"the start of extensions", dial, "20", false},
		{"201 is an extension, 2010 none: complete", dial, "201", true},
		{"200 starts 2001 and 2002", dial, "200", false},
		{"a full extension", dial, "2001", true},
		{"no extension starts with 3", dial, "3", true},
		{"choice 0", dial, "0", true},
		{"extension 100 of the graph", dial, "10", false},
		{"100", dial, "100", true},
		{"only extensions start with 2", dialNoChoice, "2", false},
		{"max digits", capped, "12", false},
		{"max digits reached", capped, "123", true},
		{"max digits reached by invalid input", capped, "999", true},
		{"a node that is not an IVR", Node{Kind: NodeExtension}, "", true},
		{"an IVR node built by hand: its choices only", Node{Kind: NodeIVR, IVR: &IVR{Choices: []Choice{{Digits: "1"}, {Digits: "12"}}}}, "1", false},
		{"an IVR node built by hand, complete", Node{Kind: NodeIVR, IVR: &IVR{Choices: []Choice{{Digits: "1"}, {Digits: "12"}}}}, "12", true},
		{"an IVR node without an IVR", Node{Kind: NodeIVR}, "1", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.node.Complete(tc.digits))
		})
	}
	require.Equal(t, 4, dial.IVR.MaxDigits)
	require.Equal(t, 2, plain.IVR.MaxDigits)
}

func TestMenuMatch(t *testing.T) {
	dial := menuNode(t, true, 0, []string{"2001", "201", "1"}, "1", "1#", "2", "#")
	plain := menuNode(t, false, 0, []string{"2001"}, "1", "2")
	tests := []struct {
		name   string
		node   Node
		digits string
		kind   inputKind
		choice string
		ext    string
	}{
		{"nothing", dial, "", inputNone, "", ""},
		{"a choice", dial, "2", inputChoice, "2", ""},
		{"a choice with # in it", dial, "1#", inputChoice, "1#", ""},
		{"# alone as a choice", dial, "#", inputChoice, "#", ""},
		{"# ends the input", dial, "2#", inputChoice, "2", ""},
		{"an extension", dial, "2001", inputExtension, "", "2001"},
		{"an extension and #", dial, "201#", inputExtension, "", "201"},
		{"a choice wins over an extension", plain, "1", inputChoice, "1", ""},
		{"unknown", dial, "2002", inputInvalid, "", ""},
		{"# twice", dial, "2##", inputInvalid, "", ""},
		{"extensions only when dialling them", plain, "2001", inputInvalid, "", ""},
		{"# alone not a choice", plain, "#", inputInvalid, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kind, i, ext := tc.node.menu.match(tc.digits)
			require.Equal(t, tc.kind, kind)
			if kind == inputChoice {
				require.Equal(t, tc.choice, tc.node.IVR.Choices[i].Digits)
			}
			require.Equal(t, tc.ext, ext)
		})
	}
}
