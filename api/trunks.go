package api

import (
	"context"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/pbx/trunk"
)

// trunkInput is the body of POST and PUT /api/v1/trunks[/{id}]. PUT is a full update, except
// that an omitted password keeps the stored one.
type trunkInput struct {
	Name            string   `json:"name"`
	Kind            string   `json:"kind"`
	Host            string   `json:"host"`
	Port            *int     `json:"port"`      // default 5060
	Transport       string   `json:"transport"` // default udp
	Username        string   `json:"username"`
	Password        *string  `json:"password"`         // write-only; nil on PUT keeps the stored one
	RegisterExpires *int     `json:"register_expires"` // default 3600
	AllowedSources  []string `json:"allowed_sources"`  // default [host] for an ip trunk on an IP literal
	NumberFormat    string   `json:"number_format"`    // default e164
	CLIPHeader      string   `json:"clip_header"`      // default pai
	MaxCalls        *int     `json:"max_calls"`        // default 0: no limit
	Enabled         *bool    `json:"enabled"`          // default true
}

// trunkJSON is a trunk as answered: never its password, only whether one is set; a
// register trunk carries its registration status when the SIP side runs it.
type trunkJSON struct {
	store.Trunk
	PasswordSet   bool          `json:"password_set"`
	Status        *trunk.Status `json:"status,omitempty"`
	ChannelsInUse int           `json:"channels_in_use"` // calls the trunk carries now, both directions
}

func (s *Server) trunkOut(t store.Trunk) trunkJSON {
	if t.AllowedSources == nil {
		t.AllowedSources = []string{}
	}
	out := trunkJSON{Trunk: t, PasswordSet: t.Password != ""}
	if s.trunks != nil {
		if st, ok := s.trunks.Status(t.ID); ok {
			out.Status = &st
		}
		out.ChannelsInUse = s.trunks.Channels(t.ID)
	}
	return out
}

// applyTrunks hands the SIP side the trunk list after a change (it starts, restarts or stops
// registrations); the client going away does not cancel it.
func (s *Server) applyTrunks(ctx context.Context) {
	if s.trunks == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	ts, err := s.store.ListTrunks(ctx)
	if err != nil {
		s.log.Error("apply trunks", "error", err)
		return
	}
	s.trunks.Apply(ctx, ts)
}

// Enumerations and limits of trunks; the OpenAPI document lists the same values.
var (
	trunkKinds      = []string{"register", "ip"}
	trunkTransports = []string{"udp", "tcp", "tls"}
	numberFormats   = []string{"e164", "national", "as_dialled"}
	clipHeaders     = []string{"from", "pai", "rpid"}
	hostnameLabelRe = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
)

const (
	maxTrunkName           = 64
	defaultTrunkPort       = 5060
	defaultTrunkTransport  = "udp"
	defaultRegisterExpires = 3600
	minRegisterExpires     = 60
	maxRegisterExpires     = 86400
	defaultNumberFormat    = "e164"
	defaultCLIPHeader      = "pai"
	maxTrunkUsername       = 128
	maxAllowedSources      = 100
)

// apply sets every field of t from the input, with the defaults; the password only when given.
func (in trunkInput) apply(t *store.Trunk) {
	t.Name, t.Kind, t.Host, t.Username = in.Name, in.Kind, in.Host, in.Username
	t.Port = defaultTrunkPort
	set(&t.Port, in.Port)
	t.Transport = in.Transport
	if t.Transport == "" {
		t.Transport = defaultTrunkTransport
	}
	set(&t.Password, in.Password)
	t.RegisterExpires = defaultRegisterExpires
	set(&t.RegisterExpires, in.RegisterExpires)
	t.AllowedSources = in.AllowedSources
	if t.AllowedSources == nil {
		t.AllowedSources = []string{}
	}
	if len(t.AllowedSources) == 0 && t.Kind == "ip" {
		if a, err := netip.ParseAddr(t.Host); err == nil && a.Zone() == "" {
			t.AllowedSources = []string{a.String()}
		}
	}
	t.NumberFormat = in.NumberFormat
	if t.NumberFormat == "" {
		t.NumberFormat = defaultNumberFormat
	}
	t.CLIPHeader = in.CLIPHeader
	if t.CLIPHeader == "" {
		t.CLIPHeader = defaultCLIPHeader
	}
	t.MaxCalls = 0
	set(&t.MaxCalls, in.MaxCalls)
	t.Enabled = true
	set(&t.Enabled, in.Enabled)
}

// checkTrunk validates every field of a trunk as it would be stored.
func checkTrunk(f *fieldErrors, t store.Trunk) {
	if utf8.RuneCountInString(t.Name) > maxTrunkName {
		f.add("name", "must have at most %d characters", maxTrunkName)
	} else {
		checkName(f, "name", t.Name, true)
	}
	if !oneOf(t.Kind, trunkKinds) {
		f.add("kind", "must be one of %s", strings.Join(trunkKinds, ", "))
	}
	switch {
	case t.Host == "":
		f.add("host", "is required")
	case !validHost(t.Host):
		f.add("host", "must be an IP address or a host name, without port")
	}
	if t.Port < 1 || t.Port > 65535 {
		f.add("port", "must be between 1 and 65535")
	}
	if !oneOf(t.Transport, trunkTransports) {
		f.add("transport", "must be one of %s", strings.Join(trunkTransports, ", "))
	}
	switch {
	case t.Username == "" && t.Kind == "register":
		f.add("username", "is required for a register trunk")
	case len(t.Username) > maxTrunkUsername || strings.ContainsFunc(t.Username, func(r rune) bool { return r <= ' ' || r == 0x7f }) || !utf8.ValidString(t.Username):
		f.add("username", "must be at most %d characters without spaces or control characters", maxTrunkUsername)
	}
	switch {
	case t.Password == "" && t.Kind == "register":
		f.add("password", "is required for a register trunk")
	case len(t.Password) > maxPassword:
		f.add("password", "must have at most %d bytes", maxPassword)
	case strings.ContainsFunc(t.Password, func(r rune) bool { return r < ' ' || r == 0x7f }) || !utf8.ValidString(t.Password):
		f.add("password", "must not contain control characters")
	}
	if t.RegisterExpires < minRegisterExpires || t.RegisterExpires > maxRegisterExpires {
		f.add("register_expires", "must be between %d and %d seconds", minRegisterExpires, maxRegisterExpires)
	}
	if len(t.AllowedSources) > maxAllowedSources {
		f.add("allowed_sources", "must have at most %d entries", maxAllowedSources)
	} else {
		for _, src := range t.AllowedSources {
			if !validSource(src) {
				f.add("allowed_sources", "%q is neither an IP address nor a CIDR prefix", src)
				break
			}
		}
	}
	if !oneOf(t.NumberFormat, numberFormats) {
		f.add("number_format", "must be one of %s", strings.Join(numberFormats, ", "))
	}
	if !oneOf(t.CLIPHeader, clipHeaders) {
		f.add("clip_header", "must be one of %s", strings.Join(clipHeaders, ", "))
	}
	if t.MaxCalls < 0 {
		f.add("max_calls", "must not be negative (0 is no limit)")
	}
}

// validHost: an IP literal (no zone) or a host name of RFC 1123 labels.
func validHost(h string) bool {
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Zone() == ""
	}
	if len(h) > 253 {
		return false
	}
	labels := strings.Split(strings.TrimSuffix(h, "."), ".")
	for _, l := range labels {
		if !hostnameLabelRe.MatchString(l) {
			return false
		}
	}
	// A name whose last label is all digits would read as a malformed IPv4 address.
	return !digitsRe.MatchString(labels[len(labels)-1])
}

// validSource: an IP address or a CIDR prefix, as net/netip parses them (no zones).
func validSource(s string) bool {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Addr().Zone() == ""
	}
	a, err := netip.ParseAddr(s)
	return err == nil && a.Zone() == ""
}

func (s *Server) listTrunks(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.store.ListTrunks(r.Context())
	if err != nil {
		return err
	}
	out := make([]trunkJSON, 0, len(ts))
	for _, t := range ts {
		out = append(out, s.trunkOut(t))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) trunkFromPath(r *http.Request) (store.Trunk, error) {
	return fromPath(r, s.store.GetTrunk)
}

func (s *Server) getTrunk(w http.ResponseWriter, r *http.Request) error {
	t, err := s.trunkFromPath(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.trunkOut(t))
}

func (s *Server) createTrunk(w http.ResponseWriter, r *http.Request) error {
	var in trunkInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	var t store.Trunk
	in.apply(&t)
	var bad fieldErrors
	checkTrunk(&bad, t)
	if err := bad.err(); err != nil {
		return err
	}
	s.routingMu.Lock()
	defer s.routingMu.Unlock()
	t, err := s.store.CreateTrunk(r.Context(), t)
	if err != nil {
		return err
	}
	s.rebuildAfter(r.Context(), "creating a trunk")
	s.applyTrunks(r.Context())
	s.log.Info("trunk created", "trunk_id", t.ID, "name", t.Name, "kind", t.Kind, "by", principalFrom(r.Context()).user.ID)
	w.Header().Set("Location", "/api/v1/trunks/"+formatID(t.ID))
	return writeJSON(w, http.StatusCreated, s.trunkOut(t))
}

func (s *Server) putTrunk(w http.ResponseWriter, r *http.Request) error {
	var in trunkInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	old, err := s.trunkFromPath(r)
	if err != nil {
		return err
	}
	t := store.Trunk{ID: old.ID, Password: old.Password}
	in.apply(&t)
	var bad fieldErrors
	checkTrunk(&bad, t)
	if err := bad.err(); err != nil {
		return err
	}
	s.routingMu.Lock()
	defer s.routingMu.Unlock()
	t, err = s.store.UpdateTrunk(r.Context(), t)
	if err != nil {
		return err
	}
	s.rebuildAfter(r.Context(), "updating a trunk")
	s.applyTrunks(r.Context())
	s.log.Info("trunk updated", "trunk_id", t.ID, "name", t.Name, "password_changed", in.Password != nil,
		"by", principalFrom(r.Context()).user.ID)
	return writeJSON(w, http.StatusOK, s.trunkOut(t))
}

func (s *Server) deleteTrunk(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	s.routingMu.Lock()
	defer s.routingMu.Unlock()
	if err := s.checkTrunkUnused(r.Context(), id); err != nil {
		return err
	}
	if err := s.store.DeleteTrunk(r.Context(), id); err != nil {
		return err
	}
	s.rebuildAfter(r.Context(), "deleting a trunk")
	s.applyTrunks(r.Context())
	s.log.Info("trunk deleted", "trunk_id", id, "by", principalFrom(r.Context()).user.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
