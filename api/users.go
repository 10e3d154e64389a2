package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/centrala/centrala/api/store"
)

// userFields are the mutable fields of a user, as PUT sends them (and POST, with a password).
type userFields struct {
	Login       string `json:"login"`
	Role        string `json:"role"`
	FirstName   string `json:"first_name"`
	LastName    string `json:"last_name"`
	Email       string `json:"email"`
	Extension   string `json:"extension"`
	AgentNumber string `json:"agent_number"`
	Department  string `json:"department"`
	DefaultCLIP string `json:"default_clip"`
	IdleTimeout int    `json:"idle_timeout"`
	PhoneType   string `json:"phone_type"` // default softphone
	IsAgent     bool   `json:"is_agent"`
	MayDialAny  bool   `json:"may_dial_any"`
}

func (f userFields) apply(u *store.User) {
	u.Login, u.Role, u.FirstName, u.LastName = f.Login, store.Role(f.Role), f.FirstName, f.LastName
	u.Email, u.Extension, u.AgentNumber, u.Department = f.Email, f.Extension, f.AgentNumber, f.Department
	u.DefaultCLIP, u.IdleTimeout, u.PhoneType = f.DefaultCLIP, f.IdleTimeout, f.PhoneType
	u.IsAgent, u.MayDialAny = f.IsAgent, f.MayDialAny
	if u.PhoneType == "" {
		u.PhoneType = defaultPhoneType
	}
}

type createUserRequest struct {
	userFields
	Password string `json:"password"`
}

// userPatch is PATCH /api/v1/users/{id}: only the fields present change.
type userPatch struct {
	Login       *string `json:"login"`
	Role        *string `json:"role"`
	FirstName   *string `json:"first_name"`
	LastName    *string `json:"last_name"`
	Email       *string `json:"email"`
	Extension   *string `json:"extension"`
	AgentNumber *string `json:"agent_number"`
	Department  *string `json:"department"`
	DefaultCLIP *string `json:"default_clip"`
	IdleTimeout *int    `json:"idle_timeout"`
	PhoneType   *string `json:"phone_type"`
	IsAgent     *bool   `json:"is_agent"`
	MayDialAny  *bool   `json:"may_dial_any"`
}

func (p userPatch) apply(u *store.User) {
	set(&u.Login, p.Login)
	if p.Role != nil {
		u.Role = store.Role(*p.Role)
	}
	set(&u.FirstName, p.FirstName)
	set(&u.LastName, p.LastName)
	set(&u.Email, p.Email)
	set(&u.Extension, p.Extension)
	set(&u.AgentNumber, p.AgentNumber)
	set(&u.Department, p.Department)
	set(&u.DefaultCLIP, p.DefaultCLIP)
	set(&u.IdleTimeout, p.IdleTimeout)
	set(&u.PhoneType, p.PhoneType)
	set(&u.IsAgent, p.IsAgent)
	set(&u.MayDialAny, p.MayDialAny)
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

type passwordRequest struct {
	Password string `json:"password"`
}

// fromPath loads the resource the {id} path value names with get.
func fromPath[T any](r *http.Request, get func(context.Context, int64) (T, error)) (T, error) {
	id, err := pathID(r)
	if err != nil {
		var zero T
		return zero, err
	}
	return get(r.Context(), id)
}

// pathID reads {id}; a malformed id names nothing that exists (404).
func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errNotFound
	}
	return id, nil
}

func (s *Server) userFromPath(r *http.Request) (store.User, error) {
	return fromPath(r, s.store.GetUser)
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	archived := false
	if v := r.URL.Query().Get("archived"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errorf(http.StatusBadRequest, "archived must be true or false")
		}
		archived = b
	}
	users, err := s.store.ListUsers(r.Context(), archived)
	if err != nil {
		return err
	}
	if users == nil {
		users = []store.User{}
	}
	return writeJSON(w, http.StatusOK, users)
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) error {
	var req createUserRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	var u store.User
	req.apply(&u)
	var bad fieldErrors
	s.checkUser(&bad, u)
	s.checkPassword(&bad, "password", req.Password)
	if err := bad.err(); err != nil {
		return err
	}
	hash, err := s.hash(r.Context(), req.Password)
	if err != nil {
		return err
	}
	if u.Extension != "" {
		// The graph learns the extension (a destination may name it from now on).
		s.routingMu.Lock()
		defer s.routingMu.Unlock()
	}
	u, err = s.store.CreateUser(r.Context(), u, hash)
	if err != nil {
		return err
	}
	if u.Extension != "" {
		s.rebuildInboundAfter(r.Context(), "creating a user")
	}
	s.log.Info("user created", "user_id", u.ID, "login", u.Login, "role", u.Role, "by", principalFrom(r.Context()).user.ID)
	w.Header().Set("Location", "/api/v1/users/"+formatID(u.ID))
	return writeJSON(w, http.StatusCreated, u)
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) error {
	u, err := s.userFromPath(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

func (s *Server) putUser(w http.ResponseWriter, r *http.Request) error {
	var req userFields
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	return s.updateUser(w, r, req.apply)
}

func (s *Server) patchUser(w http.ResponseWriter, r *http.Request) error {
	var req userPatch
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	return s.updateUser(w, r, req.apply)
}

// updateUser applies change to the stored user, validates the result as a whole and saves it.
func (s *Server) updateUser(w http.ResponseWriter, r *http.Request, change func(*store.User)) error {
	old, err := s.userFromPath(r)
	if err != nil {
		return err
	}
	u := old
	change(&u)
	var bad fieldErrors
	s.checkUser(&bad, u)
	if err := bad.err(); err != nil {
		return err
	}
	if old.Role == store.RoleAdmin && u.Role != store.RoleAdmin {
		if err := s.keepAnAdmin(r.Context(), old); err != nil {
			return err
		}
	}
	extChange := old.Extension != u.Extension && old.ArchivedAt == nil
	if extChange {
		s.routingMu.Lock()
		defer s.routingMu.Unlock()
		if err := s.checkExtensionChange(r.Context(), old.Extension, u.Extension,
			"changing the extension of user "+old.Login); err != nil {
			return err
		}
	}
	u, err = s.store.UpdateUser(r.Context(), u)
	if err != nil {
		return err
	}
	if extChange {
		s.rebuildInboundAfter(r.Context(), "changing a user's extension")
	}
	s.log.Info("user updated", "user_id", u.ID, "by", principalFrom(r.Context()).user.ID)
	return writeJSON(w, http.StatusOK, u)
}

// keepAnAdmin refuses to demote, archive or delete the last active admin user: without one
// (and without an admin token) nobody could administer the PBX any more.
func (s *Server) keepAnAdmin(ctx context.Context, u store.User) error {
	if u.Role != store.RoleAdmin || u.ArchivedAt != nil {
		return nil
	}
	users, err := s.store.ListUsers(ctx, false)
	if err != nil {
		return err
	}
	for _, o := range users {
		if o.ID != u.ID && o.Role == store.RoleAdmin && o.ArchivedAt == nil {
			return nil
		}
	}
	return &httpError{status: http.StatusConflict, detail: "this is the last active admin user; make another admin first",
		fields: []fieldError{{Field: "role", Message: "the last active admin must stay admin"}}}
}

// notSelf refuses an admin archiving or deleting their own user.
func notSelf(ctx context.Context, u store.User, what string) error {
	if p := principalFrom(ctx); !p.adminToken && p.user.ID == u.ID {
		return errorf(http.StatusConflict, "you cannot "+what+" your own user")
	}
	return nil
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u, err := s.userFromPath(r)
	if err != nil {
		return err
	}
	if err := notSelf(ctx, u, "delete"); err != nil {
		return err
	}
	if err := s.keepAnAdmin(ctx, u); err != nil {
		return err
	}
	accts, err := s.store.ListSIPAccounts(ctx, u.ID)
	if err != nil {
		return err
	}
	callable := u.Extension != "" && u.ArchivedAt == nil
	if callable {
		s.routingMu.Lock()
		defer s.routingMu.Unlock()
		if err := s.checkExtensionChange(ctx, u.Extension, "", "deleting user "+u.Login); err != nil {
			return err
		}
	}
	if err := s.store.DeleteUser(ctx, u.ID); err != nil {
		return err
	}
	if callable {
		s.rebuildInboundAfter(ctx, "deleting a user")
	}
	// Only after the rows are gone: a REGISTER racing the delete must not cache them again.
	for _, a := range accts {
		s.accountChanged(ctx, a.Username, true)
	}
	s.log.Info("user deleted", "user_id", u.ID, "login", u.Login, "sip_accounts", len(accts), "by", principalFrom(ctx).user.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) archiveUser(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u, err := s.userFromPath(r)
	if err != nil {
		return err
	}
	if err := notSelf(ctx, u, "archive"); err != nil {
		return err
	}
	if err := s.keepAnAdmin(ctx, u); err != nil {
		return err
	}
	callable := u.Extension != "" && u.ArchivedAt == nil
	if callable {
		s.routingMu.Lock()
		defer s.routingMu.Unlock()
		if err := s.checkExtensionChange(ctx, u.Extension, "", "archiving user "+u.Login); err != nil {
			return err
		}
	}
	u, err = s.store.ArchiveUser(ctx, u.ID)
	if err != nil {
		return err
	}
	if callable {
		s.rebuildInboundAfter(ctx, "archiving a user")
	}
	accts, err := s.store.ListSIPAccounts(ctx, u.ID)
	if err != nil {
		return err
	}
	// After archiving, so a REGISTER racing with us cannot reload the account as active.
	for _, a := range accts {
		s.accountChanged(ctx, a.Username, true)
	}
	s.log.Info("user archived", "user_id", u.ID, "login", u.Login, "sip_accounts", len(accts), "by", principalFrom(ctx).user.ID)
	return writeJSON(w, http.StatusOK, u)
}

func (s *Server) setPassword(w http.ResponseWriter, r *http.Request) error {
	var req passwordRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	var bad fieldErrors
	s.checkPassword(&bad, "password", req.Password)
	if err := bad.err(); err != nil {
		return err
	}
	u, err := s.userFromPath(r)
	if err != nil {
		return err
	}
	hash, err := s.hash(r.Context(), req.Password)
	if err != nil {
		return err
	}
	if err := s.store.SetUserPassword(r.Context(), u.ID, hash); err != nil {
		return err
	}
	s.log.Info("user password changed", "user_id", u.ID, "by", principalFrom(r.Context()).user.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
