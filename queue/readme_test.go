package queue

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/centrala/centrala/internal/testkit"
)

// TestREADMEExample keeps the README's queue and agent examples true.
func TestREADMEExample(t *testing.T) {
	blocks := testkit.JSONBlocks(t, "README.md")
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
