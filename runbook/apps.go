package runbook

import (
	"strings"
	"time"
)

// Names of the app and group step types.
const (
	StepAppsScale   = "apps.scale"
	StepAppsRepoint = "apps.repoint"
	StepAppsWait    = "apps.wait"
	StepGroupsWait  = "groups.wait"
	StepGroupsReset = "groups.reset"
)

// AppsScaleParams for apps.scale.
type AppsScaleParams struct {
	App      string `yaml:"app" json:"app" ferry:"required" ref:"app" doc:"The app (from apps:)."`
	Replicas *int   `yaml:"replicas" json:"replicas,omitempty" doc:"Replicas to run; 0 pauses the app."`
	Restore  bool   `yaml:"restore" json:"restore,omitempty" doc:"Go back to the replicas the app had before Ferry first scaled it in this run."`
}

// AppsRepointParams for apps.repoint.
type AppsRepointParams struct {
	App       string            `yaml:"app" json:"app" ferry:"required" ref:"app"`
	Cluster   string            `yaml:"cluster" json:"cluster,omitempty" ref:"cluster" doc:"The cluster the app uses from now on (its bootstrap servers are written)."`
	Bootstrap string            `yaml:"bootstrap" json:"bootstrap,omitempty" doc:"What to write instead of the cluster's bootstrap servers, e.g. the address pods use inside Kubernetes."`
	Secret    string            `yaml:"secret" json:"secret,omitempty" doc:"Secret holding the new cluster's credentials; the app's connection.secretEnv variables read it from now on."`
	Secrets   map[string]string `yaml:"secrets" json:"secrets,omitempty" doc:"The Secret one connection.secretEnv variable reads from now on, VARIABLE: secret (e.g. KAFKA_CA: target-cluster-ca-cert); over secret."`
	Restore   bool              `yaml:"restore" json:"restore,omitempty" doc:"Put back exactly what the app used before Ferry first repointed it in this run (for rollback)."`
	// Topics and TopicsAs rename the topics an app names, for a cluster that holds them under
	// other names (a prefixed standby).
	Topics   map[string]string `yaml:"topics" json:"topics,omitempty" doc:"Topic names the app uses from now on, old: new (in connection.topicsEnv / topicsConfigMap; a sandbox app's topic); the app's other topics stay."`
	TopicsAs string            `yaml:"topicsAs" json:"topicsAs,omitempty" enum:"target,origin" doc:"Rename every topic the app names that the replication copies as the replication names it: target gives its name on the target (<alias>.<topic> under prefixed naming), origin its name on the origin again."`
}

// Topic naming directions of apps.repoint's topicsAs.
const (
	TopicsAsTarget = "target"
	TopicsAsOrigin = "origin"
)

// AppsWaitParams for apps.wait.
type AppsWaitParams struct {
	App string `yaml:"app" json:"app" ferry:"required" ref:"app"`
}

// GroupsWaitParams for groups.wait.
type GroupsWaitParams struct {
	Cluster  string   `yaml:"cluster" json:"cluster,omitempty" ref:"cluster" doc:"Where the groups consume; the replication's origin when empty."`
	Groups   []string `yaml:"groups" json:"groups" ferry:"required" doc:"Consumer groups to wait for."`
	MaxLag   int      `yaml:"maxLag" json:"maxLag,omitempty" doc:"Unread records, summed over partitions, at or under which the wait ends."`
	Interval Duration `yaml:"interval" json:"interval,omitempty" doc:"How often lag is measured; 1s when empty."`
}

// RenameTopicList renames each topic of a comma-separated list, as an app's topicsEnv holds.
func RenameTopicList(list string, rename func(string) string) string {
	names := strings.Split(list, ",")
	for i, n := range names {
		if n = strings.TrimSpace(n); n != "" {
			names[i] = rename(n)
		}
	}
	return strings.Join(names, ",")
}

// GroupsResetParams for groups.reset.
type GroupsResetParams struct {
	Cluster string           `yaml:"cluster" json:"cluster" ferry:"required" ref:"cluster" doc:"Where the groups' positions are set."`
	Groups  []string         `yaml:"groups" json:"groups" ferry:"required" doc:"Consumer groups to reset; each must have no active member."`
	Topics  []string         `yaml:"topics" json:"topics,omitempty" doc:"Topics whose every partition is reset; the topics each group has positions on when empty."`
	To      string           `yaml:"to" json:"to,omitempty" enum:"earliest,latest" doc:"Each partition's first offset (earliest) or its end (latest)."`
	At      string           `yaml:"at" json:"at,omitempty" doc:"An RFC 3339 time: each partition's first record at or after it (its end when none), e.g. where a migrated app resumes."`
	Offsets map[string]int64 `yaml:"offsets" json:"offsets,omitempty" doc:"Explicit offsets by \"topic/partition\", every partition of the topics given."`
	DryRun  bool             `yaml:"dryRun" json:"dryRun,omitempty" doc:"Compute and report the change without writing it."`
}

// appTouches names the app a step changes, for ferry plan.
func appTouches(with map[string]any, _ *Plan) []string {
	if a, ok := with["app"].(string); ok {
		return []string{"app " + a}
	}
	return nil
}

func init() {
	Register(StepType{
		Name: StepAppsScale, Params: AppsScaleParams{}, DefaultTimeout: 10 * time.Minute,
		Summary: "Scale an app (0 pauses it) and wait until the change took effect; restore: true brings back its original replicas.",
		Doc:     "Kubernetes apps are scaled through the scale subresource of every selected Deployment or StatefulSet, then waited for until their pods are updated and ready. The replicas before Ferry's first scaling are held in the workflow, so restore: true works days later and after any restart.",
		Outputs: []Output{{"replicas", "Replicas now."}, {"previous", "Replicas before this step (summed over the workloads)."}, {"undo", "Per workload, what restore: true puts back."}},
		Touches: appTouches,
	})
	Register(StepType{
		Name: StepAppsRepoint, Params: AppsRepointParams{}, DefaultTimeout: 10 * time.Minute,
		Summary: "Point an app at another cluster and wait until it uses it; restore: true puts back what it used before.",
		Doc: "Kubernetes apps: changes what the app's connection names (an env var on containers, a ConfigMap key, Secret references), records the previous values on the workload (annotation ferry.dev/repoint) and waits for the rollout. " +
			"With topics or topicsAs it also renames the topics the app reads and writes (connection.topicsEnv or topicsConfigMap): after a failover to a prefixed standby the consumers read north_america.orders, at the exact positions groups.translate wrote there; restore: true puts the names back with the cluster.",
		Outputs: []Output{{"previous", "The cluster or bootstrap servers the app used before."}, {"topics", "The topics the app names now, when renamed."}, {"undo", "What restore: true puts back."}},
		Touches: appTouches,
	})
	Register(StepType{
		Name: StepAppsWait, Params: AppsWaitParams{}, DefaultTimeout: 10 * time.Minute,
		Summary: "Wait until an app's rollout is complete and every replica is ready.",
		Outputs: []Output{{"ready", "Ready replicas, summed over the workloads."}},
		Touches: appTouches,
	})
	Register(StepType{
		Name: StepGroupsReset, Params: GroupsResetParams{}, DefaultTimeout: 5 * time.Minute,
		Summary: "Set groups' positions on a cluster to earliest, latest, a time or explicit offsets (kafka-consumer-groups --reset-offsets), only for groups no one consumes with.",
		Doc: "Give exactly one of to, at and offsets. Where new groups start on a new cluster, or where a group resumes after a scheme that moves producers first (seed 004). " +
			"An active group is an error naming its members; an offset outside a partition's log, or a topic that does not exist, an error before anything changes. Positions are read back after writing.",
		Outputs: []Output{{"changes", "Every group/topic/partition: before -> after (none where the group had no position)."}, {"partitions", "Positions set (or that would be, with dryRun)."}, {"dryRun", "Whether nothing was written."}},
		Touches: func(with map[string]any, _ *Plan) []string {
			c, _ := with["cluster"].(string)
			if dry, _ := with["dryRun"].(bool); dry {
				return []string{"cluster " + c + " (reads group positions; dry run)"}
			}
			return []string{"cluster " + c + " (commits group positions)"}
		},
	})
	Register(StepType{
		Name: StepGroupsWait, Params: GroupsWaitParams{}, HeartbeatTimeout: 10 * time.Second, DefaultTimeout: 24 * time.Hour,
		Summary: "Wait until consumer groups have read everything but maxLag records (transaction markers do not count).",
		Outputs: []Output{{"lag", "Unread records when the wait ended."}, {"lagSeries", "Unread records during the wait: [[unix milliseconds, records], ...], at most 240 points (merged, keeping peaks, on long waits)."}},
	})
}
