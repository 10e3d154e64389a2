package routing

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/centrala/centrala/internal/testkit"
)

// TestREADMEExample keeps the README's rule list and explain output true.
func TestREADMEExample(t *testing.T) {
	blocks := testkit.JSONBlocks(t, "README.md")
	require.Len(t, blocks, 2)

	dec := json.NewDecoder(strings.NewReader(blocks[0]))
	dec.DisallowUnknownFields()
	var rules []Rule
	require.NoError(t, dec.Decode(&rules))
	tab, err := NewTable(rules, testOptions())
	require.NoError(t, err)

	got, err := json.Marshal(tab.Explain(ann, "+44 20 7123 4567"))
	require.NoError(t, err)
	require.JSONEq(t, blocks[1], string(got))

	d := tab.Route(bob, "0044 20 7123 4567")
	require.Equal(t, Deny, d.Action)
	require.Equal(t, 603, d.SIPCode)
	require.EqualValues(t, 3, d.RuleID)

	d = tab.Route(eve, "112")
	require.Equal(t, Allow, d.Action)
	require.True(t, d.Emergency)
	require.EqualValues(t, 5, d.RuleID)
}
