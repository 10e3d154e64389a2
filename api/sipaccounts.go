package api

import (
	"net/http"

	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/pbx/digest"
)

type createSIPAccountRequest struct {
	Username        string `json:"username"`
	Password        string `json:"password"`
	Kind            string `json:"kind"`         // default softphone
	MaxContacts     *int   `json:"max_contacts"` // default 3
	OutboundBlocked bool   `json:"outbound_blocked"`
}

type sipAccountPatch struct {
	Password        *string `json:"password"`
	Kind            *string `json:"kind"`
	MaxContacts     *int    `json:"max_contacts"`
	OutboundBlocked *bool   `json:"outbound_blocked"`
}

// setSecret keeps only the digest hashes of a SIP secret, for the configured realm.
func (s *Server) setSecret(a *store.SIPAccount, secret string) {
	a.Realm = s.cfg.Realm
	a.HA1MD5 = digest.HA1(digest.MD5, a.Username, s.cfg.Realm, secret)
	a.HA1SHA256 = digest.HA1(digest.SHA256, a.Username, s.cfg.Realm, secret)
}

func (s *Server) listSIPAccounts(w http.ResponseWriter, r *http.Request) error {
	u, err := s.userFromPath(r)
	if err != nil {
		return err
	}
	accts, err := s.store.ListSIPAccounts(r.Context(), u.ID)
	if err != nil {
		return err
	}
	if accts == nil {
		accts = []store.SIPAccount{}
	}
	return writeJSON(w, http.StatusOK, accts)
}

func (s *Server) createSIPAccount(w http.ResponseWriter, r *http.Request) error {
	var req createSIPAccountRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	a := store.SIPAccount{Username: req.Username, Kind: req.Kind, MaxContacts: defaultMaxContacts,
		OutboundBlocked: req.OutboundBlocked}
	if a.Kind == "" {
		a.Kind = defaultSIPKind
	}
	set(&a.MaxContacts, req.MaxContacts)
	var bad fieldErrors
	checkSIPAccount(&bad, a)
	s.checkPassword(&bad, "password", req.Password)
	if err := bad.err(); err != nil {
		return err
	}
	u, err := s.userFromPath(r)
	if err != nil {
		return err
	}
	if u.ArchivedAt != nil {
		return errorf(http.StatusConflict, "the user is archived; archived users get no SIP accounts")
	}
	a.UserID = u.ID
	s.setSecret(&a, req.Password)
	ctx := r.Context()
	a, err = s.store.CreateSIPAccount(ctx, a)
	if err != nil {
		return err
	}
	s.accountChanged(ctx, a.Username, false) // forget a cached "no such account"
	s.log.Info("sip account created", "sip_account_id", a.ID, "username", a.Username, "user_id", u.ID)
	w.Header().Set("Location", "/api/v1/sip-accounts/"+formatID(a.ID))
	return writeJSON(w, http.StatusCreated, a)
}

func (s *Server) sipAccountFromPath(r *http.Request) (store.SIPAccount, error) {
	return fromPath(r, s.store.GetSIPAccount)
}

func (s *Server) getSIPAccount(w http.ResponseWriter, r *http.Request) error {
	a, err := s.sipAccountFromPath(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a)
}

func (s *Server) patchSIPAccount(w http.ResponseWriter, r *http.Request) error {
	var req sipAccountPatch
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	a, err := s.sipAccountFromPath(r)
	if err != nil {
		return err
	}
	set(&a.Kind, req.Kind)
	set(&a.MaxContacts, req.MaxContacts)
	set(&a.OutboundBlocked, req.OutboundBlocked)
	var bad fieldErrors
	checkSIPAccount(&bad, a)
	if req.Password != nil {
		s.checkPassword(&bad, "password", *req.Password)
	}
	if err := bad.err(); err != nil {
		return err
	}
	if req.Password != nil {
		s.setSecret(&a, *req.Password)
	}
	ctx := r.Context()
	a, err = s.store.UpdateSIPAccount(ctx, a)
	if err != nil {
		return err
	}
	s.accountChanged(ctx, a.Username, false)
	s.log.Info("sip account updated", "sip_account_id", a.ID, "username", a.Username, "secret_changed", req.Password != nil)
	return writeJSON(w, http.StatusOK, a)
}

func (s *Server) deleteSIPAccount(w http.ResponseWriter, r *http.Request) error {
	a, err := s.sipAccountFromPath(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if err := s.store.DeleteSIPAccount(ctx, a.ID); err != nil {
		return err
	}
	s.accountChanged(ctx, a.Username, true)
	s.log.Info("sip account deleted", "sip_account_id", a.ID, "username", a.Username)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
