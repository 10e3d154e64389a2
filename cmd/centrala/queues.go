package main

import (
	"fmt"

	"github.com/centrala/centrala/queue"
)

// QueuesConfig is the `queues:` section.
type QueuesConfig struct {
	// NotReadyReasons is the catalogue of reasons an agent may give for not_ready (pause).
	NotReadyReasons queue.Reasons `yaml:"not_ready_reasons"`
}

// Defaults fills zero fields.
func (c *QueuesConfig) Defaults() {
	if c.NotReadyReasons == nil {
		c.NotReadyReasons = append(queue.Reasons(nil), queue.DefaultReasons...)
	}
}

// Validate reports the first bad setting.
func (c *QueuesConfig) Validate() error {
	if err := c.NotReadyReasons.Validate(); err != nil {
		return fmt.Errorf("queues not_ready_reasons: %w", err)
	}
	return nil
}
