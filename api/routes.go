package api

import (
	"bytes"
	"net/http"
)

// access is who may call a route.
type access int

const (
	public    access = iota // no token
	anyRole                 // any valid token
	owner                   // admin, or the user named by {id} themselves
	agentSelf               // admin, supervisor, or the user named by {user_id} themselves
	reader                  // admin or supervisor
	admin                   // admin only
)

// route is one row of the routing table.
type route struct {
	pattern string
	access  access
	handle  func(w http.ResponseWriter, r *http.Request) error
}

// routes is every route of the API with who may call it. The OpenAPI document
// (openapi.json) describes exactly these; a test compares the two.
//
//	admin       everything
//	supervisor  reads users, SIP accounts, registrations, the event stream, CDRs, trunks, numbers,
//	            outbound rules, IVRs, ring groups, schedules and prompts; explains outbound
//	            routing and simulates inbound calls; reads queues, their members, status and
//	            statistics; changes the priority of a waiting caller; reads and sets any
//	            agent's state, reads any agent's statistics
//	agent       GET /api/v1/me, their own password, their own agent state and statistics
func (s *Server) routes() []route {
	ivrs, groups, schedules, queues := s.ivrs(), s.ringGroups(), s.schedules(), s.queues()
	return []route{
		{"GET /healthz", public, s.healthz},
		{"GET /metrics", public, s.serveMetrics},
		{"GET /api/v1/openapi.json", public, s.openAPI},

		{"POST /api/v1/auth/login", public, s.login},
		{"GET /api/v1/me", anyRole, s.me},

		{"GET /api/v1/users", reader, s.listUsers},
		{"POST /api/v1/users", admin, s.createUser},
		{"GET /api/v1/users/{id}", reader, s.getUser},
		{"PUT /api/v1/users/{id}", admin, s.putUser},
		{"PATCH /api/v1/users/{id}", admin, s.patchUser},
		{"DELETE /api/v1/users/{id}", admin, s.deleteUser},
		{"POST /api/v1/users/{id}/archive", admin, s.archiveUser},
		{"PUT /api/v1/users/{id}/password", owner, s.setPassword},

		{"GET /api/v1/users/{id}/sip-accounts", reader, s.listSIPAccounts},
		{"POST /api/v1/users/{id}/sip-accounts", admin, s.createSIPAccount},
		{"GET /api/v1/sip-accounts/{id}", reader, s.getSIPAccount},
		{"PATCH /api/v1/sip-accounts/{id}", admin, s.patchSIPAccount},
		{"DELETE /api/v1/sip-accounts/{id}", admin, s.deleteSIPAccount},

		{"GET /api/v1/registrations", reader, s.listRegistrations},
		{"GET /api/v1/events", reader, s.events},

		// Agents may later see their own calls; for now CDRs are for supervisors and admins.
		{"GET /api/v1/cdrs", reader, s.listCDRs},
		{"GET /api/v1/cdrs.csv", reader, s.exportCDRs},
		{"GET /api/v1/cdrs/{id}", reader, s.getCDR},

		{"GET /api/v1/trunks", reader, s.listTrunks},
		{"POST /api/v1/trunks", admin, s.createTrunk},
		{"GET /api/v1/trunks/{id}", reader, s.getTrunk},
		{"PUT /api/v1/trunks/{id}", admin, s.putTrunk},
		{"DELETE /api/v1/trunks/{id}", admin, s.deleteTrunk},

		{"GET /api/v1/numbers", reader, s.listNumbers},
		{"POST /api/v1/numbers", admin, s.createNumber},
		{"GET /api/v1/numbers/{id}", reader, s.getNumber},
		{"PUT /api/v1/numbers/{id}", admin, s.putNumber},
		{"DELETE /api/v1/numbers/{id}", admin, s.deleteNumber},

		{"GET /api/v1/outbound-rules", reader, s.listOutboundRules},
		{"POST /api/v1/outbound-rules", admin, s.createOutboundRule},
		{"PUT /api/v1/outbound-rules/order", admin, s.orderOutboundRules},
		{"GET /api/v1/outbound-rules/{id}", reader, s.getOutboundRule},
		{"PUT /api/v1/outbound-rules/{id}", admin, s.putOutboundRule},
		{"DELETE /api/v1/outbound-rules/{id}", admin, s.deleteOutboundRule},
		{"POST /api/v1/routing/explain", reader, s.explain},

		{"GET /api/v1/ivrs", reader, ivrs.listAll},
		{"POST /api/v1/ivrs", admin, ivrs.createOne},
		{"GET /api/v1/ivrs/{id}", reader, ivrs.getOne},
		{"PUT /api/v1/ivrs/{id}", admin, ivrs.putOne},
		{"DELETE /api/v1/ivrs/{id}", admin, ivrs.deleteOne},

		{"GET /api/v1/ring-groups", reader, groups.listAll},
		{"POST /api/v1/ring-groups", admin, groups.createOne},
		{"GET /api/v1/ring-groups/{id}", reader, groups.getOne},
		{"PUT /api/v1/ring-groups/{id}", admin, groups.putOne},
		{"DELETE /api/v1/ring-groups/{id}", admin, groups.deleteOne},

		{"GET /api/v1/schedules", reader, schedules.listAll},
		{"POST /api/v1/schedules", admin, schedules.createOne},
		{"GET /api/v1/schedules/{id}", reader, schedules.getOne},
		{"PUT /api/v1/schedules/{id}", admin, schedules.putOne},
		{"DELETE /api/v1/schedules/{id}", admin, schedules.deleteOne},

		{"GET /api/v1/queues", reader, queues.listAll},
		{"POST /api/v1/queues", admin, queues.createOne},
		{"GET /api/v1/queues/{id}", reader, queues.getOne},
		{"PUT /api/v1/queues/{id}", admin, queues.putOne},
		{"DELETE /api/v1/queues/{id}", admin, queues.deleteOne},
		{"GET /api/v1/queues/{id}/status", reader, s.queueStatus},
		{"GET /api/v1/queues/{id}/stats", reader, s.queueStats},
		{"PUT /api/v1/queues/{id}/waiting/{call_id}", reader, s.setCallerPriority},
		{"GET /api/v1/queues/{id}/members", reader, s.listMembers},
		{"POST /api/v1/queues/{id}/members", admin, s.addMember},
		{"PUT /api/v1/queues/{id}/members/{user_id}", admin, s.putMember},
		{"DELETE /api/v1/queues/{id}/members/{user_id}", admin, s.deleteMember},

		{"GET /api/v1/agents/{user_id}/state", agentSelf, s.getAgentState},
		{"PUT /api/v1/agents/{user_id}/state", agentSelf, s.putAgentState},
		{"GET /api/v1/agents/{user_id}/stats", agentSelf, s.agentStats},

		{"GET /api/v1/prompts", reader, s.listPrompts},
		{"POST /api/v1/prompts", admin, s.createPrompt},
		{"GET /api/v1/prompts/{id}", reader, s.getPrompt},
		{"GET /api/v1/prompts/{id}/audio", reader, s.promptAudio},
		{"DELETE /api/v1/prompts/{id}", admin, s.deletePrompt},

		{"POST /api/v1/inbound/simulate", reader, s.simulate},
	}
}

// adapt turns a route into an http.Handler: authentication, the role check, then the handler;
// a returned error is answered and logged by writeError.
func (s *Server) adapt(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt.access != public {
			p, err := s.authenticate(r)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			if !allowed(rt.access, p, r) {
				s.writeError(w, r, errForbidden)
				return
			}
			r = r.WithContext(withPrincipal(r.Context(), p))
		}
		if err := rt.handle(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func allowed(a access, p principal, r *http.Request) bool {
	switch a {
	case anyRole:
		return true
	case owner:
		return p.isAdmin() || (p.user.ID != 0 && r.PathValue("id") == formatID(p.user.ID))
	case agentSelf:
		return p.isAdmin() || p.user.Role == "supervisor" || (p.user.ID != 0 && r.PathValue("user_id") == formatID(p.user.ID))
	case reader:
		return p.isAdmin() || p.user.Role == "supervisor"
	case admin:
		return p.isAdmin()
	}
	return false
}

// notFoundProblems makes the mux's own 404 and 405 answers problem+json (keeping Allow).
func (s *Server) notFoundProblems(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		rec := &recorder{header: http.Header{}, status: http.StatusOK}
		mux.ServeHTTP(rec, r)
		switch rec.status {
		case http.StatusNotFound:
			writeProblem(w, newProblem(http.StatusNotFound, "no route for "+r.URL.Path, nil))
		case http.StatusMethodNotAllowed:
			w.Header()["Allow"] = rec.header["Allow"]
			writeProblem(w, newProblem(http.StatusMethodNotAllowed, r.Method+" is not allowed here", nil))
		default: // redirects to a cleaned path, and anything else the mux does itself
			for k, v := range rec.header {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.status)
			_, _ = w.Write(rec.body.Bytes())
		}
	})
}

// recorder keeps what the mux answers for an unmatched request.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(status int)      { r.status = status }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
