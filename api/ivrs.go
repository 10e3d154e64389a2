package api

import (
	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/routing"
)

// IVRs: /api/v1/ivrs. The body is a routing.IVR without id; routing.NewGraph validates it
// (prompts that exist, choices that lead somewhere, no loop without a way out).
func (s *Server) ivrs() objectKind[routing.IVR, store.IVR] {
	return objectKind[routing.IVR, store.IVR]{s: s, object: objIVR, noun: "IVR", path: "/api/v1/ivrs",
		id:        func(v *routing.IVR) *int64 { return &v.ID },
		name:      func(v *routing.IVR) *string { return &v.Name },
		inner:     func(v *store.IVR) *routing.IVR { return &v.IVR },
		of:        func(st *inboundState) *[]routing.IVR { return &st.ivrs },
		normalize: func(v *routing.IVR) { nonNil(&v.Choices) },
		create:    s.store.CreateIVR, get: s.store.GetIVR, list: s.store.ListIVRs,
		update: s.store.UpdateIVR, remove: s.store.DeleteIVR}
}
