package store

import (
	"context"
	"errors"
	"io/fs"
	"testing"

	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"

	"github.com/centrala/centrala/routing"
)

func sampleIVR(name string) routing.IVR {
	retries := 1
	return routing.IVR{ID: 99, Name: name, Greeting: "system:hello", Menu: "3",
		Choices: []routing.Choice{
			{Digits: "1", Destination: routing.Destination{Type: routing.DestExtension, Target: "201"}},
			{Digits: "9", Destination: routing.Destination{Type: routing.DestAnnouncement, Target: "4",
				Then: &routing.Destination{Type: routing.DestHangup, Target: "486"}}},
		},
		DialExtensions: true, InterDigitMS: 1500, Retries: &retries,
		MaxRetries: &routing.Destination{Type: routing.DestHangup, Target: "480"}, Answer: routing.AnswerEarlyMedia}
}

// IVRs, ring groups and schedules keep every field of their routing type; the doc column
// holds neither id nor name.
func TestInboundObjectsRoundTrip(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)

	ivr, err := db.CreateIVR(ctx, sampleIVR("main menu"))
	require.NoError(t, err)
	require.NotEqual(t, int64(99), ivr.ID, "the id is the store's")
	want := sampleIVR("main menu")
	want.ID = ivr.ID
	require.Equal(t, want, ivr.IVR)
	require.False(t, ivr.CreatedAt.IsZero())
	require.Equal(t, ivr.CreatedAt, ivr.UpdatedAt)
	var doc string
	require.NoError(t, db.SQL().QueryRowContext(ctx, `SELECT doc FROM ivrs WHERE id = ?`, ivr.ID).Scan(&doc))
	require.NotContains(t, doc, `"id"`)
	require.NotContains(t, doc, `"name"`)
	got, err := db.GetIVR(ctx, ivr.ID)
	require.NoError(t, err)
	require.Equal(t, ivr, got)

	want.Name, want.Menu, want.Choices = "night menu", "system:closed", nil
	upd, err := db.UpdateIVR(ctx, want)
	require.NoError(t, err)
	require.Equal(t, want, upd.IVR)
	require.Equal(t, ivr.CreatedAt, upd.CreatedAt)

	rg, err := db.CreateRingGroup(ctx, routing.RingGroup{Name: "sales", Strategy: routing.RingLinear,
		Members:       []routing.Member{{Extension: "201", RingSeconds: 10}, {Extension: "202"}},
		MemberSeconds: 15, Fallback: &routing.Destination{Type: routing.DestIVR, Target: "1"}})
	require.NoError(t, err)
	gotRG, err := db.GetRingGroup(ctx, rg.ID)
	require.NoError(t, err)
	require.Equal(t, rg, gotRG)
	require.Equal(t, "202", gotRG.Members[1].Extension)

	sc, err := db.CreateSchedule(ctx, routing.Schedule{Name: "office", TimeZone: "Europe/Warsaw",
		Hours:       []routing.Hours{{Days: []string{"mon", "tue"}, From: "08:00", To: "16:00"}},
		Holidays:    []routing.Holiday{{Date: "12-25", Name: "Christmas", Yearly: true}},
		Exceptions:  []routing.Exception{{Date: "2026-12-24", Hours: []string{"08:00-12:00"}}},
		CallerRules: []routing.CallerRule{{Name: "vip", Numbers: []string{"+48600100200"}, Destination: routing.Destination{Type: routing.DestExtension, Target: "201"}}},
		Open:        routing.Destination{Type: routing.DestRingGroup, Target: "1"},
		Closed:      routing.Destination{Type: routing.DestHangup, Target: "480"}})
	require.NoError(t, err)
	list, err := db.ListSchedules(ctx)
	require.NoError(t, err)
	require.Equal(t, []Schedule{sc}, list)

	// Names are unique per table, not across them.
	_, err = db.CreateIVR(ctx, routing.IVR{Name: "night menu"})
	var ce *ConflictError
	require.True(t, errors.As(err, &ce), "%v", err)
	require.Equal(t, "name", ce.Field)
	second, err := db.CreateIVR(ctx, routing.IVR{Name: "second"})
	require.NoError(t, err)
	_, err = db.UpdateIVR(ctx, routing.IVR{ID: second.ID, Name: "night menu"})
	require.True(t, errors.As(err, &ce), "%v", err)
	_, err = db.CreateRingGroup(ctx, routing.RingGroup{Name: "sales"})
	require.True(t, errors.As(err, &ce), "%v", err)
	_, err = db.CreateSchedule(ctx, routing.Schedule{Name: "office"})
	require.True(t, errors.As(err, &ce), "%v", err)
	_, err = db.CreateSchedule(ctx, routing.Schedule{Name: "sales"})
	require.NoError(t, err)

	ivrs, err := db.ListIVRs(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"night menu", "second"}, []string{ivrs[0].Name, ivrs[1].Name})

	require.NoError(t, db.DeleteIVR(ctx, ivr.ID))
	_, err = db.GetIVR(ctx, ivr.ID)
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorIs(t, db.DeleteIVR(ctx, ivr.ID), ErrNotFound)
	_, err = db.UpdateIVR(ctx, routing.IVR{ID: ivr.ID, Name: "gone"})
	require.ErrorIs(t, err, ErrNotFound)
	require.NoError(t, db.DeleteRingGroup(ctx, rg.ID))
	require.ErrorIs(t, db.DeleteRingGroup(ctx, rg.ID), ErrNotFound)
	require.NoError(t, db.DeleteSchedule(ctx, sc.ID))
	_, err = db.GetSchedule(ctx, sc.ID)
	require.ErrorIs(t, err, ErrNotFound)
	empty, err := db.ListRingGroups(ctx)
	require.NoError(t, err)
	require.NotNil(t, empty)
	require.Empty(t, empty)
}

// A number keeps the whole destination: what an external one presents and where an
// announcement continues.
func TestNumberDestinationRoundTrip(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	d := Destination{Type: "announcement", Target: "system:welcome",
		Then: &Destination{Type: "external", Target: "+48600100200", Present: "did"}}
	n, err := db.CreateNumber(ctx, Number{Number: "+48221234567", Destination: d})
	require.NoError(t, err)
	require.Equal(t, d, n.Destination)
	got, err := db.NumberByE164(ctx, "+48221234567")
	require.NoError(t, err)
	require.Equal(t, d, got.Destination)
	require.Equal(t, routing.Destination{Type: routing.DestAnnouncement, Target: "system:welcome",
		Then: &routing.Destination{Type: routing.DestExternal, Target: "+48600100200", Present: routing.PresentDID}},
		got.Destination.Routing())
	require.Equal(t, d, DestinationOf(got.Destination.Routing()))

	n.Destination = Destination{Type: "external", Target: "+48600100200", Present: "caller"}
	n, err = db.UpdateNumber(ctx, n)
	require.NoError(t, err)
	require.Nil(t, n.Destination.Then)
	require.Equal(t, "caller", n.Destination.Present)
	var then *string
	require.NoError(t, db.SQL().QueryRowContext(ctx, `SELECT dest_then FROM numbers WHERE id = ?`, n.ID).Scan(&then))
	require.Nil(t, then, "no continuation is NULL")
}

func TestPromptRows(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	p, err := db.CreatePrompt(ctx, Prompt{ID: 7, Name: "welcome", Description: "morning greeting",
		DurationMS: 2500, SizeBytes: 40044, Converted: true})
	require.NoError(t, err)
	require.NotEqual(t, int64(7), p.ID)
	require.False(t, p.CreatedAt.IsZero())
	got, err := db.GetPrompt(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, p, got)
	_, err = db.CreatePrompt(ctx, Prompt{Name: "welcome"})
	var ce *ConflictError
	require.True(t, errors.As(err, &ce), "%v", err)
	require.Equal(t, "name", ce.Field)
	a, err := db.CreatePrompt(ctx, Prompt{Name: "after hours"})
	require.NoError(t, err)
	list, err := db.ListPrompts(ctx)
	require.NoError(t, err)
	require.Equal(t, []Prompt{a, p}, list, "ordered by name")
	require.NoError(t, db.DeletePrompt(ctx, p.ID))
	_, err = db.GetPrompt(ctx, p.ID)
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorIs(t, db.DeletePrompt(ctx, p.ID), ErrNotFound)
}

// The inbound migration goes down and up again, keeping the numbers.
func TestInboundMigrationDown(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	_, err := db.CreateNumber(ctx, Number{Number: "+48221234567", Destination: Destination{Type: "hangup", Target: "480"}})
	require.NoError(t, err)
	_, err = db.CreateIVR(ctx, routing.IVR{Name: "menu"})
	require.NoError(t, err)
	fsys, err := fs.Sub(migrations, "migrations")
	require.NoError(t, err)
	p, err := goose.NewProvider(goose.DialectSQLite3, db.SQL(), fsys, goose.WithDisableGlobalRegistry(true))
	require.NoError(t, err)
	_, err = p.DownTo(ctx, 4)
	require.NoError(t, err)
	var n int
	require.NoError(t, db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM numbers`).Scan(&n))
	require.Equal(t, 1, n)
	_, err = p.Up(ctx)
	require.NoError(t, err)
	got, err := db.NumberByE164(ctx, "+48221234567")
	require.NoError(t, err)
	require.Equal(t, Destination{Type: "hangup", Target: "480"}, got.Destination)
}
