package api

import (
	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/routing"
)

// Ring groups: /api/v1/ring-groups. The body is a routing.RingGroup without id;
// routing.NewGraph validates it (members that are extensions of active users, a fallback
// that leads somewhere).
func (s *Server) ringGroups() objectKind[routing.RingGroup, store.RingGroup] {
	return objectKind[routing.RingGroup, store.RingGroup]{s: s, object: objRingGroup, noun: "ring group",
		path:      "/api/v1/ring-groups",
		id:        func(v *routing.RingGroup) *int64 { return &v.ID },
		name:      func(v *routing.RingGroup) *string { return &v.Name },
		inner:     func(v *store.RingGroup) *routing.RingGroup { return &v.RingGroup },
		of:        func(st *inboundState) *[]routing.RingGroup { return &st.ringGroups },
		normalize: func(v *routing.RingGroup) { nonNil(&v.Members) },
		create:    s.store.CreateRingGroup, get: s.store.GetRingGroup, list: s.store.ListRingGroups,
		update: s.store.UpdateRingGroup, remove: s.store.DeleteRingGroup}
}
