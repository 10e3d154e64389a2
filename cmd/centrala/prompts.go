package main

import (
	"container/list"
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sync/singleflight"

	"github.com/centrala/centrala/pbx"
	"github.com/centrala/centrala/pbx/media"
)

// PromptsConfig is the `prompts:` section: where the system set of prompts lives and how much
// decoded audio the call engine keeps in memory.
type PromptsConfig struct {
	// SystemDir holds the system prompts (8 kHz WAV files, referred to as "system:<path
	// without .wav>"). The Debian package asterisk-core-sounds-en-wav installs a set in the
	// default place. A missing directory means no system prompts.
	SystemDir string `yaml:"system_dir"`
	// CacheMB bounds the decoded prompts kept in memory (16 bits a sample: 1 MB is 65 s).
	CacheMB int `yaml:"cache_mb"`
}

// Defaults fills zero fields.
func (c *PromptsConfig) Defaults() {
	if c.SystemDir == "" {
		c.SystemDir = "/usr/share/asterisk/sounds/en"
	}
	if c.CacheMB == 0 {
		c.CacheMB = 64
	}
}

// Validate reports the first bad setting.
func (c *PromptsConfig) Validate() error {
	if c.CacheMB < 1 || c.CacheMB > 4096 {
		return errors.New("prompts cache_mb must be between 1 and 4096")
	}
	return nil
}

// maxPromptFile bounds a prompt file read from disk (a stored or system prompt).
const maxPromptFile = 256 << 20

// promptCache gives the call engine the audio of prompts: the file a reference names (found
// by path, the API's Server.PromptPath), decoded once and kept in a least-recently-used
// cache. Uploaded prompts never change under their id and ids are not reused, so entries
// need no invalidation.
type promptCache struct {
	path func(ref string) (string, bool)
	max  int64 // bytes of samples

	mu    sync.Mutex
	lru   *list.List // of *promptEntry, most recent first
	items map[string]*list.Element
	size  int64
	load  singleflight.Group // calls asking for a prompt being decoded wait for that one decode
}

type promptEntry struct {
	ref   string
	audio *media.Audio
}

var _ pbx.Prompts = (*promptCache)(nil)

func newPromptCache(maxBytes int64) *promptCache {
	return &promptCache{max: maxBytes, lru: list.New(), items: map[string]*list.Element{}}
}

// Prompt returns the decoded audio of ref.
func (p *promptCache) Prompt(ref string) (*media.Audio, error) {
	p.mu.Lock()
	if el, ok := p.items[ref]; ok {
		p.lru.MoveToFront(el)
		a := el.Value.(*promptEntry).audio
		p.mu.Unlock()
		return a, nil
	}
	p.mu.Unlock()
	v, err, _ := p.load.Do(ref, func() (any, error) { return p.decode(ref) })
	if err != nil {
		return nil, err
	}
	a := v.(*media.Audio)
	p.mu.Lock()
	defer p.mu.Unlock()
	if el, ok := p.items[ref]; ok { // loaded meanwhile by another call
		return el.Value.(*promptEntry).audio, nil
	}
	p.items[ref] = p.lru.PushFront(&promptEntry{ref: ref, audio: a})
	p.size += int64(2 * len(a.Samples))
	for p.size > p.max && p.lru.Len() > 1 {
		last := p.lru.Back()
		e := p.lru.Remove(last).(*promptEntry)
		delete(p.items, e.ref)
		p.size -= int64(2 * len(e.audio.Samples))
	}
	return a, nil
}

// decode reads and decodes the file of ref.
func (p *promptCache) decode(ref string) (*media.Audio, error) {
	if p.path == nil {
		return nil, fmt.Errorf("prompt %q: prompts are not set up", ref)
	}
	file, ok := p.path(ref)
	if !ok {
		return nil, fmt.Errorf("prompt %q: no such prompt", ref)
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("prompt %q: %w", ref, err)
	}
	defer f.Close()
	a, _, err := media.DecodeWAV(f, maxPromptFile)
	if err != nil {
		return nil, fmt.Errorf("prompt %q: %w", ref, err)
	}
	return a, nil
}
