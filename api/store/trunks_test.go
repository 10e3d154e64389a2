package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func testKey() []byte { return bytes.Repeat([]byte{7}, 32) }

func sampleTrunk(name string) Trunk {
	return Trunk{Name: name, Kind: "register", Host: "127.0.0.1", Port: 5080, Transport: "udp",
		Username: "acct-1", Password: "provider secret", RegisterExpires: 600,
		AllowedSources: []string{"127.0.0.1/32"}, NumberFormat: "e164", CLIPHeader: "pai", MaxCalls: 30, Enabled: true}
}

func TestTrunkPasswordSealedAtRest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, "", dir)
	require.NoError(t, err)
	require.NoError(t, db.SetSecretKey(testKey()))

	tr, err := db.CreateTrunk(ctx, sampleTrunk("provider-a"))
	require.NoError(t, err)
	require.Equal(t, "provider secret", tr.Password)
	require.Equal(t, []string{"127.0.0.1/32"}, tr.AllowedSources)

	var raw string
	require.NoError(t, db.SQL().QueryRowContext(ctx, `SELECT password_sealed FROM trunks WHERE id = ?`, tr.ID).Scan(&raw))
	require.True(t, strings.HasPrefix(raw, "v1:"), raw)
	require.NotContains(t, raw, "provider secret")
	require.NoError(t, db.Close())
	file, err := os.ReadFile(filepath.Join(dir, DefaultFile))
	require.NoError(t, err)
	require.False(t, bytes.Contains(file, []byte("provider secret")), "clear password in the database file")

	// the same key opens it again; another key, or none, refuses rather than guess
	db, err = Open(ctx, "", dir)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.GetTrunk(ctx, tr.ID)
	require.ErrorIs(t, err, ErrNoSecretKey)
	require.NoError(t, db.SetSecretKey(bytes.Repeat([]byte{8}, 32)))
	_, err = db.GetTrunk(ctx, tr.ID)
	require.ErrorContains(t, err, "does not open")
	require.NoError(t, db.SetSecretKey(testKey()))
	got, err := db.GetTrunk(ctx, tr.ID)
	require.NoError(t, err)
	require.Equal(t, "provider secret", got.Password)
}

func TestTrunkCRUD(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	require.NoError(t, db.SetSecretKey(testKey()))
	a, err := db.CreateTrunk(ctx, sampleTrunk("a"))
	require.NoError(t, err)
	_, err = db.CreateTrunk(ctx, sampleTrunk("a"))
	var ce *ConflictError
	require.True(t, errors.As(err, &ce), "%v", err)
	require.Equal(t, "name", ce.Field)

	ip := sampleTrunk("peer")
	ip.Kind, ip.Username, ip.Password, ip.AllowedSources = "ip", "", "", nil
	b, err := db.CreateTrunk(ctx, ip)
	require.NoError(t, err)
	require.Equal(t, "", b.Password)
	require.Equal(t, []string{}, b.AllowedSources)

	a.Port, a.Password, a.Enabled = 5090, "rotated", false
	a, err = db.UpdateTrunk(ctx, a)
	require.NoError(t, err)
	require.Equal(t, 5090, a.Port)
	require.Equal(t, "rotated", a.Password)
	require.False(t, a.Enabled)

	list, err := db.ListTrunks(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)

	bad := sampleTrunk("bad")
	bad.Transport = "sctp"
	_, err = db.CreateTrunk(ctx, bad)
	require.Error(t, err, "CHECK constraint backstop")

	require.NoError(t, db.DeleteTrunk(ctx, b.ID))
	require.ErrorIs(t, db.DeleteTrunk(ctx, b.ID), ErrNotFound)
	_, err = db.GetTrunk(ctx, b.ID)
	require.ErrorIs(t, err, ErrNotFound)
}

func TestNumberCRUD(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	require.NoError(t, db.SetSecretKey(testKey()))
	tr, err := db.CreateTrunk(ctx, sampleTrunk("a"))
	require.NoError(t, err)
	n, err := db.CreateNumber(ctx, Number{Number: "+48221234567", Description: "sales", TrunkID: &tr.ID,
		Destination: Destination{Type: "extension", Target: "101"}})
	require.NoError(t, err)
	require.Equal(t, tr.ID, *n.TrunkID)

	_, err = db.CreateNumber(ctx, Number{Number: "+48221234567", Destination: Destination{Type: "hangup"}})
	var ce *ConflictError
	require.True(t, errors.As(err, &ce), "%v", err)
	require.Equal(t, "number", ce.Field)
	missing := int64(999)
	_, err = db.CreateNumber(ctx, Number{Number: "+48220000000", TrunkID: &missing, Destination: Destination{Type: "hangup"}})
	require.ErrorIs(t, err, ErrNotFound)

	got, err := db.NumberByE164(ctx, "+48221234567")
	require.NoError(t, err)
	require.Equal(t, Destination{Type: "extension", Target: "101"}, got.Destination)

	n.Destination = Destination{Type: "queue", Target: "7"}
	n, err = db.UpdateNumber(ctx, n)
	require.NoError(t, err)
	require.Equal(t, "queue", n.Destination.Type)

	// deleting the trunk keeps the number, without a trunk
	require.NoError(t, db.DeleteTrunk(ctx, tr.ID))
	got, err = db.GetNumber(ctx, n.ID)
	require.NoError(t, err)
	require.Nil(t, got.TrunkID)

	list, err := db.ListNumbers(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.NoError(t, db.DeleteNumber(ctx, n.ID))
	_, err = db.NumberByE164(ctx, "+48221234567")
	require.ErrorIs(t, err, ErrNotFound)
}

func TestLoadSecretKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret.key")
	k1, err := LoadSecretKey("", path)
	require.NoError(t, err)
	require.Len(t, k1, 32)
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	k2, err := LoadSecretKey("", path)
	require.NoError(t, err)
	require.Equal(t, k1, k2, "the key must survive restarts")
	k3, err := LoadSecretKey("BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=", path)
	require.NoError(t, err)
	require.Equal(t, testKey(), k3)
	_, err = LoadSecretKey("c2hvcnQ=", path)
	require.Error(t, err)
	require.Error(t, (&DB{}).SetSecretKey([]byte("short")))
}
