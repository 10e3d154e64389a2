package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// decode reads one JSON object from the request body into dst: at most cfg.MaxBodyBytes
// (413 beyond), no unknown fields and nothing after the object (400).
func (s *Server) decode(w http.ResponseWriter, r *http.Request, dst any) error {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	return decodeJSON(r.Body, dst, false)
}

// decodeObject is decode for the body of an object whose id is the path's (or the
// store's): an "id" field is refused as unknown (400) like any other, although the routing
// type dst has one.
func (s *Server) decodeObject(w http.ResponseWriter, r *http.Request, dst any) error {
	var raw json.RawMessage
	if err := s.decode(w, r, &raw); err != nil {
		return err
	}
	var probe struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(raw, &probe) == nil && probe.ID != nil {
		return &httpError{status: http.StatusBadRequest, detail: "unknown field id",
			fields: []fieldError{{Field: "id", Message: "unknown field"}}}
	}
	return decodeJSON(bytes.NewReader(raw), dst, true)
}

// decodeJSON reads one JSON object from rd into dst (see decode). nested: dst has no
// embedded structs, so a wrong type is named by its whole path ("choices.destination").
func decodeJSON(rd io.Reader, dst any, nested bool) error {
	dec := json.NewDecoder(rd)
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if _, err2 := dec.Token(); !errors.Is(err2, io.EOF) {
			var tooLarge *http.MaxBytesError
			if errors.As(err2, &tooLarge) {
				return err2
			}
			return errorf(http.StatusBadRequest, "request body must hold a single JSON object")
		}
		return nil
	}
	var (
		syntax    *json.SyntaxError
		typ       *json.UnmarshalTypeError
		tooLarge  *http.MaxBytesError
		unknownFx = "json: unknown field "
	)
	switch {
	case errors.As(err, &tooLarge):
		return err
	case errors.Is(err, io.EOF):
		return errorf(http.StatusBadRequest, "request body is empty; a JSON object is expected")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(http.StatusBadRequest, "request body is truncated JSON")
	case errors.As(err, &syntax):
		return errorf(http.StatusBadRequest, fmt.Sprintf("malformed JSON at byte %d", syntax.Offset))
	case errors.As(err, &typ):
		// Our bodies are flat; Field may carry an embedded struct's Go name ("userFields.login").
		field := typ.Field[strings.LastIndexByte(typ.Field, '.')+1:]
		if nested {
			field = typ.Field
		}
		if field == "" {
			return errorf(http.StatusBadRequest, "request body must be a JSON object")
		}
		return &httpError{status: http.StatusBadRequest, detail: "wrong JSON type for " + field,
			fields: []fieldError{{Field: field, Message: "must be a JSON " + jsonKind(typ.Type.Kind().String())}}}
	case strings.HasPrefix(err.Error(), unknownFx):
		// encoding/json has no typed error for this; the message is stable since Go 1.10.
		field := strings.Trim(strings.TrimPrefix(err.Error(), unknownFx), `"`)
		return &httpError{status: http.StatusBadRequest, detail: "unknown field " + field,
			fields: []fieldError{{Field: field, Message: "unknown field"}}}
	}
	return errorf(http.StatusBadRequest, "request body is not valid JSON")
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "struct", "map":
		return "object"
	case "slice", "array":
		return "array"
	case "ptr":
		return "value of the documented type"
	}
	return "number"
}
