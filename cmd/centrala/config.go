package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/centrala/centrala/api"
	"github.com/centrala/centrala/pbx"
	"github.com/centrala/centrala/pbx/digest"
	"github.com/centrala/centrala/pbx/media"
	"github.com/centrala/centrala/pbx/registrar"
)

// Config is the whole configuration: embedded defaults, then the YAML file named by
// CENTRALA_CONFIG (or -config), then environment variables.
type Config struct {
	DataDir   string             `yaml:"data_dir"`
	DBURL     string             `yaml:"db_url"`
	RedisURL  string             `yaml:"redis_url"`
	SecretKey string             `yaml:"secret_key"` // base64 of 32 bytes sealing trunk passwords
	LogLevel  string             `yaml:"log_level"`  // debug, info, warn, error
	LogFormat string             `yaml:"log_format"` // text or json
	SIP       pbx.Config         `yaml:"sip"`
	Registrar registrar.Config   `yaml:"registrar"`
	Security  digest.GuardConfig `yaml:"security"`
	API       api.Config         `yaml:"api"`
	Routing   api.RoutingConfig  `yaml:"routing"` // numbering plan and emergency numbers of outbound routing
	Calls     pbx.CallConfig     `yaml:"calls"`
	Media     media.Config       `yaml:"media"`
	Prompts   PromptsConfig      `yaml:"prompts"`
	Queues    QueuesConfig       `yaml:"queues"`
}

// env maps each environment variable to the field it sets.
func (c *Config) env() []struct {
	name string
	dst  *string
} {
	return []struct {
		name string
		dst  *string
	}{
		{"CENTRALA_DATA_DIR", &c.DataDir},
		{"CENTRALA_DB_URL", &c.DBURL},
		{"CENTRALA_REDIS_URL", &c.RedisURL},
		{"CENTRALA_SECRET_KEY", &c.SecretKey},
		{"CENTRALA_LOG_LEVEL", &c.LogLevel},
		{"CENTRALA_LOG_FORMAT", &c.LogFormat},
		{"CENTRALA_SIP_ADDR", &c.SIP.Addr},
		{"CENTRALA_SIP_TLS_ADDR", &c.SIP.TLSAddr},
		{"CENTRALA_TLS_CERT", &c.SIP.TLSCert},
		{"CENTRALA_TLS_KEY", &c.SIP.TLSKey},
		{"CENTRALA_TLS_CA", &c.SIP.TLSCA},
		{"CENTRALA_SIP_REALM", &c.SIP.Realm},
		{"CENTRALA_SIP_EXTERNAL_IP", &c.SIP.ExternalIP},
		{"CENTRALA_RTP_BIND_ADDR", &c.Media.BindAddr},
		{"CENTRALA_HTTP_ADDR", &c.API.Addr},
		{"CENTRALA_ADMIN_TOKEN", &c.API.AdminToken},
		{"CENTRALA_PROMPTS_DIR", &c.Prompts.SystemDir},
		{"CENTRALA_MUSIC_DIR", &c.Queues.MusicDir},
	}
}

func loadConfig(path string, getenv func(string) string) (Config, error) {
	var c Config
	if path == "" {
		path = getenv("CENTRALA_CONFIG")
	}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("read config: %w", err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
	}
	for _, e := range c.env() {
		if v, ok := lookup(getenv, e.name); ok {
			*e.dst = v
		}
	}
	if c.DataDir == "" {
		c.DataDir = "data"
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.LogFormat == "" {
		c.LogFormat = "text"
	}
	if c.API.Addr == "" {
		c.API.Addr = "127.0.0.1:8080"
	}
	c.SIP.Defaults()
	c.Registrar.Realm = c.SIP.Realm
	c.Registrar.Defaults()
	c.Security.Defaults()
	c.API.Realm = c.SIP.Realm
	c.API.PromptsDir = filepath.Join(c.DataDir, "prompts")
	c.API.Routing = c.Routing
	c.API.Defaults()
	c.Routing = c.API.Routing
	c.Calls.Defaults()
	c.Media.Defaults()
	c.Prompts.Defaults()
	c.API.SystemPromptsDir = c.Prompts.SystemDir
	if err := c.Prompts.Validate(); err != nil {
		return c, err
	}
	c.Queues.Defaults()
	if err := c.Queues.Validate(); err != nil {
		return c, err
	}
	if err := c.SIP.Validate(); err != nil {
		return c, err
	}
	if err := c.Calls.Validate(); err != nil {
		return c, err
	}
	if err := c.Media.Validate(); err != nil {
		return c, err
	}
	if err := c.Registrar.Validate(); err != nil {
		return c, err
	}
	if err := c.API.Validate(); err != nil {
		return c, err
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return c, fmt.Errorf("log_level %q: want debug, info, warn or error", c.LogLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return c, fmt.Errorf("log_format %q: want text or json", c.LogFormat)
	}
	return c, nil
}

func lookup(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}
