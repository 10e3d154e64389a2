package pbx

import (
	"context"
	"errors"
	"strings"

	"github.com/centrala/centrala/cdr"
)

// Feature codes: an agent dials *45 (log in to the queues), *46 (log out), *47 (pause:
// not_ready; *47 followed by a digit chooses the n-th reason of the catalogue) and *48
// (resume) from a phone. The call is answered, the change is made through Agents, a short
// prompt says how it went, and the call ends. The codes are configurable.

// FeatureCodes are the codes agents dial for their queue state; an empty code is off.
type FeatureCodes struct {
	Login  string `yaml:"login"`
	Logout string `yaml:"logout"`
	Pause  string `yaml:"pause"`
	Resume string `yaml:"resume"`
}

// Defaults fills the codes Asterisk's app_queue users know from many PBXs.
func (f *FeatureCodes) Defaults() {
	if f.Login == "" {
		f.Login = "*45"
	}
	if f.Logout == "" {
		f.Logout = "*46"
	}
	if f.Pause == "" {
		f.Pause = "*47"
	}
	if f.Resume == "" {
		f.Resume = "*48"
	}
}

// Validate refuses codes that are not dialable or that one is the prefix of another (a pause
// with a reason digit must not read as another code).
func (f *FeatureCodes) Validate() error {
	codes := []string{f.Login, f.Logout, f.Pause, f.Resume}
	for i, c := range codes {
		if c == "" || strings.Trim(c, "0123456789*#") != "" || len(c) > 8 {
			return errors.New("queues feature_codes: each code is 1-8 of 0-9 * #")
		}
		for j, d := range codes {
			if i != j && strings.HasPrefix(d, c) {
				return errors.New("queues feature_codes: no code may start another")
			}
		}
	}
	return nil
}

// Feature actions.
const (
	FeatureLogin  = "login"
	FeatureLogout = "logout"
	FeaturePause  = "pause"
	FeatureResume = "resume"
)

// Agents changes a user's agent state for the feature codes (cmd implements it over the
// queue state store). reason is the pause reason chosen by its position in the catalogue
// (1-based; 0: none). It answers an error when the change is refused (not an agent, already
// logged in...), which the caller hears as an error tone.
type Agents interface {
	Feature(ctx context.Context, userID int64, action string, reason int) error
}

// WithAgents turns the feature codes on: dialled from a phone they change its user's agent
// state through a.
func WithAgents(a Agents, codes FeatureCodes) Option {
	return func(e *Engine) error {
		codes.Defaults()
		if err := codes.Validate(); err != nil {
			return err
		}
		if a == nil {
			return errors.New("pbx: feature codes need agents")
		}
		e.agents, e.features = a, codes
		return nil
	}
}

// featureOf reads a dialled string as a feature code: the action and, for a pause, the reason
// digit after the code (0 when none).
func (f FeatureCodes) featureOf(dialled string) (string, int, bool) {
	switch {
	case dialled == f.Login:
		return FeatureLogin, 0, true
	case dialled == f.Logout:
		return FeatureLogout, 0, true
	case dialled == f.Resume:
		return FeatureResume, 0, true
	case dialled == f.Pause:
		return FeaturePause, 0, true
	case strings.HasPrefix(dialled, f.Pause) && len(dialled) == len(f.Pause)+1 &&
		dialled[len(f.Pause)] >= '1' && dialled[len(f.Pause)] <= '9':
		return FeaturePause, int(dialled[len(f.Pause)] - '0'), true
	}
	return "", 0, false
}

// Prompts of the feature codes (asterisk-core-sounds-en-wav names; a missing prompt is
// skipped, the call still ends).
var featurePrompts = map[string]string{
	FeatureLogin:  "system:agent-loginok",
	FeatureLogout: "system:agent-loggedoff",
	FeaturePause:  "system:beep",
	FeatureResume: "system:beep",
}

const featureRefusedPrompt = "system:beeperr"

// feature runs a feature code call: answer, change the state, play the result, hang up.
func (c *call) feature(dialled, action string, reason int) {
	uid := c.caller.UserID
	callerNum := c.callerNumber()
	clip := callerNum
	c.begin(cdr.Start{Direction: cdr.Internal, Caller: callerNum, Callee: dialled, CLIP: &clip, UserID: &uid})
	c.dtmf = make(chan byte, 8)
	if !c.ownAnswer(false) {
		return
	}
	prompt := featurePrompts[action]
	why := "feature " + action
	if err := c.e.agents.Feature(c.ctx, uid, action, reason); err != nil {
		c.log.Info("call: feature refused", "action", action, "reason", reason, "error", err)
		prompt, why = featureRefusedPrompt, "feature "+action+" refused: "+err.Error()
	} else {
		c.log.Info("call: feature", "action", action, "reason", reason)
	}
	if c.e.prompts != nil && !c.playToEnd(prompt) {
		return
	}
	c.byeCaller()
	c.end(cdr.Answered, 200, why, cdr.BySystem)
}
