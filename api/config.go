package api

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/centrala/centrala/routing"
)

// Config of the admin API.
type Config struct {
	Addr       string `yaml:"addr"`        // host:port to listen on (CENTRALA_HTTP_ADDR)
	AdminToken string `yaml:"admin_token"` // bearer token with admin rights for automation (CENTRALA_ADMIN_TOKEN); empty: none
	// Realm is the SIP digest realm SIP account secrets are hashed for; cmd copies it from the
	// SIP configuration.
	Realm              string        `yaml:"-"`
	MinPasswordLength  int           `yaml:"min_password_length"`  // user passwords and SIP secrets
	ExtensionMinDigits int           `yaml:"extension_min_digits"` // shortest internal extension
	ExtensionMaxDigits int           `yaml:"extension_max_digits"` // longest internal extension
	TokenTTL           time.Duration `yaml:"token_ttl"`            // lifetime of a token from POST /api/v1/auth/login
	MaxBodyBytes       int64         `yaml:"max_body_bytes"`       // larger request bodies get 413
	MaxPromptBytes     int64         `yaml:"max_prompt_bytes"`     // larger prompt uploads (the audio file) get 413
	// PromptsDir keeps the uploaded prompts as <id>.wav; cmd sets it to <data_dir>/prompts.
	// Empty: prompt uploads are refused (503).
	PromptsDir string `yaml:"-"`
	// SystemPromptsDir is the system set of prompts (8 kHz WAV files), referred to as
	// "system:<path below it without .wav>"; cmd copies it from the configuration. A
	// directory that does not exist is an empty set.
	SystemPromptsDir string `yaml:"-"`
	// Routing is the numbering plan and emergency settings of the outbound rule table; cmd
	// copies it from the routing section.
	Routing RoutingConfig `yaml:"-"`
}

// RoutingConfig is the configuration of outbound routing (the routing: section).
type RoutingConfig struct {
	routing.Numbering `yaml:",inline"`
	// Emergency numbers are always allowed, for everyone (dialled form or E.164).
	Emergency []string `yaml:"emergency"`
	// EmergencyTrunks carry emergency calls no allow rule gives trunks for.
	EmergencyTrunks []int64 `yaml:"emergency_trunks"`
	// EmergencyCLIP is a project number presented on emergency calls no rule gives one for;
	// until the number exists in the numbers table it is ignored (with a warning).
	EmergencyCLIP string `yaml:"emergency_clip"`
}

// DefaultSystemPromptsDir is where Debian's asterisk-core-sounds-en-wav installs the
// English system prompts.
const DefaultSystemPromptsDir = "/usr/share/asterisk/sounds/en"

// DefaultMaxPromptBytes bounds a prompt upload: 20 MiB is about 20 minutes of 8 kHz 16-bit
// mono, or 2 minutes of CD audio.
const DefaultMaxPromptBytes = 20 << 20

// DefaultEmergency are the emergency numbers when none are configured: the European,
// North American and British ones, which GSM phones treat as emergency numbers everywhere.
func DefaultEmergency() []string { return []string{"112", "911", "999"} }

// Defaults fills zero fields: international prefix 00 (ITU-T E.164 recommendation) and the
// default emergency numbers.
func (c *RoutingConfig) Defaults() {
	if c.InternationalPrefix == "" {
		c.InternationalPrefix = "00"
	}
	if c.Emergency == nil {
		c.Emergency = DefaultEmergency()
	}
	if c.EmergencyTrunks == nil {
		c.EmergencyTrunks = []int64{}
	}
}

// Validate checks the numbering plan, the emergency numbers and trunk ids (whether the
// trunks and the CLIP exist is checked against the database when the table is built).
func (c *RoutingConfig) Validate() error {
	_, err := routing.NewTable(nil, routing.Options{Numbering: c.Numbering, Emergency: c.Emergency,
		EmergencyTrunks: c.EmergencyTrunks})
	var ve *routing.ValidationError
	if errors.As(err, &ve) {
		parts := make([]string, len(ve.Errors))
		for i, f := range ve.Errors {
			parts[i] = strings.TrimPrefix(strings.TrimPrefix(f.Field, "options."), "numbering.") + ": " + f.Message
		}
		return errors.New("routing: " + strings.Join(parts, "; "))
	}
	if err != nil {
		return err
	}
	if c.EmergencyCLIP != "" && !clipRe.MatchString(c.EmergencyCLIP) {
		return fmt.Errorf("routing emergency_clip %q: want a number (digits, optionally with a leading +)", c.EmergencyCLIP)
	}
	return nil
}

// Defaults fills zero fields.
func (c *Config) Defaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	if c.MinPasswordLength == 0 {
		c.MinPasswordLength = 8
	}
	if c.ExtensionMinDigits == 0 {
		c.ExtensionMinDigits = 2
	}
	if c.ExtensionMaxDigits == 0 {
		c.ExtensionMaxDigits = 6
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = 12 * time.Hour
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.MaxPromptBytes == 0 {
		c.MaxPromptBytes = DefaultMaxPromptBytes
	}
	if c.SystemPromptsDir == "" {
		c.SystemPromptsDir = DefaultSystemPromptsDir
	}
	c.Routing.Defaults()
}

// minAdminToken is the shortest admin token accepted: it is a password that never expires.
const minAdminToken = 16

// maxPassword bounds passwords and secrets (argon2 and digest hashing of huge inputs).
const maxPassword = 1024

// Validate reports the first bad setting.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("api addr %q: %w", c.Addr, err)
	}
	switch {
	case c.AdminToken != "" && len(c.AdminToken) < minAdminToken:
		return fmt.Errorf("api admin_token must have at least %d characters", minAdminToken)
	case c.Realm == "":
		return errors.New("api: SIP realm is empty")
	case c.MinPasswordLength < 1 || c.MinPasswordLength > 128:
		return errors.New("api min_password_length must be between 1 and 128")
	case c.ExtensionMinDigits < 1 || c.ExtensionMaxDigits > 15 || c.ExtensionMinDigits > c.ExtensionMaxDigits:
		return errors.New("api extension digits: want 1 <= extension_min_digits <= extension_max_digits <= 15")
	case c.TokenTTL < time.Minute:
		return errors.New("api token_ttl must be at least 1m")
	case c.MaxBodyBytes < 1024:
		return errors.New("api max_body_bytes must be at least 1024")
	case c.MaxPromptBytes < 1024:
		return errors.New("api max_prompt_bytes must be at least 1024")
	}
	return c.Routing.Validate()
}
