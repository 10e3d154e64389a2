package main

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/pbx"
	"github.com/centrala/centrala/pbx/registrar"
	"github.com/centrala/centrala/routing"
)

// dialplan answers the call engine's questions from the store, the outbound rules and the
// trunks as last applied.
type dialplan struct {
	db     *store.DB
	extMin int // digits of an extension (api.extension_min_digits ... max)
	extMax int
	rules  *routing.Holder // the API's routing table, rebuilt on every change
	trunks atomic.Pointer[trunkSet]
}

// trunkSet is the enabled trunks with the addresses their INVITEs may come from.
type trunkSet struct {
	byID    map[int64]pbx.Trunk
	formats map[int64]routing.NumberFormat
	sources []trunkSource
}

type trunkSource struct {
	prefix netip.Prefix
	id     int64
}

// setTrunks replaces the trunk set (on start and after every change through the API).
// A register trunk's calls come from its host's addresses; an ip trunk's from its
// allowed_sources, else its host's.
func (d *dialplan) setTrunks(ts []store.Trunk) {
	set := &trunkSet{byID: map[int64]pbx.Trunk{}, formats: map[int64]routing.NumberFormat{}}
	for _, t := range ts {
		if !t.Enabled {
			continue
		}
		set.byID[t.ID] = pbx.Trunk{ID: t.ID, Name: t.Name, Kind: t.Kind, Host: t.Host, Port: t.Port,
			Transport: t.Transport, Username: t.Username, Password: t.Password, CLIPHeader: t.CLIPHeader,
			MaxCalls: t.MaxCalls}
		set.formats[t.ID] = routing.NumberFormat(t.NumberFormat)
		var prefixes []netip.Prefix
		if t.Kind == "ip" {
			for _, s := range t.AllowedSources {
				if p, err := netip.ParsePrefix(s); err == nil {
					prefixes = append(prefixes, p)
				} else if a, err := netip.ParseAddr(s); err == nil {
					prefixes = append(prefixes, netip.PrefixFrom(a, a.BitLen()))
				}
			}
		}
		if len(prefixes) == 0 {
			for _, a := range hostAddrs(t.Host) {
				prefixes = append(prefixes, netip.PrefixFrom(a, a.BitLen()))
			}
		}
		for _, p := range prefixes {
			set.sources = append(set.sources, trunkSource{prefix: p, id: t.ID})
		}
	}
	d.trunks.Store(set)
}

func hostAddrs(host string) []netip.Addr {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2e9)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for i := range ips {
		ips[i] = ips[i].Unmap()
	}
	return ips
}

func (d *dialplan) Device(ctx context.Context, acct registrar.Account) (pbx.Party, error) {
	u, err := d.db.GetUser(ctx, acct.UserID)
	if err != nil {
		return pbx.Party{}, err
	}
	return pbx.Party{UserID: u.ID, Extension: u.Extension, Name: displayName(u)}, nil
}

func displayName(u store.User) string { return strings.TrimSpace(u.FirstName + " " + u.LastName) }

func (d *dialplan) Extension(ctx context.Context, number string) (pbx.Party, error) {
	u, err := d.db.UserByExtension(ctx, number)
	if errors.Is(err, store.ErrNotFound) {
		return pbx.Party{}, pbx.ErrNotFound
	}
	if err != nil {
		return pbx.Party{}, err
	}
	return d.party(ctx, u)
}

func (d *dialplan) party(ctx context.Context, u store.User) (pbx.Party, error) {
	accts, err := d.db.ListSIPAccounts(ctx, u.ID)
	if err != nil {
		return pbx.Party{}, err
	}
	p := pbx.Party{UserID: u.ID, Extension: u.Extension, Name: displayName(u)}
	for _, a := range accts {
		p.Accounts = append(p.Accounts, a.Username)
	}
	return p, nil
}

func (d *dialplan) Outbound(ctx context.Context, acct registrar.Account, dialled string) (pbx.OutboundRoute, error) {
	caller, _, err := d.db.RoutingCaller(ctx, acct.Username)
	if err != nil {
		return pbx.OutboundRoute{}, err
	}
	t := d.rules.Load()
	dec := t.Route(caller, dialled)
	if dec.Action != routing.Allow && dec.RuleID == 0 && !dec.Emergency && d.extensionShaped(dialled) {
		return pbx.OutboundRoute{}, pbx.ErrNotFound // an extension nobody has, not an outside number
	}
	return d.trunkDials(t, dec), nil
}

// Forward decides the outside leg of an inbound call that an inbound scheme sends to an
// external number: the outbound rules as for a caller who is nobody in particular (rules for
// any caller match; rules for an account, a user or a department do not), whose default CLIP
// is the project number that was called.
func (d *dialplan) Forward(_ context.Context, did, number string) (pbx.OutboundRoute, error) {
	t := d.rules.Load()
	dec := t.Route(routing.Caller{DefaultCLIP: did, MayDialAny: true}, number)
	return d.trunkDials(t, dec), nil
}

// trunkDials turns an outbound decision into the trunks to try, with the numbers in each
// trunk's format.
func (d *dialplan) trunkDials(t *routing.Table, dec routing.Decision) pbx.OutboundRoute {
	out := pbx.OutboundRoute{Decision: dec}
	if dec.Action != routing.Allow {
		return out
	}
	set := d.trunks.Load()
	for _, id := range dec.Trunks {
		tr, ok := set.byID[id]
		if !ok {
			continue // disabled or deleted since the rule was written
		}
		f := set.formats[id]
		num, err := t.DialString(dec, f)
		if err != nil {
			continue
		}
		td := pbx.TrunkDial{Trunk: tr, Number: num, Asserted: formatCLIP(t, dec.Asserted, f)}
		if dec.CLIP != nil {
			td.CLIP = formatCLIP(t, *dec.CLIP, f)
		}
		out.Trunks = append(out.Trunks, td)
	}
	return out
}

// extensionShaped reports whether a number could be an extension: digits only, as many as
// extensions have.
func (d *dialplan) extensionShaped(n string) bool {
	if len(n) < d.extMin || len(n) > d.extMax {
		return false
	}
	for _, c := range n {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// formatCLIP writes a presented number (E.164) in the trunk's number format.
func formatCLIP(t *routing.Table, e164 string, f routing.NumberFormat) string {
	if e164 == "" || f == routing.AsDialled {
		return e164
	}
	n, err := t.Numbering().Normalise(e164)
	if err != nil {
		return e164
	}
	s, err := t.Numbering().Format(n, f)
	if err != nil {
		return e164
	}
	return s
}

func (d *dialplan) TrunkAt(src netip.Addr) (pbx.Trunk, bool) {
	set := d.trunks.Load()
	if set == nil {
		return pbx.Trunk{}, false
	}
	for _, s := range set.sources {
		if s.prefix.Contains(src) {
			return set.byID[s.id], true
		}
	}
	return pbx.Trunk{}, false
}

func (d *dialplan) Inbound(ctx context.Context, _ pbx.Trunk, candidates ...string) (pbx.Inbound, error) {
	var plan routing.Numbering // only +E.164 numbers read without a table
	if t := d.rules.Load(); t != nil {
		plan = t.Numbering()
	}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		n, err := plan.Normalise(c)
		if err != nil || n.E164 == "" {
			continue
		}
		num, err := d.db.NumberByE164(ctx, n.E164)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return pbx.Inbound{}, err
		}
		return pbx.Inbound{DID: num.Number, Type: num.Destination.Type, Target: num.Destination.Target}, nil
	}
	return pbx.Inbound{}, pbx.ErrNotFound
}
