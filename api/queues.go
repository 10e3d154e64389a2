package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/queue"
)

// Queues: /api/v1/queues and /api/v1/queues/{id}/members. The body is a queue.Queue without
// id; Defaults fills it, queue.Validate checks its fields (422 naming them), every member
// must be an existing, active user (members[i].user_id), and its overflow destinations go
// through the candidate inbound graph like any other destination (routing.QueueExit), so a
// queue is written under routingMu like every inbound object and the graph is rebuilt after.
// Members live inside the queue's document: the members routes edit the same queue.
func (s *Server) queues() objectKind[queue.Queue, store.Queue] {
	return objectKind[queue.Queue, store.Queue]{s: s, object: objQueue, noun: "queue", path: "/api/v1/queues",
		id:        func(v *queue.Queue) *int64 { return &v.ID },
		name:      func(v *queue.Queue) *string { return &v.Name },
		inner:     func(v *store.Queue) *queue.Queue { return &v.Queue },
		of:        func(st *inboundState) *[]queue.Queue { return &st.queues },
		normalize: func(v *queue.Queue) { v.Defaults() },
		validate:  s.validateQueue,
		create:    s.store.CreateQueue, get: s.store.GetQueue, list: s.store.ListQueues,
		update: s.store.UpdateQueue, remove: s.store.DeleteQueue}
}

// validateQueue adds queue.Validate's field errors and those of members that are not
// existing, active users.
func (s *Server) validateQueue(ctx context.Context, q *queue.Queue, bad *fieldErrors) error {
	if err := q.Validate(); err != nil {
		var ve *queue.ValidationError
		if !errors.As(err, &ve) {
			return err
		}
		for _, f := range ve.Errors {
			if !slices.ContainsFunc(*bad, func(b fieldError) bool { return b.Field == f.Field }) {
				bad.add(f.Field, "%s", f.Message)
			}
		}
	}
	if len(q.Members) == 0 {
		return nil
	}
	users, err := s.store.ListUsers(ctx, true)
	if err != nil {
		return err
	}
	byID := make(map[int64]store.User, len(users))
	for _, u := range users {
		byID[u.ID] = u
	}
	for i, m := range q.Members {
		if m.UserID <= 0 {
			continue // named by Validate
		}
		field := "members[" + strconv.Itoa(i) + "].user_id"
		switch u, ok := byID[m.UserID]; {
		case !ok:
			bad.add(field, "no user %d", m.UserID)
		case u.ArchivedAt != nil:
			bad.add(field, "user %d is archived", m.UserID)
		}
	}
	return nil
}

// memberInput is the body of POST /api/v1/queues/{id}/members.
type memberInput struct {
	UserID        int64 `json:"user_id"`
	Penalty       int   `json:"penalty"`
	WrapUpSeconds *int  `json:"wrap_up_seconds"`
}

// memberUpdate is the body of PUT /api/v1/queues/{id}/members/{user_id}: a full update.
type memberUpdate struct {
	Penalty       int  `json:"penalty"`
	WrapUpSeconds *int `json:"wrap_up_seconds"`
}

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request) error {
	q, err := fromPath(r, s.store.GetQueue)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, nonNilMembers(q.Members))
}

func nonNilMembers(m []queue.Member) []queue.Member {
	if m == nil {
		return []queue.Member{}
	}
	return m
}

func (s *Server) addMember(w http.ResponseWriter, r *http.Request) error {
	var in memberInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	m := queue.Member{UserID: in.UserID, Penalty: in.Penalty, WrapUpSeconds: in.WrapUpSeconds}
	q, err := s.changeMembers(r, "adding a member to the queue", func(q *queue.Queue) (int, error) {
		if in.UserID > 0 {
			if _, ok := q.Member(in.UserID); ok {
				return 0, &httpError{status: http.StatusConflict,
					detail: fmt.Sprintf("user %d is already a member of queue %d", in.UserID, q.ID),
					fields: []fieldError{{Field: "user_id", Message: "already a member"}}}
			}
		}
		q.Members = append(slices.Clone(q.Members), m)
		return len(q.Members) - 1, nil
	})
	if err != nil {
		return err
	}
	got, _ := q.Member(in.UserID)
	w.Header().Set("Location", fmt.Sprintf("/api/v1/queues/%d/members/%d", q.ID, in.UserID))
	return writeJSON(w, http.StatusCreated, got)
}

func (s *Server) putMember(w http.ResponseWriter, r *http.Request) error {
	var in memberUpdate
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	userID, err := pathInt(r, "user_id")
	if err != nil {
		return err
	}
	q, err := s.changeMembers(r, "changing a member of the queue", func(q *queue.Queue) (int, error) {
		i := slices.IndexFunc(q.Members, func(m queue.Member) bool { return m.UserID == userID })
		if i < 0 {
			return 0, errNotFound
		}
		q.Members = slices.Clone(q.Members)
		q.Members[i].Penalty, q.Members[i].WrapUpSeconds = in.Penalty, in.WrapUpSeconds
		return i, nil
	})
	if err != nil {
		return err
	}
	got, _ := q.Member(userID)
	return writeJSON(w, http.StatusOK, got)
}

func (s *Server) deleteMember(w http.ResponseWriter, r *http.Request) error {
	userID, err := pathInt(r, "user_id")
	if err != nil {
		return err
	}
	_, err = s.changeMembers(r, "removing a member of the queue", func(q *queue.Queue) (int, error) {
		i := slices.IndexFunc(q.Members, func(m queue.Member) bool { return m.UserID == userID })
		if i < 0 {
			return 0, errNotFound
		}
		q.Members = slices.Delete(slices.Clone(q.Members), i, i+1)
		return -1, nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// changeMembers applies change to the members of queue {id} and writes the queue, checked
// like PUT /api/v1/queues/{id}. change returns the index of the member it added or changed
// (-1: none): that member's field errors are answered by the member body's names
// ("penalty", not "members[2].penalty").
func (s *Server) changeMembers(r *http.Request, what string, change func(*queue.Queue) (int, error)) (store.Queue, error) {
	id, err := pathID(r)
	if err != nil {
		return store.Queue{}, err
	}
	k := s.queues()
	ctx := r.Context()
	s.routingMu.Lock()
	defer s.routingMu.Unlock()
	st, err := s.readInbound(ctx)
	if err != nil {
		return store.Queue{}, err
	}
	i := k.find(&st, id)
	if i < 0 {
		return store.Queue{}, errNotFound
	}
	q := st.queues[i]
	at, err := change(&q)
	if err != nil {
		return store.Queue{}, err
	}
	q.Defaults()
	st.queues = slices.Clone(st.queues)
	st.queues[i] = q
	if err := k.check(ctx, &st, &q, what); err != nil {
		var he *httpError
		if at >= 0 && errors.As(err, &he) && he.status == http.StatusUnprocessableEntity {
			prefix := "members[" + strconv.Itoa(at) + "]."
			fields := slices.Clone(he.fields)
			for j := range fields {
				fields[j].Field = strings.TrimPrefix(fields[j].Field, prefix)
			}
			var renamed *httpError
			if errors.As(fieldErrors(fields).err(), &renamed) {
				renamed.conflicts = he.conflicts
				return store.Queue{}, renamed
			}
		}
		return store.Queue{}, err
	}
	updated, err := s.store.UpdateQueue(ctx, q)
	if err != nil {
		return store.Queue{}, err
	}
	s.rebuildInboundAfter(ctx, "changing queue members")
	s.log.Info("queue members changed", "id", id, "members", len(q.Members), "by", principalFrom(ctx).user.ID)
	return updated, nil
}

// pathInt reads a positive id path value; a malformed one names nothing that exists (404).
func pathInt(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, errNotFound
	}
	return id, nil
}
