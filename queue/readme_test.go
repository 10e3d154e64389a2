package queue

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestREADMEExample keeps the README's queue and agent examples true.
func TestREADMEExample(t *testing.T) {
	b, err := os.ReadFile("README.md")
	require.NoError(t, err)
	var blocks []string
	for i, part := range strings.Split(string(b), "```json\n") {
		if i > 0 {
			blocks = append(blocks, part[:strings.Index(part, "```")])
		}
	}
	require.Len(t, blocks, 2)

	dec := json.NewDecoder(strings.NewReader(blocks[0]))
	dec.DisallowUnknownFields()
	var q Queue
	require.NoError(t, dec.Decode(&q))
	require.NoError(t, q.Validate())
	withDefaults := q
	withDefaults.Defaults()
	require.Equal(t, q, withDefaults, "the example spells every default")
	require.Equal(t, 30*time.Second, q.WrapUp(8))

	dec = json.NewDecoder(strings.NewReader(blocks[1]))
	dec.DisallowUnknownFields()
	var a Agent
	require.NoError(t, dec.Decode(&a))
	require.NoError(t, a.Validate())
	f := agents(t)
	want := must(t)(f.onCall.Pause(at(20), "lunch", cat))
	got, err := json.Marshal(want)
	require.NoError(t, err)
	require.JSONEq(t, blocks[1], string(got))
}
