package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/pbx"
	"github.com/centrala/centrala/pbx/event"
	"github.com/centrala/centrala/queue"
)

// QueuesConfig is the `queues:` section.
type QueuesConfig struct {
	// NotReadyReasons is the catalogue of reasons an agent may give for not_ready (pause).
	NotReadyReasons queue.Reasons `yaml:"not_ready_reasons"`
	// FeatureCodes are dialled from a phone to log in, log out, pause and resume.
	FeatureCodes pbx.FeatureCodes `yaml:"feature_codes"`
	// MusicDir holds the music on hold: the class "default" is the WAV files of the
	// directory itself, any other class those of its subdirectory of that name. The Debian
	// package asterisk-moh-opsound-wav installs a set in the default place.
	MusicDir string `yaml:"music_dir"`
	// DispatchInterval is how often each node looks for agents for its waiting callers
	// when nothing wakes it (an agent made available on this node wakes it at once).
	DispatchInterval time.Duration `yaml:"dispatch_interval"`
}

// Defaults fills zero fields.
func (c *QueuesConfig) Defaults() {
	if c.NotReadyReasons == nil {
		c.NotReadyReasons = append(queue.Reasons(nil), queue.DefaultReasons...)
	}
	c.FeatureCodes.Defaults()
	if c.MusicDir == "" {
		c.MusicDir = "/usr/share/asterisk/moh"
	}
	if c.DispatchInterval == 0 {
		c.DispatchInterval = pbx.DefaultDispatchInterval
	}
}

// Validate reports the first bad setting.
func (c *QueuesConfig) Validate() error {
	if err := c.NotReadyReasons.Validate(); err != nil {
		return fmt.Errorf("queues not_ready_reasons: %w", err)
	}
	if c.DispatchInterval < 50*time.Millisecond || c.DispatchInterval > 10*time.Second {
		return errors.New("queues dispatch_interval must be between 50ms and 10s")
	}
	return c.FeatureCodes.Validate()
}

// agentFeatures carries out the feature codes (*45 login, *46 logout, *47[n] pause, *48
// resume) on the agent state store, for users marked as agents.
type agentFeatures struct {
	db      *store.DB
	st      queue.Store
	reasons queue.Reasons
	bus     *event.Bus
	now     func() time.Time
}

var _ pbx.Agents = agentFeatures{}

func (a agentFeatures) Feature(ctx context.Context, userID int64, action string, reason int) error {
	u, err := a.db.GetUser(ctx, userID)
	if err != nil {
		return err
	}
	if !u.IsAgent || u.ArchivedAt != nil {
		return fmt.Errorf("user %d is not an agent", userID)
	}
	why := ""
	if reason > 0 {
		if reason > len(a.reasons) {
			return fmt.Errorf("no pause reason %d (the catalogue has %d)", reason, len(a.reasons))
		}
		why = a.reasons[reason-1]
	}
	now := a.now()
	ag, err := a.st.Update(ctx, userID, now, func(ag queue.Agent) (queue.Agent, error) {
		switch action {
		case pbx.FeatureLogin:
			return ag.Login(now)
		case pbx.FeatureLogout:
			return ag.Logout(now)
		case pbx.FeaturePause:
			return ag.Pause(now, why, a.reasons)
		case pbx.FeatureResume:
			return ag.Resume(now)
		}
		return ag, fmt.Errorf("unknown feature %q", action)
	})
	if err != nil {
		return err
	}
	a.bus.Publish(event.Event{Type: "agent.state", Time: now, Data: ag})
	return nil
}

// idleSweeper logs out agents idle for longer than their user's idle_timeout (available or
// not_ready without queue work or a state change, and not on a call). Every node runs it;
// the store's compare-and-set makes the logout happen once.
type idleSweeper struct {
	db  *store.DB
	st  queue.Store
	bus *event.Bus
	log *slog.Logger
	now func() time.Time
}

// run sweeps every interval until ctx ends.
func (s idleSweeper) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.sweep(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("idle agents sweep", "error", err)
			}
		}
	}
}

// errNotIdle stops an Update whose agent stopped being idle meanwhile.
var errNotIdle = errors.New("agent no longer idle")

// sweep logs out the agents idle too long now.
func (s idleSweeper) sweep(ctx context.Context) error {
	users, err := s.db.ListUsers(ctx, false)
	if err != nil {
		return err
	}
	now := s.now()
	for _, u := range users {
		if !u.IsAgent || u.IdleTimeout <= 0 {
			continue
		}
		limit := time.Duration(u.IdleTimeout) * time.Second
		a, err := s.st.Agent(ctx, u.ID, now)
		if err != nil {
			return err
		}
		if a.Idle(now) < limit {
			continue
		}
		if busy, err := s.st.Busy(ctx, u.ID, now); err != nil || busy {
			continue
		}
		a, err = s.st.Update(ctx, u.ID, now, func(a queue.Agent) (queue.Agent, error) {
			if a.Idle(now) < limit {
				return a, errNotIdle
			}
			return a.IdleTimeout(now)
		})
		if errors.Is(err, errNotIdle) {
			continue
		}
		if err != nil {
			return err
		}
		s.log.Info("agent logged out after idle_timeout", "user_id", u.ID, "idle_timeout", limit)
		s.bus.Publish(event.Event{Type: "agent.state", Time: now, Data: a})
	}
	return nil
}

// queueBackend gives the call engine's queue dispatcher the queues, the agents' devices and
// the music on hold.
type queueBackend struct {
	db    *store.DB
	plan  *dialplan
	music *musicDir
}

var _ pbx.QueueBackend = queueBackend{}

func (b queueBackend) Queue(ctx context.Context, id int64) (queue.Queue, error) {
	q, err := b.db.GetQueue(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return queue.Queue{}, pbx.ErrNotFound
	}
	if err != nil {
		return queue.Queue{}, err
	}
	q.Queue.Defaults()
	return q.Queue, nil
}

func (b queueBackend) Agent(ctx context.Context, userID int64) (pbx.Party, error) {
	u, err := b.db.GetUser(ctx, userID)
	if err != nil {
		return pbx.Party{}, err
	}
	return b.plan.party(ctx, u)
}

func (b queueBackend) Music(class string) []string { return b.music.tracks(class) }

// musicPrefix starts the prompt reference of a music-on-hold track: "moh:<class>/<file
// without .wav>".
const musicPrefix = "moh:"

// musicDir lists the tracks of music-on-hold classes (sorted by file name), re-reading a
// directory at most once a minute.
type musicDir struct {
	dir string
	log *slog.Logger

	mu    sync.Mutex
	cache map[string]musicList
}

type musicList struct {
	refs []string
	at   time.Time
}

func newMusicDir(dir string, log *slog.Logger) *musicDir {
	return &musicDir{dir: dir, log: log, cache: map[string]musicList{}}
}

// classDir is the directory of a class; false for a name that is not one path segment.
func (m *musicDir) classDir(class string) (string, bool) {
	if class == queue.DefaultMusicOnHold {
		return m.dir, true
	}
	if class == "" || class == "." || class == ".." || strings.ContainsAny(class, `/\`) {
		return "", false
	}
	return filepath.Join(m.dir, class), true
}

func (m *musicDir) tracks(class string) []string {
	m.mu.Lock()
	l, ok := m.cache[class]
	m.mu.Unlock()
	if ok && time.Since(l.at) < time.Minute {
		return l.refs
	}
	var refs []string
	if dir, ok := m.classDir(class); ok {
		entries, err := os.ReadDir(dir)
		if err != nil {
			m.log.Warn("music on hold: no tracks", "class", class, "dir", dir, "error", err)
		}
		for _, e := range entries {
			if name, ok := strings.CutSuffix(e.Name(), ".wav"); ok && e.Type().IsRegular() {
				refs = append(refs, musicPrefix+class+"/"+name)
			}
		}
	}
	m.mu.Lock()
	m.cache[class] = musicList{refs: refs, at: time.Now()}
	m.mu.Unlock()
	return refs
}

// path is the file of a track reference (after musicPrefix): "<class>/<name>".
func (m *musicDir) path(rest string) (string, bool) {
	class, name, ok := strings.Cut(rest, "/")
	if !ok || name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return "", false
	}
	dir, ok := m.classDir(class)
	if !ok {
		return "", false
	}
	return filepath.Join(dir, name+".wav"), true
}

// warm decodes the tracks of a music class into the prompt cache, so the first callers of a
// queue do not wait for them.
func (m *musicDir) warm(ctx context.Context, p pbx.Prompts, class string) {
	n := 0
	for _, ref := range m.tracks(class) {
		if ctx.Err() != nil {
			return
		}
		if _, err := p.Prompt(ref); err != nil {
			m.log.Warn("music on hold: track not loaded", "track", ref, "error", err)
			continue
		}
		n++
	}
	m.log.Info("music on hold loaded", "class", class, "tracks", n)
}
