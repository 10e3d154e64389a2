package store

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/centrala/centrala/routing"
)

func sampleRule(name string) OutboundRule {
	return OutboundRule{Name: name, Enabled: true,
		Who:  routing.Who{Kind: routing.WhoDepartment, Value: "Sales"},
		Dest: routing.Dest{Prefixes: []string{"0044"}, CountryCodes: []string{"44"}, MinLength: 8, MaxLength: 15, Pattern: "_X."},
		Action: routing.Action{Kind: routing.Allow, Strip: 2, Prepend: "+",
			CLIP: routing.CLIP{Mode: routing.CLIPNumber, Number: "+48221234567"}, Trunks: []int64{2, 1},
			FailoverCodes: []int{503}}}
}

func TestOutboundRules(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "", t.TempDir())
	require.NoError(t, err)
	defer db.Close()

	list, err := db.ListOutboundRules(ctx)
	require.NoError(t, err)
	require.Empty(t, list)

	a, err := db.CreateOutboundRule(ctx, sampleRule("a"))
	require.NoError(t, err)
	require.Equal(t, 1, a.Position)
	require.Equal(t, sampleRule("a").Action, a.Action)
	require.Equal(t, sampleRule("a").Dest, a.Dest)
	require.Equal(t, sampleRule("a").Who, a.Who)
	require.False(t, a.CreatedAt.IsZero())
	b, err := db.CreateOutboundRule(ctx, OutboundRule{Name: "b", Action: routing.Action{Kind: routing.Deny, SIPCode: 603}})
	require.NoError(t, err)
	require.Equal(t, 2, b.Position)
	require.False(t, b.Enabled)
	c := sampleRule("c")
	c.Position = 10
	c, err = db.CreateOutboundRule(ctx, c)
	require.NoError(t, err)
	require.Equal(t, 10, c.Position)

	got, err := db.GetOutboundRule(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, b, got)
	require.Equal(t, routing.Rule{ID: b.ID, Name: "b", Position: 2, Action: routing.Action{Kind: routing.Deny, SIPCode: 603}}, got.Rule())

	b.Position, b.Name, b.Enabled = 0, "b2", true
	b, err = db.UpdateOutboundRule(ctx, b)
	require.NoError(t, err)
	require.Equal(t, "b2", b.Name)
	list, err = db.ListOutboundRules(ctx)
	require.NoError(t, err)
	require.Equal(t, []int64{b.ID, a.ID, c.ID}, ruleIDs(list))

	list, err = db.ReorderOutboundRules(ctx, []int64{c.ID, a.ID, b.ID})
	require.NoError(t, err)
	require.Equal(t, []int64{c.ID, a.ID, b.ID}, ruleIDs(list))
	require.Equal(t, []int{1, 2, 3}, []int{list[0].Position, list[1].Position, list[2].Position})

	for _, bad := range [][]int64{{c.ID, a.ID}, {c.ID, a.ID, a.ID}, {c.ID, a.ID, b.ID, 999}, {c.ID, a.ID, 999}, nil} {
		_, err = db.ReorderOutboundRules(ctx, bad)
		require.True(t, errors.Is(err, ErrOrderMismatch), "%v: %v", bad, err)
	}
	list, err = db.ListOutboundRules(ctx)
	require.NoError(t, err)
	require.Equal(t, []int64{c.ID, a.ID, b.ID}, ruleIDs(list), "a refused order changes nothing")

	require.NoError(t, db.DeleteOutboundRule(ctx, a.ID))
	require.ErrorIs(t, db.DeleteOutboundRule(ctx, a.ID), ErrNotFound)
	_, err = db.GetOutboundRule(ctx, a.ID)
	require.ErrorIs(t, err, ErrNotFound)
	_, err = db.UpdateOutboundRule(ctx, a)
	require.ErrorIs(t, err, ErrNotFound)
}

func ruleIDs(rs []OutboundRule) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}
