package api

import (
	"context"
	"net/http"
	"slices"
)

// objectKind is one kind of inbound object (IVR, ring group, schedule) for the CRUD
// handlers they share: T is the routing type (the request body, without id), S the stored
// one (T with its times, the answer). ivrs.go, ring_groups.go and schedules.go fill it in.
type objectKind[T, S any] struct {
	s      *Server
	object string // as routing.GraphError names it: objIVR, objRingGroup, objSchedule
	noun   string // in logs and messages
	path   string // the collection's URL
	id     func(*T) *int64
	name   func(*T) *string
	inner  func(*S) *T
	of     func(*inboundState) *[]T // the objects of this kind in a state
	// normalize gives empty lists instead of null (the document says array).
	normalize func(*T)
	// validate, when set, checks what the graph does not (queues: queue.Validate and the
	// members' users), adding to bad; an error it returns is not about v's fields.
	validate func(ctx context.Context, v *T, bad *fieldErrors) error

	create func(context.Context, T) (S, error)
	get    func(context.Context, int64) (S, error)
	list   func(context.Context) ([]S, error)
	update func(context.Context, T) (S, error)
	remove func(context.Context, int64) error
}

func (k objectKind[T, S]) answer(w http.ResponseWriter, status int, v S) error {
	k.normalize(k.inner(&v))
	return writeJSON(w, status, v)
}

func (k objectKind[T, S]) listAll(w http.ResponseWriter, r *http.Request) error {
	all, err := k.list(r.Context())
	if err != nil {
		return err
	}
	for i := range all {
		k.normalize(k.inner(&all[i]))
	}
	if all == nil {
		all = []S{}
	}
	return writeJSON(w, http.StatusOK, all)
}

func (k objectKind[T, S]) getOne(w http.ResponseWriter, r *http.Request) error {
	v, err := fromPath(r, k.get)
	if err != nil {
		return err
	}
	return k.answer(w, http.StatusOK, v)
}

// check validates v (name, then the candidate graph st, where v is already placed): 422
// naming v's fields, 409 naming the other objects it would break.
func (k objectKind[T, S]) check(ctx context.Context, st *inboundState, v *T, what string) error {
	var bad fieldErrors
	checkName(&bad, "name", *k.name(v), true)
	if k.validate != nil {
		if err := k.validate(ctx, v, &bad); err != nil {
			return err
		}
	}
	return k.s.checkInbound(st, k.object+" "+formatID(*k.id(v)), what, &bad)
}

func (k objectKind[T, S]) createOne(w http.ResponseWriter, r *http.Request) error {
	var v T
	if err := k.s.decodeObject(w, r, &v); err != nil {
		return err
	}
	k.normalize(&v)
	ctx := r.Context()
	k.s.routingMu.Lock()
	defer k.s.routingMu.Unlock()
	st, err := k.s.readInbound(ctx)
	if err != nil {
		return err
	}
	// The candidate takes an id no stored object has; nothing can point at it yet.
	list := k.of(&st)
	var next int64
	for i := range *list {
		next = max(next, *k.id(&(*list)[i]))
	}
	*k.id(&v) = next + 1
	*list = append(slices.Clone(*list), v)
	if err := k.check(ctx, &st, &v, "creating the "+k.noun); err != nil {
		return err
	}
	*k.id(&v) = 0
	created, err := k.create(ctx, v)
	if err != nil {
		return err
	}
	k.s.rebuildInboundAfter(ctx, "creating a "+k.noun)
	id := *k.id(k.inner(&created))
	k.s.log.Info(k.noun+" created", "id", id, "name", *k.name(k.inner(&created)), "by", principalFrom(ctx).user.ID)
	w.Header().Set("Location", k.path+"/"+formatID(id))
	return k.answer(w, http.StatusCreated, created)
}

// find returns the index of the object with id in st (-1: none).
func (k objectKind[T, S]) find(st *inboundState, id int64) int {
	return slices.IndexFunc(*k.of(st), func(v T) bool { return *k.id(&v) == id })
}

func (k objectKind[T, S]) putOne(w http.ResponseWriter, r *http.Request) error {
	var v T
	if err := k.s.decodeObject(w, r, &v); err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	k.normalize(&v)
	*k.id(&v) = id
	ctx := r.Context()
	k.s.routingMu.Lock()
	defer k.s.routingMu.Unlock()
	st, err := k.s.readInbound(ctx)
	if err != nil {
		return err
	}
	i := k.find(&st, id)
	if i < 0 {
		return errNotFound
	}
	list := k.of(&st)
	*list = slices.Clone(*list)
	(*list)[i] = v
	if err := k.check(ctx, &st, &v, "this change of the "+k.noun); err != nil {
		return err
	}
	updated, err := k.update(ctx, v)
	if err != nil {
		return err
	}
	k.s.rebuildInboundAfter(ctx, "updating a "+k.noun)
	k.s.log.Info(k.noun+" updated", "id", id, "name", *k.name(&v), "by", principalFrom(ctx).user.ID)
	return k.answer(w, http.StatusOK, updated)
}

func (k objectKind[T, S]) deleteOne(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	k.s.routingMu.Lock()
	defer k.s.routingMu.Unlock()
	st, err := k.s.readInbound(ctx)
	if err != nil {
		return err
	}
	i := k.find(&st, id)
	if i < 0 {
		return errNotFound
	}
	list := k.of(&st)
	*list = slices.Delete(slices.Clone(*list), i, i+1)
	if err := k.s.checkInbound(&st, "", "deleting "+k.object+" "+formatID(id), &fieldErrors{}); err != nil {
		return err
	}
	if err := k.remove(ctx, id); err != nil {
		return err
	}
	k.s.rebuildInboundAfter(ctx, "deleting a "+k.noun)
	k.s.log.Info(k.noun+" deleted", "id", id, "by", principalFrom(ctx).user.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// nonNil makes a nil list empty, so it is [] in JSON.
func nonNil[E any](l *[]E) {
	if *l == nil {
		*l = []E{}
	}
}
