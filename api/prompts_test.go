package api

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/pbx/media"
)

// wavFile builds a WAV file of frames frames of a 440 Hz tone: PCM of bits bits (or, with
// format other than 1, that tag and the same bytes).
func wavFile(format uint16, rate, channels, bits, frames int) []byte {
	block := channels * bits / 8
	data := make([]byte, 0, frames*block)
	for i := range frames {
		v := 0.5 * math.Sin(2*math.Pi*440*float64(i)/float64(rate))
		for range channels {
			switch bits {
			case 8:
				data = append(data, byte(128+int(v*127)))
			case 16:
				data = binary.LittleEndian.AppendUint16(data, uint16(int16(v*32767)))
			}
		}
	}
	var b bytes.Buffer
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, uint32(36+len(data)))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), format, uint16(channels), uint32(rate), uint32(rate * block),
		uint16(block), uint16(bits)} {
		_ = binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	_ = binary.Write(&b, binary.LittleEndian, uint32(len(data)))
	b.Write(data)
	return b.Bytes()
}

// systemPromptsDir makes a small system set: three prompts, and files that are not in it.
func systemPromptsDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	wav := wavFile(1, 8000, 1, 16, 800)
	for name, body := range map[string][]byte{
		"welcome.wav": wav, "closed.wav": wav, "digits/1.wav": wav,
		"notes.txt": []byte("not audio"), "with space.wav": wav, "welcome.WAV.bak": wav,
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, body, 0o644))
	}
	return dir
}

// upload sends a prompt as multipart/form-data; fields with a nil value are left out, and
// the file is sent when not nil.
func (e *env) upload(name, description *string, file []byte, mode ...specMode) response {
	e.t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if name != nil {
		require.NoError(e.t, mw.WriteField("name", *name))
	}
	if description != nil {
		require.NoError(e.t, mw.WriteField("description", *description))
	}
	if file != nil {
		fw, err := mw.CreateFormFile("file", "prompt.wav")
		require.NoError(e.t, err)
		_, err = fw.Write(file)
		require.NoError(e.t, err)
	}
	require.NoError(e.t, mw.Close())
	return e.send("POST", "/api/v1/prompts", testAdminToken, mw.FormDataContentType(), b.Bytes(), mode...)
}

// send is do with a body of any media type.
func (e *env) send(method, path, token, contentType string, body []byte, mode ...specMode) response {
	e.t.Helper()
	m := specValid
	if len(mode) > 0 {
		m = mode[0]
	}
	ctx := context.WithValue(e.t.Context(), specModeKey{}, m)
	req, err := http.NewRequestWithContext(ctx, method, e.ts.URL+path, bytes.NewReader(body))
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := e.client.Do(req)
	require.NoError(e.t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	return response{status: res.StatusCode, header: res.Header, body: raw}
}

func ptr[T any](v T) *T { return &v }

func (e *env) uploadPrompt(name string, file []byte) promptJSON {
	e.t.Helper()
	res := e.upload(&name, nil, file)
	require.Equal(e.t, http.StatusCreated, res.status, "body: %s", res.body)
	var p promptJSON
	res.decode(e.t, &p)
	return p
}

// download fetches a prompt's stored audio.
func (e *env) download(id int64) response {
	e.t.Helper()
	return e.do("GET", fmt.Sprintf("/api/v1/prompts/%d/audio", id), testAdminToken, nil)
}

// encoded is what the store should keep of an upload: EncodeWAV of what DecodeWAV reads.
func encoded(t *testing.T, file []byte) []byte {
	t.Helper()
	a, _, err := media.DecodeWAV(bytes.NewReader(file), 1<<30)
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, media.EncodeWAV(&b, a))
	return b.Bytes()
}

func TestPromptUpload(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	// CD audio, stereo: converted; 1.5 s stays 1.5 s.
	cd := wavFile(1, 44100, 2, 16, 66150)
	res := e.upload(ptr("welcome"), ptr("morning greeting"), cd)
	require.Equal(t, http.StatusCreated, res.status, "body: %s", res.body)
	var p promptJSON
	res.decode(t, &p)
	require.Equal(t, fmt.Sprintf("/api/v1/prompts/%d", p.ID), res.header.Get("Location"))
	require.Equal(t, formatID(p.ID), p.Ref)
	require.False(t, p.System)
	require.Equal(t, "welcome", p.Name)
	require.Equal(t, "morning greeting", p.Description)
	require.True(t, p.Converted)
	require.InDelta(t, 1500, p.DurationMS, 1)
	res = e.download(p.ID)
	require.Equal(t, http.StatusOK, res.status)
	require.Equal(t, "audio/wav", res.header.Get("Content-Type"))
	require.Equal(t, encoded(t, cd), res.body)
	require.Equal(t, int64(len(res.body)), p.SizeBytes)
	a, converted, err := media.DecodeWAV(bytes.NewReader(res.body), 1<<30)
	require.NoError(t, err)
	require.False(t, converted, "stored as 8 kHz 16-bit mono")
	require.InDelta(t, 12000, len(a.Samples), 8)

	// 8 kHz 16-bit mono is kept as it is.
	narrow := wavFile(1, 8000, 1, 16, 4000)
	n := e.uploadPrompt("closed", narrow)
	require.False(t, n.Converted)
	require.Equal(t, int64(500), n.DurationMS)
	res = e.download(n.ID)
	require.Equal(t, encoded(t, narrow), res.body)
	require.Equal(t, narrow, res.body)

	// A raw audio/wav body, name and description in the query.
	mono8 := wavFile(1, 16000, 1, 8, 1600)
	res = e.send("POST", "/api/v1/prompts?name="+url.QueryEscape("after hours")+"&description=raw", testAdminToken,
		"audio/x-wav", mono8)
	require.Equal(t, http.StatusCreated, res.status, "body: %s", res.body)
	var raw promptJSON
	res.decode(t, &raw)
	require.Equal(t, "after hours", raw.Name)
	require.Equal(t, "raw", raw.Description)
	require.True(t, raw.Converted)
	require.Equal(t, int64(100), raw.DurationMS)
	require.Equal(t, encoded(t, mono8), e.download(raw.ID).body)

	// One by id; the listing: uploaded by name, then the system set by ref.
	res = e.do("GET", fmt.Sprintf("/api/v1/prompts/%d", p.ID), testAdminToken, nil)
	require.Equal(t, http.StatusOK, res.status)
	var got promptJSON
	res.decode(t, &got)
	require.Equal(t, p, got)
	res = e.do("GET", "/api/v1/prompts", testAdminToken, nil)
	require.Equal(t, http.StatusOK, res.status)
	var list []map[string]any
	res.decode(t, &list)
	var refs []string
	for _, item := range list {
		refs = append(refs, item["ref"].(string))
	}
	require.Equal(t, []string{raw.Ref, n.Ref, p.Ref, "system:closed", "system:digits/1", "system:welcome"}, refs)
	require.Equal(t, map[string]any{"ref": "system:digits/1", "system": true}, list[4])

	// The files are <id>.wav and nothing else (no temporary files left).
	entries, err := os.ReadDir(e.srv.cfg.PromptsDir)
	require.NoError(t, err)
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	require.ElementsMatch(t, []string{formatID(p.ID) + ".wav", formatID(n.ID) + ".wav", formatID(raw.ID) + ".wav"}, names)
}

func TestPromptUploadRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withConfig(func(c *Config) { c.MaxPromptBytes = 64 << 10 }))
	good := wavFile(1, 8000, 1, 16, 800)
	e.uploadPrompt("welcome", good)

	mp3 := wavFile(0x0055, 44100, 2, 16, 1000)
	junk := make([]byte, 4000)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(junk)
	cases := []struct {
		name        string
		pname, desc *string
		file        []byte
		fields      []string
		mode        specMode
	}{
		{"mp3 in a wav", ptr("mp3"), nil, mp3, []string{"file"}, specValid},
		{"random bytes", ptr("junk"), nil, junk, []string{"file"}, specValid},
		{"empty file", ptr("empty"), nil, []byte{}, []string{"file"}, specValid},
		{"truncated", ptr("cut"), nil, good[:30], []string{"file"}, specValid},
		{"no audio", ptr("silence"), nil, wavFile(1, 8000, 1, 16, 0), []string{"file"}, specValid},
		{"no name", nil, nil, good, []string{"name"}, specInvalid},
		{"no file", ptr("nothing"), nil, nil, []string{"file"}, specInvalid},
		{"long name", ptr(string(bytes.Repeat([]byte("n"), 101))), nil, good, []string{"name"}, specInvalid},
		{"control in description", ptr("ctl"), ptr("a\x01b"), good, []string{"description"}, specValid},
		{"everything", ptr(""), nil, junk, []string{"file", "name"}, specValid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := e.upload(tc.pname, tc.desc, tc.file, tc.mode)
			require.Equal(t, http.StatusUnprocessableEntity, res.status, "body: %s", res.body)
			require.Equal(t, tc.fields, fieldsOf(res.problem(t)))
		})
	}
	res := e.upload(ptr("mp3"), nil, mp3)
	require.Contains(t, res.problem(t).Errors[0].Message, "MP3")

	// Over max_prompt_bytes: 413, as a form or a raw body.
	big := wavFile(1, 8000, 1, 16, 40000)
	res = e.upload(ptr("big"), nil, big, specUnchecked)
	require.Equal(t, http.StatusRequestEntityTooLarge, res.status, "body: %s", res.body)
	require.Contains(t, res.problem(t).Detail, "max_prompt_bytes")
	res = e.send("POST", "/api/v1/prompts?name=big", testAdminToken, "audio/wav", big, specUnchecked)
	require.Equal(t, http.StatusRequestEntityTooLarge, res.status, "body: %s", res.body)

	// A taken name is 409 and leaves no file behind.
	res = e.upload(ptr("welcome"), nil, good)
	require.Equal(t, http.StatusConflict, res.status, "body: %s", res.body)
	require.Equal(t, []string{"name"}, fieldsOf(res.problem(t)))
	entries, err := os.ReadDir(e.srv.cfg.PromptsDir)
	require.NoError(t, err)
	require.Len(t, entries, 1)

	// Not a form, not a WAV: 415. A field twice, or an unknown one: 400.
	res = e.send("POST", "/api/v1/prompts", testAdminToken, "text/plain", []byte("hello"), specInvalid)
	require.Equal(t, http.StatusUnsupportedMediaType, res.status)
	res.problem(t)
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	require.NoError(t, mw.WriteField("name", "x"))
	require.NoError(t, mw.WriteField("colour", "red"))
	require.NoError(t, mw.Close())
	res = e.send("POST", "/api/v1/prompts", testAdminToken, mw.FormDataContentType(), b.Bytes(), specInvalid)
	require.Equal(t, http.StatusBadRequest, res.status, "body: %s", res.body)
	require.Equal(t, []string{"colour"}, fieldsOf(res.problem(t)))
	res = e.send("POST", "/api/v1/prompts?name=x&colour=red", testAdminToken, "audio/wav", good, specUnchecked)
	require.Equal(t, http.StatusBadRequest, res.status, "body: %s", res.body)

	// Roles: supervisors read, agents nothing.
	_, sup := e.userWithToken("super", "202", store.RoleSupervisor)
	_, agent := e.userWithToken("agent", "203", store.RoleAgent)
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/prompts", sup, nil).status)
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/prompts/1/audio", sup, nil).status)
	require.Equal(t, http.StatusForbidden, e.do("GET", "/api/v1/prompts", agent, nil).status)
	res = e.send("POST", "/api/v1/prompts?name=x", sup, "audio/wav", good)
	require.Equal(t, http.StatusForbidden, res.status)
	require.Equal(t, http.StatusForbidden, e.do("DELETE", "/api/v1/prompts/1", sup, nil).status)
}

func TestPromptStorageNotConfigured(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withConfig(func(c *Config) { c.PromptsDir = "" }))
	res := e.upload(ptr("welcome"), nil, wavFile(1, 8000, 1, 16, 800))
	require.Equal(t, http.StatusServiceUnavailable, res.status)
	require.Equal(t, "prompts storage not configured", res.problem(t).Detail)
	// The system set is still there.
	res = e.do("GET", "/api/v1/prompts", testAdminToken, nil)
	require.Equal(t, http.StatusOK, res.status)
	require.Contains(t, string(res.body), `"system:welcome"`)
	_, ok := e.srv.PromptPath("1")
	require.False(t, ok)
}

// A prompt an IVR or announcement plays cannot go; once nothing plays it, it goes with its
// file.
func TestPromptDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser(validUser("anna", "201"))
	p := e.uploadPrompt("menu", wavFile(1, 8000, 1, 16, 800))
	ivr := e.createObject("/api/v1/ivrs", map[string]any{"name": "main", "menu": p.Ref,
		"choices": []any{map[string]any{"digits": "1", "destination": ext("201")}}})
	num := e.createNumber(map[string]any{"number": "+48221234567",
		"destination": map[string]any{"type": "announcement", "target": p.Ref, "then": ext("201")}})

	one := fmt.Sprintf("/api/v1/prompts/%d", p.ID)
	res := e.do("DELETE", one, testAdminToken, nil)
	require.Equal(t, http.StatusConflict, res.status, "body: %s", res.body)
	pr := res.problem(t)
	require.Len(t, pr.Conflicts, 2)
	require.Equal(t, fmt.Sprintf("number +48221234567: destination.target: no prompt %d", p.ID), pr.Conflicts[0].String())
	require.Equal(t, fmt.Sprintf("ivr %d: menu: no prompt %d", ivr, p.ID), pr.Conflicts[1].String())
	require.Contains(t, pr.Detail, "number +48221234567: destination.target")
	require.Equal(t, http.StatusOK, e.do("GET", one, testAdminToken, nil).status)
	file, ok := e.srv.PromptPath(p.Ref)
	require.True(t, ok)
	require.FileExists(t, file)

	require.Equal(t, http.StatusNoContent, e.do("DELETE", fmt.Sprintf("/api/v1/ivrs/%d", ivr), testAdminToken, nil).status)
	require.Equal(t, http.StatusNoContent, e.do("DELETE", fmt.Sprintf("/api/v1/numbers/%d", num.ID), testAdminToken, nil).status)
	require.Equal(t, http.StatusNoContent, e.do("DELETE", one, testAdminToken, nil).status)
	require.NoFileExists(t, file)
	_, ok = e.srv.PromptPath(p.Ref)
	require.False(t, ok)
	require.Equal(t, http.StatusNotFound, e.do("GET", one, testAdminToken, nil).status)
	require.Equal(t, http.StatusNotFound, e.download(p.ID).status)
	require.Equal(t, http.StatusNotFound, e.do("DELETE", one, testAdminToken, nil).status)
}

func TestPromptPath(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.uploadPrompt("welcome", wavFile(1, 8000, 1, 16, 800))
	file, ok := e.srv.PromptPath(p.Ref)
	require.True(t, ok)
	require.Equal(t, filepath.Join(e.srv.cfg.PromptsDir, p.Ref+".wav"), file)
	file, ok = e.srv.PromptPath("system:digits/1")
	require.True(t, ok)
	require.FileExists(t, file)
	require.Equal(t, "1.wav", filepath.Base(file))
	for _, ref := range []string{"", "0", "-1", "0" + p.Ref, p.Ref + "0", "system:", "system:nope",
		"system:../welcome", "system:digits/../welcome", "system:/welcome", "system:digits//1",
		"system:welcome.wav", "system:with space", "system:notes", `system:digits\1`, "../" + p.Ref,
		"system:./welcome"} {
		_, ok := e.srv.PromptPath(ref)
		require.False(t, ok, "%q", ref)
	}
}
