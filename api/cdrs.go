package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/cdr"
)

// CDRs is what the API reads of the call detail records (implemented by *store.DB; the
// call engine writes them through a cdr.Recorder).
type CDRs interface {
	ListCDRs(ctx context.Context, f store.CDRFilter) ([]cdr.Record, error)
	GetCDR(ctx context.Context, id int64) (cdr.Record, error)
}

var _ CDRs = (*store.DB)(nil)

// WithCDRs sets where call detail records are read. Default: the Store, when it implements
// CDRs (*store.DB does).
func WithCDRs(c CDRs) Option {
	return func(s *Server) error {
		if c == nil {
			return errors.New("api: nil CDRs")
		}
		s.cdrs = c
		return nil
	}
}

// maxNumberLen bounds the number filter (numbers and extensions are far shorter).
const maxNumberLen = 64

func (s *Server) listCDRs(w http.ResponseWriter, r *http.Request) error {
	f, _, err := cdrFilter(r.URL.Query())
	if err != nil {
		return err
	}
	recs, err := s.cdrs.ListCDRs(r.Context(), f)
	if err != nil {
		return err
	}
	if recs == nil {
		recs = []cdr.Record{}
	}
	return writeJSON(w, http.StatusOK, recs)
}

func (s *Server) getCDR(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	rec, err := s.cdrs.GetCDR(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rec)
}

// exportCDRs answers the records the filters select as CSV (cdr.WriteCSV). With limit it is
// that one page, as GET /api/v1/cdrs would list it; without, every matching record, read
// and written a page at a time (keyset paging, so calls starting meanwhile do not shift it).
func (s *Server) exportCDRs(w http.ResponseWriter, r *http.Request) error {
	f, limited, err := cdrFilter(r.URL.Query())
	if err != nil {
		return err
	}
	if !limited {
		f.Limit = store.MaxCDRLimit
	}
	recs, err := s.cdrs.ListCDRs(r.Context(), f)
	if err != nil {
		return err // nothing written yet: a problem answer
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="cdrs.csv"`)
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	cw := cdr.NewCSVWriter(w)
	for {
		// A long export gets the write timeout per page, not for the whole file.
		_ = rc.SetWriteDeadline(time.Now().Add(s.writeTimeout))
		if err := cw.Write(recs...); err != nil {
			return errClientGone
		}
		if limited || len(recs) < f.Limit {
			break
		}
		last := recs[len(recs)-1]
		f.After, f.Offset = &store.CDRCursor{StartedAt: last.StartedAt, ID: last.ID}, 0
		if recs, err = s.cdrs.ListCDRs(r.Context(), f); err != nil {
			if r.Context().Err() != nil {
				return errClientGone
			}
			// The status is sent: abort the response so the client sees a failed download,
			// not a complete-looking file with rows missing.
			s.log.Error("cdr export failed midway; response aborted", "error", err)
			panic(http.ErrAbortHandler)
		}
	}
	if err := cw.Flush(); err != nil {
		return errClientGone
	}
	return nil
}

// cdrFilter reads the query parameters of the CDR listing; limited reports whether limit
// was given. Every bad parameter is named in one 400 answer.
func cdrFilter(q url.Values) (f store.CDRFilter, limited bool, err error) {
	var bad fieldErrors
	parseTime := func(name string) time.Time {
		v := q.Get(name)
		if v == "" {
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			bad.add(name, "must be an RFC 3339 time like 2025-03-10T09:00:00Z")
		}
		return t
	}
	parseInt := func(name string, lo, hi int64, msg string) (int64, bool) {
		v := q.Get(name)
		if v == "" {
			return 0, false
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < lo || n > hi {
			bad.add(name, "%s", msg)
			return 0, false
		}
		return n, true
	}
	f.From, f.To = parseTime("from"), parseTime("to")
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		bad.add("to", "must be after from")
	}
	if id, ok := parseInt("user_id", 1, math.MaxInt64, "must be a user id (a positive integer)"); ok {
		f.UserID = &id
	}
	f.Number = q.Get("number")
	if utf8.RuneCountInString(f.Number) > maxNumberLen || strings.ContainsFunc(f.Number, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		bad.add("number", "must be at most %d characters without control characters", maxNumberLen)
	}
	if v := q.Get("direction"); v != "" {
		if f.Direction = cdr.Direction(v); !f.Direction.Valid() {
			bad.add("direction", "must be one of %s", joinEnum(cdr.Directions))
		}
	}
	if v := q.Get("disposition"); v != "" {
		if f.Disposition = cdr.Disposition(v); !f.Disposition.Valid() {
			bad.add("disposition", "must be one of %s", joinEnum(cdr.Dispositions))
		}
	}
	var n int64
	n, limited = parseInt("limit", 1, store.MaxCDRLimit, fmt.Sprintf("must be an integer from 1 to %d", store.MaxCDRLimit))
	f.Limit = int(n)
	n, _ = parseInt("offset", 0, math.MaxInt32, "must be an integer from 0 to 2147483647")
	f.Offset = int(n)
	if len(bad) > 0 {
		names := make([]string, len(bad))
		for i, e := range bad {
			names[i] = e.Field
		}
		return f, false, &httpError{status: http.StatusBadRequest,
			detail: "invalid query parameters: " + strings.Join(names, ", "), fields: bad}
	}
	return f, limited, nil
}

func joinEnum[T ~string](vs []T) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}
