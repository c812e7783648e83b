// Package mm2 is what Ferry's MirrorMaker 2 engines share: the connector configuration
// generated from a runbook's replication, and the judgement of connector and task states
// (Kafka Connect's REST format, which Strimzi copies into its status).
package mm2

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ferryhq/ferry/runbook"
)

// Connector classes.
const (
	Source     = "MirrorSourceConnector"
	Checkpoint = "MirrorCheckpointConnector"
	Heartbeat  = "MirrorHeartbeatConnector"
)

// Configs are the source and checkpoint connector settings of a replication. Offset syncs
// stay on the target (where Ferry reads them), offset.lag.max is 0 unless the runbook says
// otherwise, group offsets are written by Ferry's groups.translate (exact) rather than by the
// checkpoint connector unless replication.syncGroups asks for a standby, and ACLs by
// acls.sync. largest is the largest record batch the origin's selected topics accept (their
// max.message.bytes); the source connector's producer and consumer are sized for it (see
// SizeSettings). Extra mm2.config entries go to both, and win.
func Configs(rep *runbook.Replication, largest int) (source, checkpoint map[string]any) {
	mm := rep.MM2
	if mm == nil {
		mm = &runbook.MM2Settings{}
	}
	rf := mm.ReplicationFactor
	if rf == 0 {
		rf = -1
	}
	lagMax := 0
	if mm.OffsetLagMax != nil {
		lagMax = *mm.OffsetLagMax
	}
	source = map[string]any{
		// Committed data only, as the builtin mirror: aborted records are not copied, and
		// parity and exact translation are defined on committed data.
		"source.consumer.isolation.level":       "read_committed",
		"offset-syncs.topic.location":           "target",
		"offset.lag.max":                        lagMax,
		"replication.factor":                    rf,
		"offset-syncs.topic.replication.factor": rf,
		"sync.topic.acls.enabled":               "false",
		"refresh.topics.interval.seconds":       Seconds(mm.RefreshInterval, 10),
	}
	checkpoint = map[string]any{
		"offset-syncs.topic.location":          "target",
		"checkpoints.topic.replication.factor": rf,
		"emit.checkpoints.interval.seconds":    Seconds(mm.SyncInterval, 10),
		"sync.group.offsets.enabled":           "false",
		"refresh.groups.interval.seconds":      Seconds(mm.RefreshInterval, 10),
	}
	if every := rep.SyncGroups.D(); every > 0 {
		// A standby: MM2 commits its (conservative) translations of idle groups on the target.
		checkpoint["sync.group.offsets.enabled"] = "true"
		checkpoint["sync.group.offsets.interval.seconds"] = Seconds(rep.SyncGroups, 1)
	}
	for k, v := range Policy(rep) {
		source[k], checkpoint[k] = v, v
	}
	for k, v := range SizeSettings(largest) {
		source[k] = v
	}
	for k, v := range mm.Config {
		source[k], checkpoint[k] = v, v
	}
	return source, checkpoint
}

// Client defaults that a large record exceeds.
const (
	defaultMaxRequestSize    = 1 << 20
	defaultMaxPartitionFetch = 1 << 20
	defaultBufferMemory      = 32 << 20
	requestOverhead          = 64 << 10 // a request's and a batch's headers around the records
)

// SizeSettings size the source connector's clients for records up to largest bytes, the
// largest batch an origin topic accepts, so MirrorMaker 2 copies every record Kafka took
// instead of failing its task on RecordTooLargeException (the producer's max.request.size,
// 1 MiB by default, is the usual trap). Connect applies producer.override.* per connector
// (connector.client.config.override.policy All, Kafka's default since 3.0). Nothing is set
// for records within the client defaults.
func SizeSettings(largest int) map[string]any {
	out := map[string]any{}
	if need := largest + requestOverhead; need > defaultMaxRequestSize {
		out["producer.override.max.request.size"] = need
		out["producer.override.buffer.memory"] = max(defaultBufferMemory, 2*need)
	}
	if largest > defaultMaxPartitionFetch {
		out["source.consumer.max.partition.fetch.bytes"] = largest + requestOverhead
	}
	return out
}

// Policy is the replication policy for the runbook's naming.
func Policy(rep *runbook.Replication) map[string]any {
	if rep.Naming == "prefixed" {
		return map[string]any{"replication.policy.class": "org.apache.kafka.connect.mirror.DefaultReplicationPolicy", "replication.policy.separator": "."}
	}
	return map[string]any{"replication.policy.class": "org.apache.kafka.connect.mirror.IdentityReplicationPolicy"}
}

// Seconds is a duration in whole seconds, or def when unset.
func Seconds(d runbook.Duration, def int) int {
	if s := int(d.D().Seconds()); s > 0 {
		return s
	}
	return def
}

// Pattern joins regular expressions into one (.* when none and all is true).
func Pattern(res []string, all bool) string {
	if len(res) == 0 && all {
		return ".*"
	}
	return strings.Join(res, "|")
}

// Task is one task's state.
type Task struct {
	ID    int    `json:"id"`
	State string `json:"state"`
	Trace string `json:"trace,omitempty"`
}

// Status is a connector's status as Kafka Connect reports it (GET /connectors/NAME/status).
type Status struct {
	Name      string `json:"name"`
	Connector struct {
		State string `json:"state"`
		Trace string `json:"trace,omitempty"`
	} `json:"connector"`
	Tasks []Task `json:"tasks"`
}

// Health is the judgement of a mirror's connectors.
type Health struct {
	Ready   bool
	Failed  bool // a connector or task FAILED: waiting will not help
	Message string
}

// Judge says whether every wanted connector (by class, the suffix of its name after the last
// dot or dash) and each of its tasks is RUNNING. A source connector without tasks copies
// nothing, so it is not ready either.
func Judge(statuses []Status, want []string) Health {
	seen := map[string]bool{}
	var waiting []string
	for _, s := range statuses {
		seen[class(s.Name)] = true
		if s.Connector.State == "FAILED" {
			return Health{Failed: true, Message: fmt.Sprintf("connector %s FAILED: %s", s.Name, firstLine(s.Connector.Trace))}
		}
		if s.Connector.State != "RUNNING" {
			waiting = append(waiting, fmt.Sprintf("connector %s %s", s.Name, orUnknown(s.Connector.State)))
		}
		if class(s.Name) == Source && len(s.Tasks) == 0 {
			waiting = append(waiting, fmt.Sprintf("connector %s has no tasks yet (no topic matched so far)", s.Name))
		}
		for _, t := range s.Tasks {
			if t.State == "FAILED" {
				return Health{Failed: true, Message: fmt.Sprintf("connector %s task %d FAILED: %s", s.Name, t.ID, firstLine(t.Trace))}
			}
			if t.State != "RUNNING" {
				waiting = append(waiting, fmt.Sprintf("connector %s task %d %s", s.Name, t.ID, orUnknown(t.State)))
			}
		}
	}
	for _, w := range want {
		if !seen[w] {
			waiting = append(waiting, w+" not reported yet")
		}
	}
	if len(waiting) > 0 {
		sort.Strings(waiting)
		return Health{Message: strings.Join(waiting, "; ")}
	}
	return Health{Ready: true, Message: fmt.Sprintf("%d connectors and all their tasks RUNNING", len(statuses))}
}

func class(name string) string {
	if i := strings.LastIndexAny(name, ".-"); i >= 0 {
		return name[i+1:]
	}
	return name
}

func orUnknown(s string) string {
	if s == "" {
		return "state unknown"
	}
	return s
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return "no trace"
	}
	return s
}
