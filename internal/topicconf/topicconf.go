// Package topicconf names the topic settings that carry over from an origin topic to its copy:
// topics.sync and the builtin mirror copy them, replication.syncConfigs keeps them in step,
// and runbook validation refuses any other key.
package topicconf

import (
	"fmt"
	"slices"
	"strings"
)

// Copyable are the topic settings that carry over; broker-specific ones (replica placement,
// message format, leader replication throttles) do not.
var Copyable = map[string]bool{
	"cleanup.policy": true, "retention.ms": true, "retention.bytes": true, "max.message.bytes": true,
	"min.compaction.lag.ms": true, "max.compaction.lag.ms": true, "delete.retention.ms": true,
	"segment.ms": true, "segment.bytes": true, "compression.type": true, "message.timestamp.type": true,
	"min.cleanable.dirty.ratio": true, MinISR: true,
}

// MinISR is the one setting copied whatever its source: a target whose brokers default to
// fewer in-sync replicas would otherwise take writes the origin refused.
const MinISR = "min.insync.replicas"

// Check refuses a key that is not a copyable setting, naming those that are.
func Check(key string) error {
	if Copyable[key] {
		return nil
	}
	var known []string
	for c := range Copyable {
		known = append(known, c)
	}
	slices.Sort(known)
	return fmt.Errorf("%q is not a topic setting Ferry keeps in step (it keeps %s)", key, strings.Join(known, ", "))
}
