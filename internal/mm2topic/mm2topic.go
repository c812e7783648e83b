// Package mm2topic is the one home of MirrorMaker 2's topic names, which every replication
// engine writes (the builtin mirror in MM2's format, so MM2 tooling reads Ferry's topics).
// It imports nothing, so the runbook model can use it.
package mm2topic

import "strings"

// Heartbeats is the heartbeat topic on a flow's target.
const Heartbeats = "heartbeats"

// OffsetSyncs is a flow's offset-sync topic, with offset-syncs.topic.location=target.
func OffsetSyncs(originAlias string) string { return "mm2-offset-syncs." + originAlias + ".internal" }

// Checkpoints is a flow's checkpoint topic on the target.
func Checkpoints(originAlias string) string { return originAlias + ".checkpoints.internal" }

// ConnectTopics are Kafka Connect's own topics for a Connect group (MirrorMaker 2 under the
// connect and strimzi engines).
func ConnectTopics(group string) []string {
	return []string{group + "-configs", group + "-offsets", group + "-status"}
}

// Internal reports whether a topic belongs to Kafka or a replication engine, so it is never
// replicated: Kafka's (__*), MirrorMaker 2's (mm2-*, *.internal) and heartbeats, a flow's
// own and those another flow copied (<alias>.heartbeats).
func Internal(name string) bool {
	return strings.HasPrefix(name, "__") || strings.HasPrefix(name, "mm2-") || strings.HasSuffix(name, ".internal") ||
		name == Heartbeats || strings.HasSuffix(name, "."+Heartbeats)
}

// Bookkeeping reports whether a topic is one a flow with this origin alias and Connect group
// keeps, and topics.cleanup may delete: its offset syncs, checkpoints, heartbeats, Connect's
// and MirrorMaker 2's dedicated-mode topics. Never a user topic, nor another flow's offset
// syncs: a standby's (the backup that outlives a restore) or the flow back's that
// mirror.reverse wrote.
func Bookkeeping(name, originAlias, connectGroup string) bool {
	for _, t := range ConnectTopics(connectGroup) {
		if name == t {
			return true
		}
	}
	switch {
	case name == OffsetSyncs(originAlias):
		return true
	case strings.HasPrefix(name, "mm2-configs.") || strings.HasPrefix(name, "mm2-offsets.") || strings.HasPrefix(name, "mm2-status."):
		return strings.HasSuffix(name, ".internal")
	}
	return name == Checkpoints(originAlias) || name == Heartbeats || name == originAlias+"."+Heartbeats
}
