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
)

// AppsScaleParams for apps.scale.
type AppsScaleParams struct {
	App      string `yaml:"app" json:"app" ferry:"required" ref:"app" doc:"The app (from apps:)."`
	Replicas *int   `yaml:"replicas" json:"replicas,omitempty" doc:"Replicas to run; 0 pauses the app."`
	Restore  bool   `yaml:"restore" json:"restore,omitempty" doc:"Go back to the replicas the app had before Ferry first scaled it in this run."`
}

// AppsRepointParams for apps.repoint.
type AppsRepointParams struct {
	App       string `yaml:"app" json:"app" ferry:"required" ref:"app"`
	Cluster   string `yaml:"cluster" json:"cluster,omitempty" ref:"cluster" doc:"The cluster the app uses from now on (its bootstrap servers are written)."`
	Bootstrap string `yaml:"bootstrap" json:"bootstrap,omitempty" doc:"What to write instead of the cluster's bootstrap servers, e.g. the address pods use inside Kubernetes."`
	Secret    string `yaml:"secret" json:"secret,omitempty" doc:"Secret holding the new cluster's credentials; the app's connection.secretEnv variables read it from now on."`
	Restore   bool   `yaml:"restore" json:"restore,omitempty" doc:"Put back exactly what the app used before Ferry first repointed it in this run (for rollback)."`
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
		Name: StepGroupsWait, Params: GroupsWaitParams{}, HeartbeatTimeout: 10 * time.Second, DefaultTimeout: 24 * time.Hour,
		Summary: "Wait until consumer groups have read everything but maxLag records (transaction markers do not count).",
		Outputs: []Output{{"lag", "Unread records when the wait ended."}, {"lagSeries", "Unread records during the wait: [[unix milliseconds, records], ...], at most 240 points (merged, keeping peaks, on long waits)."}},
	})
}
