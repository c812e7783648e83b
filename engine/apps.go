package engine

import "time"

// Names of the app and group step types.
const (
	StepAppsScale   = "apps.scale"
	StepAppsRepoint = "apps.repoint"
	StepGroupsWait  = "groups.wait"
)

// AppsScaleParams for apps.scale.
type AppsScaleParams struct {
	App      string `yaml:"app" json:"app" ferry:"required" ref:"app" doc:"The app (from apps:)."`
	Replicas *int   `yaml:"replicas" json:"replicas,omitempty" doc:"Replicas to run; 0 pauses the app."`
	Restore  bool   `yaml:"restore" json:"restore,omitempty" doc:"Go back to the replicas the app had before Ferry first scaled it."`
}

// AppsRepointParams for apps.repoint.
type AppsRepointParams struct {
	App     string `yaml:"app" json:"app" ferry:"required" ref:"app"`
	Cluster string `yaml:"cluster" json:"cluster" ferry:"required" ref:"cluster" doc:"The cluster the app uses from now on."`
}

// GroupsWaitParams for groups.wait.
type GroupsWaitParams struct {
	Cluster  string   `yaml:"cluster" json:"cluster,omitempty" ref:"cluster" doc:"Where the groups consume; the replication's origin when empty."`
	Groups   []string `yaml:"groups" json:"groups" ferry:"required" doc:"Consumer groups to wait for."`
	MaxLag   int      `yaml:"maxLag" json:"maxLag,omitempty" doc:"Unread records, summed over partitions, at or under which the wait ends."`
	Interval Duration `yaml:"interval" json:"interval,omitempty" doc:"How often lag is measured; 1s when empty."`
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
		Outputs: []Output{{"replicas", "Replicas now."}, {"previous", "Replicas before this step."}},
		Touches: appTouches,
	})
	Register(StepType{
		Name: StepAppsRepoint, Params: AppsRepointParams{}, DefaultTimeout: 10 * time.Minute,
		Summary: "Point an app at another cluster and wait until it uses it.",
		Outputs: []Output{{"previous", "The cluster the app used before."}},
		Touches: appTouches,
	})
	Register(StepType{
		Name: StepGroupsWait, Params: GroupsWaitParams{}, HeartbeatTimeout: 30 * time.Second, DefaultTimeout: 24 * time.Hour,
		Summary: "Wait until consumer groups have read everything but maxLag records (transaction markers do not count).",
		Outputs: []Output{{"lag", "Unread records when the wait ended."}},
	})
}
