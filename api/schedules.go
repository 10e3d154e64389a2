package api

import (
	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/routing"
)

// Schedules: /api/v1/schedules. The body is a routing.Schedule without id; routing.NewGraph
// validates it (time zone, hours, dates, caller rules, branches that lead somewhere).
func (s *Server) schedules() objectKind[routing.Schedule, store.Schedule] {
	return objectKind[routing.Schedule, store.Schedule]{s: s, object: objSchedule, noun: "schedule",
		path:      "/api/v1/schedules",
		id:        func(v *routing.Schedule) *int64 { return &v.ID },
		name:      func(v *routing.Schedule) *string { return &v.Name },
		inner:     func(v *store.Schedule) *routing.Schedule { return &v.Schedule },
		of:        func(st *inboundState) *[]routing.Schedule { return &st.schedules },
		normalize: normalizeSchedule,
		create:    s.store.CreateSchedule, get: s.store.GetSchedule, list: s.store.ListSchedules,
		update: s.store.UpdateSchedule, remove: s.store.DeleteSchedule}
}

func normalizeSchedule(v *routing.Schedule) {
	nonNil(&v.Hours)
	nonNil(&v.Holidays)
	nonNil(&v.Exceptions)
	nonNil(&v.CallerRules)
	for i := range v.Hours {
		nonNil(&v.Hours[i].Days)
	}
	for i := range v.Exceptions {
		nonNil(&v.Exceptions[i].Hours)
	}
}
