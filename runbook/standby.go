package runbook

import "time"

// StepStandbyWatch watches a standby for as long as the backup runs, alerting on breaches.
const StepStandbyWatch = "standby.watch"

// StepMirrorReverse prepares the flow back, so a restored cluster is protected again without
// copying everything again.
const StepMirrorReverse = "mirror.reverse"

// Defaults of standby.watch.
const (
	DefaultWatchInterval   = 30 * time.Second
	DefaultMaxHeartbeatAge = 3 * time.Minute
	DefaultWatchMaxRPO     = 5 * time.Minute
)

// StandbyWatchParams for standby.watch.
type StandbyWatchParams struct {
	Interval        Duration   `yaml:"interval" json:"interval,omitempty" doc:"How often to check; 30s when empty."`
	Heartbeats      *bool      `yaml:"heartbeats" json:"heartbeats,omitempty" doc:"Check the flow's heartbeats; true when empty. Set false for a mirror that writes none (Strimzi's v1 KafkaMirrorMaker2 has no heartbeat connector)."`
	MaxHeartbeatAge Duration   `yaml:"maxHeartbeatAge" json:"maxHeartbeatAge,omitempty" doc:"Alert when the flow's newest heartbeat on the target is older than this, or none has come this long after the watch began: the mirror does not work. 3m when empty (three heartbeats at MirrorMaker 2's 60 s)."`
	MaxRPO          Duration   `yaml:"maxRPO" json:"maxRPO,omitempty" doc:"Alert when the oldest origin record not yet on the target is older than this; 5m when empty."`
	MaxBehind       *int64     `yaml:"maxBehind" json:"maxBehind,omitempty" doc:"Alert when a group's position on the target is more than this many records behind its exact position, or missing; no limit when empty."`
	Groups          *Patterns  `yaml:"groups" json:"groups,omitempty" doc:"Groups to check on the target; the replication's groups when empty."`
	Webhook         *SecretRef `yaml:"webhook" json:"webhook,omitempty" doc:"Where alerts go: a Slack-compatible incoming webhook (it receives {\"text\": ...}), read from a secret. Without it alerts go to the worker's log and ferry status."`
	For             Duration   `yaml:"for" json:"for,omitempty" doc:"Stop watching after this long; empty: until the run stops the step (a parallel block's endWith)."`
}

func init() {
	Register(StepType{
		Name: StepMirrorReverse, NeedsReplication: true, DefaultTimeout: 10 * time.Minute,
		Summary: "Prepare the mirror back (target → origin): it will continue after what this mirror copied instead of copying it again (re-protect after a restore).",
		Doc: "Writes this flow's offset syncs turned around, plus one naming the last record copied, as the whole content of the flow back's offset-sync topic on the origin " +
			"(mm2-offset-syncs.<target name>.internal; what it held mapped the cluster that was lost). A backup runbook then started from the target to the origin resumes after the restored records, and translates group positions in them exactly. " +
			"Run it after mirror.wait (maxLag 0) and before topics.cleanup; it refuses when the copy is incomplete or the last records differ. The origin must have been written without transactions (by a mirror).",
		Outputs: []Output{{"topic", "The flow back's offset-sync topic, on the origin."}, {"partitions", "Partitions prepared."}, {"syncs", "Offset syncs written."}},
		Touches: replicationTouches("reads both clusters; replaces the flow back's offset-sync topic on the origin"),
	})
	Register(StepType{
		Name: StepStandbyWatch, NeedsReplication: true, Params: StandbyWatchParams{}, DefaultTimeout: 10 * 365 * 24 * time.Hour,
		Summary: "Watch a standby while it runs: heartbeat freshness, RPO and group positions, alerting once per incident (a breach two checks in a row) and again when it recovers.",
		Doc: "Every interval it reads, on both clusters and changing nothing: the age of the flow's newest heartbeat on the target (written by Ferry's mirror and by MirrorMaker 2 alike), " +
			"the RPO (age of the oldest origin record not yet on the target), and how far each group's target position is behind its exact one. " +
			"A breach opens an incident: one alert names what is wrong; when every check passes again, one more says it recovered and how long it lasted. " +
			"A check that cannot reach a cluster is a breach too. Incidents show in ferry status while the step runs and in its outputs. " +
			"Run it beside an approval in a parallel block with endWith naming the approval, so the watch ends when a person stops the backup.",
		Outputs: []Output{
			{"checks", "Checks made."},
			{"incidents", "Incidents opened."},
			{"log", "The incidents, one line each (the latest 50): when, what, how long."},
			{"alerts", "Alerts delivered to the webhook."},
		},
		Touches: replicationTouches("reads offsets, groups and heartbeats; changes nothing; posts alerts to the webhook"),
	})
}
