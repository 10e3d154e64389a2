package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/pbx/media"
	"github.com/centrala/centrala/routing"
)

// Prompts: audio an IVR or an announcement plays. Uploaded prompts are converted to 8 kHz
// 16-bit mono (media.DecodeWAV) and kept as <PromptsDir>/<id>.wav, described by a row of the
// prompts table; routing refers to one by its id in decimal. The system set is every *.wav
// below SystemPromptsDir (Asterisk's core sounds), read once at New, referred to as
// "system:<path without .wav>".

// PromptPath returns the WAV file of a prompt reference (routing.PromptRef): an uploaded
// prompt's <PromptsDir>/<id>.wav, or a system prompt's file. false for a reference to no
// known prompt, including any path that would leave its directory.
func (s *Server) PromptPath(ref string) (string, bool) {
	if rel, ok := strings.CutPrefix(ref, routing.SystemPromptPrefix); ok {
		if !fs.ValidPath(rel) || strings.Contains(rel, `\`) || !s.systemPrompts[rel] {
			return "", false
		}
		return filepath.Join(s.systemDir, filepath.FromSlash(rel)+".wav"), true
	}
	id, ok := promptID(ref)
	if !ok || s.cfg.PromptsDir == "" || !(*s.promptIDs.Load())[id] {
		return "", false
	}
	return s.promptFile(id), true
}

// promptID parses an uploaded prompt's reference: a decimal id without sign or zeros in front.
func promptID(ref string) (int64, bool) {
	id, err := strconv.ParseInt(ref, 10, 64)
	if err != nil || id <= 0 || formatID(id) != ref {
		return 0, false
	}
	return id, true
}

// promptKnown is GraphInput.Prompts: the reference names an uploaded prompt among ids or a
// system prompt.
func (s *Server) promptKnown(ids map[int64]bool, ref routing.PromptRef) bool {
	if rel, ok := strings.CutPrefix(ref, routing.SystemPromptPrefix); ok {
		return s.systemPrompts[rel]
	}
	id, ok := promptID(ref)
	return ok && ids[id]
}

func (s *Server) promptFile(id int64) string {
	return filepath.Join(s.cfg.PromptsDir, formatID(id)+".wav")
}

// systemRefRe is the path of a system prompt routing accepts: segments of letters, digits,
// _ - and . (files with other names are left out of the set).
var systemRefRe = regexp.MustCompile(`^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$`)

// tempPrefix starts the temporary files of uploads in PromptsDir; New removes leftovers.
const tempPrefix = ".upload-"

// openPrompts creates PromptsDir, removes uploads a crash left half-written, and reads the
// system set.
func (s *Server) openPrompts() error {
	empty := map[int64]bool{}
	s.promptIDs.Store(&empty)
	if dir := s.cfg.PromptsDir; dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("api prompts dir: %w", err)
		}
		leftovers, err := filepath.Glob(filepath.Join(dir, tempPrefix+"*"))
		if err != nil {
			return err
		}
		for _, f := range leftovers {
			if err := os.Remove(f); err != nil {
				s.log.Warn("prompts: cannot remove an interrupted upload", "file", f, "error", err)
			}
		}
	}
	s.systemPrompts = map[string]bool{}
	dir, err := filepath.EvalSymlinks(s.cfg.SystemPromptsDir)
	if errors.Is(err, fs.ErrNotExist) {
		s.log.Info("no system prompts: the directory does not exist", "dir", s.cfg.SystemPromptsDir)
		return nil
	}
	if err != nil {
		return fmt.Errorf("api system prompts: %w", err)
	}
	s.systemDir = dir
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".wav") {
			return nil
		}
		if !d.Type().IsRegular() { // a link: only to a regular file
			if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
				return nil
			}
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if ref := strings.TrimSuffix(filepath.ToSlash(rel), ".wav"); systemRefRe.MatchString(ref) && len(ref) <= 200 {
			s.systemPrompts[ref] = true
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("api system prompts: %w", err)
	}
	s.log.Info("system prompts", "dir", dir, "count", len(s.systemPrompts))
	return nil
}

// promptJSON is an uploaded prompt as the API answers it.
type promptJSON struct {
	store.Prompt
	Ref    string `json:"ref"`
	System bool   `json:"system"`
}

// systemPromptJSON is a prompt of the system set.
type systemPromptJSON struct {
	Ref    string `json:"ref"`
	System bool   `json:"system"`
}

func uploaded(p store.Prompt) promptJSON { return promptJSON{Prompt: p, Ref: formatID(p.ID)} }

// listPrompts answers the uploaded prompts (by name), then the system set (by reference).
func (s *Server) listPrompts(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.store.ListPrompts(r.Context())
	if err != nil {
		return err
	}
	out := make([]any, 0, len(ps)+len(s.systemPrompts))
	for _, p := range ps {
		out = append(out, uploaded(p))
	}
	refs := make([]string, 0, len(s.systemPrompts))
	for rel := range s.systemPrompts {
		refs = append(refs, routing.SystemPromptPrefix+rel)
	}
	slices.Sort(refs)
	for _, ref := range refs {
		out = append(out, systemPromptJSON{Ref: ref, System: true})
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) getPrompt(w http.ResponseWriter, r *http.Request) error {
	p, err := fromPath(r, s.store.GetPrompt)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, uploaded(p))
}

// promptAudio streams the stored WAV (ranges and conditional requests as http.ServeContent
// does them).
func (s *Server) promptAudio(w http.ResponseWriter, r *http.Request) error {
	p, err := fromPath(r, s.store.GetPrompt)
	if err != nil {
		return err
	}
	if s.cfg.PromptsDir == "" {
		return errNoPromptStorage
	}
	f, err := os.Open(s.promptFile(p.ID))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("prompt %d: the row is there but not its file: %w", p.ID, err)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", fi.ModTime(), f)
	return nil
}

var errNoPromptStorage = errorf(http.StatusServiceUnavailable, "prompts storage not configured")

// Media types of a raw WAV body.
var wavTypes = []string{"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"}

// promptUpload is what an upload carries.
type promptUpload struct {
	name, description string
	audio             *media.Audio
	converted         bool
	hasFile           bool
}

// createPrompt takes a WAV as multipart/form-data (fields name, description, file) or as a
// raw audio/wav body (name and description in the query), converts it and stores it.
func (s *Server) createPrompt(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.PromptsDir == "" {
		return errNoPromptStorage
	}
	// The limit is the audio's (DecodeWAV); the slack is for a form's other fields.
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxPromptBytes+64<<10)
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var (
		up  promptUpload
		bad fieldErrors
		err error
	)
	switch {
	case mt == "multipart/form-data" && params["boundary"] != "":
		err = s.readPromptForm(multipart.NewReader(r.Body, params["boundary"]), &up, &bad)
	case slices.Contains(wavTypes, mt):
		q := r.URL.Query()
		for k := range q {
			if k != "name" && k != "description" {
				return &httpError{status: http.StatusBadRequest, detail: "unknown query parameter " + k,
					fields: []fieldError{{Field: k, Message: "unknown query parameter"}}}
			}
		}
		up.name, up.description, up.hasFile = q.Get("name"), q.Get("description"), true
		err = s.decodePrompt(r.Body, &up, &bad)
	default:
		return errorf(http.StatusUnsupportedMediaType,
			"send multipart/form-data (name, description, file) or an audio/wav body")
	}
	if err != nil {
		return err
	}
	checkName(&bad, "name", up.name, true)
	checkName(&bad, "description", up.description, false)
	if !up.hasFile {
		bad.add("file", "is required")
	}
	if err := bad.err(); err != nil {
		return err
	}
	p, err := s.storePrompt(r.Context(), up)
	if err != nil {
		return err
	}
	s.log.Info("prompt uploaded", "prompt_id", p.ID, "name", p.Name, "duration_ms", p.DurationMS,
		"converted", p.Converted, "by", principalFrom(r.Context()).user.ID)
	w.Header().Set("Location", "/api/v1/prompts/"+formatID(p.ID))
	return writeJSON(w, http.StatusCreated, uploaded(p))
}

// maxFormField bounds a form's text fields (name and description have at most 100
// characters: 400 bytes of UTF-8).
const maxFormField = 1 << 10

// readPromptForm reads the parts of an upload form in any order.
func (s *Server) readPromptForm(mr *multipart.Reader, up *promptUpload, bad *fieldErrors) error {
	seen := map[string]bool{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				return err
			}
			return errorf(http.StatusBadRequest, "malformed multipart body: "+err.Error())
		}
		field := part.FormName()
		if seen[field] {
			return &httpError{status: http.StatusBadRequest, detail: "field " + field + " is sent twice",
				fields: []fieldError{{Field: field, Message: "sent twice"}}}
		}
		seen[field] = true
		switch field {
		case "name", "description":
			b, err := io.ReadAll(io.LimitReader(part, maxFormField+1))
			if err != nil {
				return err
			}
			if len(b) > maxFormField {
				bad.add(field, "must have at most %d characters", maxNameLen)
				continue
			}
			if field == "name" {
				up.name = string(b)
			} else {
				up.description = string(b)
			}
		case "file":
			up.hasFile = true
			if err := s.decodePrompt(part, up, bad); err != nil {
				return err
			}
		default:
			return &httpError{status: http.StatusBadRequest, detail: "unknown field " + field,
				fields: []fieldError{{Field: field, Message: "unknown field"}}}
		}
		part.Close()
	}
}

// decodePrompt reads the audio: too large is 413, audio DecodeWAV cannot read is 422
// naming file.
func (s *Server) decodePrompt(rd io.Reader, up *promptUpload, bad *fieldErrors) error {
	a, converted, err := media.DecodeWAV(rd, s.cfg.MaxPromptBytes)
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
	case errors.Is(err, media.ErrTooLarge), errors.As(err, &tooLarge):
		return errorf(http.StatusRequestEntityTooLarge,
			fmt.Sprintf("the audio file is larger than max_prompt_bytes (%d bytes)", s.cfg.MaxPromptBytes))
	case errors.Is(err, media.ErrUnsupportedAudio), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		bad.add("file", "%s", err.Error())
		return nil
	default:
		return err
	}
	if len(a.Samples) == 0 {
		bad.add("file", "holds no audio")
		return nil
	}
	up.audio, up.converted = a, converted
	return nil
}

// storePrompt writes the audio to a temporary file beside its final place, inserts the row,
// then renames the file to <id>.wav: a failure at any step leaves neither a row without its
// file nor a file without its row.
func (s *Server) storePrompt(ctx context.Context, up promptUpload) (store.Prompt, error) {
	tmp, size, err := s.writeTemp(up.audio)
	if err != nil {
		return store.Prompt{}, err
	}
	defer os.Remove(tmp) // a no-op once renamed
	s.routingMu.Lock()
	defer s.routingMu.Unlock()
	p, err := s.store.CreatePrompt(ctx, store.Prompt{Name: up.name, Description: up.description,
		DurationMS: up.audio.Duration().Milliseconds(), SizeBytes: size, Converted: up.converted})
	if err != nil {
		return store.Prompt{}, err
	}
	if err := os.Rename(tmp, s.promptFile(p.ID)); err != nil {
		if derr := s.store.DeletePrompt(context.WithoutCancel(ctx), p.ID); derr != nil {
			s.log.Error("prompts: a row is left without its file", "prompt_id", p.ID, "error", derr)
		}
		return store.Prompt{}, fmt.Errorf("store prompt %d: %w", p.ID, err)
	}
	syncDir(s.cfg.PromptsDir)
	s.rebuildInboundAfter(ctx, "uploading a prompt")
	return p, nil
}

// writeTemp encodes a to a new temporary file in PromptsDir, synced to disk.
func (s *Server) writeTemp(a *media.Audio) (string, int64, error) {
	f, err := os.CreateTemp(s.cfg.PromptsDir, tempPrefix+"*.wav")
	if err != nil {
		return "", 0, fmt.Errorf("prompt file: %w", err)
	}
	fail := func(err error) (string, int64, error) {
		f.Close()
		os.Remove(f.Name())
		return "", 0, fmt.Errorf("prompt file: %w", err)
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	if err := media.EncodeWAV(bw, a); err != nil {
		return fail(err)
	}
	if err := bw.Flush(); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	fi, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	if err := f.Chmod(0o640); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", 0, fmt.Errorf("prompt file: %w", err)
	}
	return f.Name(), fi.Size(), nil
}

// syncDir makes a rename in dir durable (best effort: not every file system can).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// deletePrompt removes a prompt nothing refers to: 409 naming the IVRs, announcements...
// that play it.
func (s *Server) deletePrompt(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	s.routingMu.Lock()
	defer s.routingMu.Unlock()
	st, err := s.readInbound(ctx)
	if err != nil {
		return err
	}
	if !st.prompts[id] {
		return errNotFound
	}
	ids := make(map[int64]bool, len(st.prompts))
	for p := range st.prompts {
		if p != id {
			ids[p] = true
		}
	}
	st.prompts = ids
	if err := s.checkInbound(&st, "", "deleting prompt "+formatID(id), &fieldErrors{}); err != nil {
		return err
	}
	if err := s.store.DeletePrompt(ctx, id); err != nil {
		return err
	}
	s.rebuildInboundAfter(ctx, "deleting a prompt")
	if s.cfg.PromptsDir != "" {
		if err := os.Remove(s.promptFile(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("prompts: file of a deleted prompt not removed", "prompt_id", id, "error", err)
		}
	}
	s.log.Info("prompt deleted", "prompt_id", id, "by", principalFrom(ctx).user.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
