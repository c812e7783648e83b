package runbook

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ferryhq/ferry/internal/mm2topic"
)

// Names of the Kafka step types.
const (
	StepKafkaCheck      = "kafka.check"
	StepTopicsSync      = "topics.sync"
	StepMirrorStart     = "mirror.start"
	StepMirrorWait      = "mirror.wait"
	StepMirrorStop      = "mirror.stop"
	StepGroupsTranslate = "groups.translate"
	StepVerifyParity    = "verify.parity"
	StepTopicsCleanup   = "topics.cleanup"
	StepACLsSync        = "acls.sync"
)

// ACLsSyncParams for acls.sync.
type ACLsSyncParams struct {
	Principals map[string]string `yaml:"principals" json:"principals,omitempty" doc:"Origin principal -> target principal, e.g. User:alice: User:alice-eu; others are copied as they are."`
	Exclude    []string          `yaml:"exclude" json:"exclude,omitempty" doc:"Principals whose ACLs are not copied, e.g. User:mm2-credentials (the migration's own user, with ACLs of its own on each side)."`
	DryRun     bool              `yaml:"dryRun" json:"dryRun,omitempty"`
}

// KafkaCheckParams for kafka.check.
type KafkaCheckParams struct {
	Clusters []string `yaml:"clusters" json:"clusters,omitempty" ref:"cluster" doc:"Clusters to check; the replication's origin and target when empty."`
}

// TopicsSyncParams for topics.sync.
type TopicsSyncParams struct {
	Topics            *Patterns `yaml:"topics" json:"topics,omitempty" doc:"Topics to create; the replication's topics when empty."`
	ReplicationFactor int       `yaml:"replicationFactor" json:"replicationFactor,omitempty" doc:"Replication factor of created topics (MirrorMaker 2 does not carry it over); the target's default when 0."`
	DryRun            bool      `yaml:"dryRun" json:"dryRun,omitempty" doc:"Report the difference, change nothing."`
}

// MirrorWaitParams for mirror.wait.
type MirrorWaitParams struct {
	MaxLag   int      `yaml:"maxLag" json:"maxLag,omitempty" doc:"Records not yet copied, summed over partitions, at or under which the wait ends; 0 when empty."`
	Interval Duration `yaml:"interval" json:"interval,omitempty" doc:"How often lag is measured; 1s when empty."`
}

// GroupsTranslateParams for groups.translate.
type GroupsTranslateParams struct {
	Groups *Patterns `yaml:"groups" json:"groups,omitempty" doc:"Groups to move; the replication's groups when empty."`
	Force  bool      `yaml:"force" json:"force,omitempty" doc:"Move a target group backwards if its committed offsets are ahead."`
	// Checkpoints let tools built on MirrorMaker 2's client (RemoteClusterUtils.translateOffsets,
	// MM2's own checkpoint task) see Ferry's exact translation.
	Checkpoints *bool `yaml:"checkpoints" json:"checkpoints,omitempty" doc:"Also write each translated position as a MirrorMaker 2 checkpoint (topic <origin alias>.checkpoints.internal on the target); true when empty."`
}

// CheckpointTopic is MirrorMaker 2's checkpoint topic on the target for this flow.
func (r *Replication) CheckpointTopic() string { return mm2topic.Checkpoints(r.OriginAlias()) }

// VerifyParityParams for verify.parity.
type VerifyParityParams struct {
	Topics *Patterns `yaml:"topics" json:"topics,omitempty" doc:"Topics to compare; the replication's topics when empty."`
}

// TopicsCleanupParams for topics.cleanup.
type TopicsCleanupParams struct {
	Topics []string `yaml:"topics" json:"topics,omitempty" doc:"Origin topics to delete as well, once nothing reads them (user topics are never deleted unless listed)."`
	DryRun bool     `yaml:"dryRun" json:"dryRun,omitempty"`
}

func replicationTouches(extra ...string) func(map[string]any, *Plan) []string {
	return func(_ map[string]any, p *Plan) []string {
		if p.Replication == nil {
			return extra
		}
		return append([]string{"origin " + p.Replication.Origin, "target " + p.Replication.Target}, extra...)
	}
}

// mirrorStartTouches says plainly what a running mirror writes, so a plan never calls the
// step that copies every record harmless.
func mirrorStartTouches(_ map[string]any, p *Plan) []string {
	r := p.Replication
	if r == nil {
		return nil
	}
	out := []string{
		"origin " + r.Origin + " (reads " + r.TopicScope() + ")",
		"target " + r.Target + " (writes every record of them, " + r.NameScope() + ", and the topics " + r.SyncTopic() + " and " + mm2topic.Heartbeats + ")",
	}
	if r.SyncGroups > 0 {
		out = append(out, "target "+r.Target+" groups (commits "+r.GroupScope()+" positions every "+r.SyncGroups.String()+")")
	}
	switch r.Engine.Or() {
	case EngineConnect:
		if r.Connect != nil {
			out = append(out, "Kafka Connect "+r.Connect.URL+" (creates MirrorMaker 2 connectors)")
		}
	case EngineStrimzi:
		if r.Strimzi != nil {
			out = append(out, "Kubernetes namespace "+r.Strimzi.Namespace+" (applies a KafkaMirrorMaker2)")
		}
	}
	return out
}

// mirrorStopTouches: the builtin mirror stops inside the run; the MirrorMaker 2 engines are
// taken down where they run.
func mirrorStopTouches(_ map[string]any, p *Plan) []string {
	r := p.Replication
	switch {
	case r == nil:
		return nil
	case r.Engine.Or() == EngineConnect && r.Connect != nil:
		return []string{"Kafka Connect " + r.Connect.URL + " (deletes the MirrorMaker 2 connectors)"}
	case r.Engine.Or() == EngineStrimzi && r.Strimzi != nil:
		return []string{"Kubernetes namespace " + r.Strimzi.Namespace + " (deletes the KafkaMirrorMaker2)"}
	}
	return nil
}

// TopicScope says in words which topics the replication selects, naming the default when
// replication.topics is left out: it widens the scope to every topic.
func (r *Replication) TopicScope() string {
	return scope(&r.Topics, "topic", "replication.topics", "internal topics of Kafka and MirrorMaker 2 excepted")
}

// GroupScope says in words which groups move, naming the default when replication.groups is
// left out.
func (r *Replication) GroupScope() string {
	return scope(&r.Groups, "group", "replication.groups", "console-consumer-*, connect-* and __* excepted")
}

// NameScope says how target topics are named.
func (r *Replication) NameScope() string {
	switch r.Naming {
	case NamingPrefixed:
		return "as " + r.OriginAlias() + ".<topic>"
	case NamingUnprefixed:
		return "from " + r.Target + ".<topic> as <topic>"
	}
	return "under the same names"
}

// Topic naming of a replication.
const (
	NamingPrefixed   = "prefixed"
	NamingUnprefixed = "unprefixed"
)

func scope(p *Patterns, noun, field, except string) string {
	var s string
	switch {
	case len(p.Include) == 0 && len(p.Exclude) == 0:
		return "every " + noun + ", as " + field + " is not set (" + except + ")"
	case len(p.Include) == 0:
		s = "every " + noun
	default:
		s = noun + "s matching " + strings.Join(p.Include, ", ")
	}
	if len(p.Exclude) > 0 {
		s += " except " + strings.Join(p.Exclude, ", ")
	}
	return s
}

func init() {
	Register(StepType{
		Name: StepKafkaCheck, Params: KafkaCheckParams{}, DefaultTimeout: 2 * time.Minute,
		Summary: "Check every cluster answers and allows what later steps need, before anything changes.",
		Doc: "With a replication it also checks the target can take the origin's replicated topics (seed 004's prerequisites): brokers enough for their replication factor, no replication factor under a topic's min.insync.replicas, " +
			"and the data with its replicas within the target's free log-dir space where both clusters report sizes (Kafka 3.3 and later). A shortfall fails the check naming it.",
		Outputs: []Output{{"brokers", "Brokers per cluster."}, {"capacity", "With a replication: topics, partitions, replication factor, data size and the target's free space."}},
		Touches: replicationTouches("reads metadata, topics, configs, groups"),
	})
	Register(StepType{
		Name: StepTopicsSync, NeedsReplication: true, Params: TopicsSyncParams{}, DefaultTimeout: 5 * time.Minute,
		Summary: "Create the selected topics on the target with the origin's partitions and copyable configs.",
		Outputs: []Output{{"created", "Topics created."}, {"grown", "Topics given more partitions."}, {"diff", "What differs, one line each: + created, ~ changed or drifting."}},
		Touches: replicationTouches("creates topics on the target"),
	})
	Register(StepType{
		Name: StepMirrorStart, NeedsReplication: true, Control: true,
		Summary: "Start the replication engine (builtin: a mirror supervised by its own workflow); returns once it runs.",
		Doc:     "The mirror copies every selected topic and keeps exact offset syncs. It stops at mirror.stop, or when the run ends.",
		Outputs: []Output{{"mirror", "The mirror's workflow id."}, {"brokers", "Brokers each cluster has: both must answer before the step succeeds."}},
		Touches: mirrorStartTouches,
	})
	Register(StepType{
		Name: StepMirrorWait, NeedsReplication: true, Params: MirrorWaitParams{}, HeartbeatTimeout: 10 * time.Second, DefaultTimeout: 7 * 24 * time.Hour,
		Summary: "Wait until the mirror has copied everything but maxLag records (transaction markers do not count).",
		Outputs: []Output{{"lag", "Records not yet copied when the wait ended."}, {"lagSeries", "Records not yet copied during the wait: [[unix milliseconds, records], ...], at most 240 points (merged, keeping peaks, on long waits); ferry report charts it."}},
		Touches: replicationTouches("reads offsets"),
	})
	Register(StepType{
		Name: StepMirrorStop, NeedsReplication: true, Control: true,
		Summary: "Stop the mirror after it flushed what it copied.",
		Touches: mirrorStopTouches,
	})
	Register(StepType{
		Name: StepGroupsTranslate, NeedsReplication: true, Params: GroupsTranslateParams{}, DefaultTimeout: 10 * time.Minute,
		Summary: "Commit each group's exact origin position on the target, through the mirror's offset map.",
		Doc:     "Only empty or absent target groups are changed (an active group is an error naming its members); never backwards unless force; offsets are read back, then written as MirrorMaker 2 checkpoints.",
		Outputs: []Output{{"groups", "Groups moved."}, {"partitions", "Partitions translated."}, {"offsets", "Every group/topic/partition: origin offset -> target offset."}, {"checkpoints", "Checkpoint records written (0 when checkpoints: false)."}, {"checkpointsSkipped", "Why no checkpoint was written although asked for (the target principal may not write the topic)."}},
		Touches: replicationTouches("commits group offsets on the target"),
	})
	Register(StepType{
		Name: StepVerifyParity, NeedsReplication: true, Params: VerifyParityParams{}, HeartbeatTimeout: 30 * time.Second, DefaultTimeout: 24 * time.Hour,
		Summary: "Compare every partition's record count and digest of key, value, headers and timestamp.",
		Outputs: []Output{{"partitions", "Partitions compared."}, {"records", "Records compared."}, {"table", "Per partition (the first 1,000): origin, target, records, digest (the first 16 hex digits of the SHA-256 both sides share), timestamps (false on a LogAppendTime target topic); ferry report shows it."}},
		Touches: replicationTouches("reads every record"),
	})
	Register(StepType{
		Name: StepACLsSync, NeedsReplication: true, Params: ACLsSyncParams{}, DefaultTimeout: 5 * time.Minute,
		Summary: "Copy the ACLs of the replicated topics and groups to the target, mapping principals.",
		Outputs: []Output{{"acls", "ACLs created on the target, one line each."}},
		Touches: replicationTouches("creates ACLs on the target"),
	})
	Register(StepType{
		Name: StepTopicsCleanup, NeedsReplication: true, Params: TopicsCleanupParams{}, DefaultTimeout: 5 * time.Minute,
		Summary: "Delete the replication's internal topics (offset syncs, checkpoints, heartbeats); user topics only if listed.",
		Outputs: []Output{{"deleted", "Topics deleted."}},
		Touches: replicationTouches("deletes internal topics"),
	})
}

// OriginAlias is the origin's name in prefixed topic names.
func (r *Replication) OriginAlias() string {
	if r.Alias != "" {
		return r.Alias
	}
	return r.Origin
}

// Replicates reports whether the flow copies an origin topic: its patterns select it, and it
// is not a copy the reverse flow made (<target>.<topic>, as MirrorMaker 2 names remote
// topics): in a two-way setup, nothing goes back to where it came from.
//
// Under unprefixed naming it copies exactly those: the target's own topics, held on the origin
// under its name while the origin was active, go back.
func (r *Replication) Replicates(topic string) bool {
	if r.Naming == NamingUnprefixed {
		own, ok := strings.CutPrefix(topic, r.Target+".")
		return ok && r.Topics.Select(topic) && r.Topics.Select(own)
	}
	return r.Topics.Select(topic) && !strings.HasPrefix(topic, r.Target+".")
}

// Select reports whether an origin topic is replicated: it matches an include pattern
// (all when none), no exclude pattern, and is not internal to Kafka or a replication engine.
func (p *Patterns) Select(name string) bool {
	return !mm2topic.Internal(name) && p.match(name)
}

// SelectGroup reports whether a group moves (MirrorMaker 2's default exclusions apply).
func (p *Patterns) SelectGroup(name string) bool {
	for _, pre := range []string{"console-consumer-", "connect-", "__"} {
		if strings.HasPrefix(name, pre) {
			return false
		}
	}
	return p.match(name)
}

func (p *Patterns) match(name string) bool {
	if p == nil {
		return true
	}
	in := len(p.Include) == 0
	for _, re := range p.Include {
		if anchored(re).MatchString(name) {
			in = true
			break
		}
	}
	for _, re := range p.Exclude {
		if anchored(re).MatchString(name) {
			return false
		}
	}
	return in
}

func anchored(re string) *regexp.Regexp {
	if r, err := regexp.Compile("^(?:" + re + ")$"); err == nil {
		return r
	}
	return regexp.MustCompile(`^\b$`) // validated earlier; never matches
}

// TargetTopic names an origin topic on the target.
func (r *Replication) TargetTopic(topic string) string {
	switch r.Naming {
	case NamingPrefixed:
		return r.OriginAlias() + "." + topic
	case NamingUnprefixed:
		return strings.TrimPrefix(topic, r.Target+".")
	}
	return topic
}

// OriginTopic names a target topic on the origin: TargetTopic undone. ok is false for a
// target topic no origin topic maps to (one without the prefix, under prefixed naming).
func (r *Replication) OriginTopic(topic string) (string, bool) {
	switch r.Naming {
	case NamingPrefixed:
		return strings.CutPrefix(topic, r.OriginAlias()+".")
	case NamingUnprefixed:
		return r.Target + "." + topic, true
	}
	return topic, true
}

// SyncTopic is the offset-sync topic on the target: MirrorMaker 2's name for the flow's
// syncs with offset-syncs.topic.location=target, which every engine uses, so one offset map
// serves the builtin mirror and MirrorMaker 2 alike.
func (r *Replication) SyncTopic() string { return mm2topic.OffsetSyncs(r.OriginAlias()) }

// ConnectGroup is the Kafka Connect group of the MirrorMaker 2 engines, and the prefix of
// its configs, offsets and status topics.
func (r *Replication) ConnectGroup(runbook string) string {
	if r.MM2 != nil && r.MM2.ConnectGroup != "" {
		return r.MM2.ConnectGroup
	}
	return "ferry-" + runbook
}

// Shard counts of replication.shards.
const (
	ShardsAuto = "auto"
	MaxShards  = 64
	// PartitionsPerShard and MaxAutoShards size shards: auto.
	PartitionsPerShard = 1000
	MaxAutoShards      = 16
)

// ShardCount is how many shards copy a flow of the given partition count.
func (r *Replication) ShardCount(partitions int) int {
	if n, err := strconv.Atoi(r.Shards); err == nil && n >= 1 {
		return n
	}
	if !r.Engine.Builtin() {
		return 1
	}
	return min(max(1, (partitions+PartitionsPerShard-1)/PartitionsPerShard), MaxAutoShards)
}

// MirrorSpec is what a mirror needs: the replication and its clusters (references only).
type MirrorSpec struct {
	RunID       string              `json:"runID"`
	Runbook     string              `json:"runbook,omitempty"`
	Replication *Replication        `json:"replication"`
	Clusters    map[string]*Cluster `json:"clusters"`
	// Shard of Shards is the part of a sharded builtin mirror one copy activity runs (see
	// mirror.ShardOf); Shards 0 or 1 is one copy of everything.
	Shard  int `json:"shard,omitempty"`
	Shards int `json:"shards,omitempty"`
}
