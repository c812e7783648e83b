package runbook

import "time"

// StepDrillMeasure measures a standby's readiness (a DR drill).
const StepDrillMeasure = "drill.measure"

// DrillMeasureParams for drill.measure.
type DrillMeasureParams struct {
	Groups *Patterns `yaml:"groups" json:"groups,omitempty" doc:"Groups to check on the target; the replication's groups when empty."`
	MaxRPO Duration  `yaml:"maxRPO" json:"maxRPO,omitempty" doc:"Fail the step when the oldest record not yet on the target is older than this; report only when empty."`
	// MaxBehind bounds what a failover would make consumers read twice.
	MaxBehind *int64 `yaml:"maxBehind" json:"maxBehind,omitempty" doc:"Fail the step when a group's position on the target is more than this many records behind its origin position, or missing; report only when empty."`
}

func init() {
	Register(StepType{
		Name: StepDrillMeasure, NeedsReplication: true, Params: DrillMeasureParams{}, DefaultTimeout: 10 * time.Minute,
		Summary: "Measure how ready the target is to take over (a DR drill): RPO, group positions, and a trial read at each group's position.",
		Doc: "RPO is the age of the oldest origin record not yet on the target (0 when all is copied). Each group's position on the target is compared with its exact translation: the records a failover would make it read again, or a missing position. " +
			"A trial read fetches from each group's target position without joining the group or committing anything: the time until the first record (or the partition's end) is the read path's recovery time. Changes nothing.",
		Outputs: []Output{
			{"rpo", "Age of the oldest record not yet copied (0s when caught up)."},
			{"lag", "Records not yet copied, over all partitions."},
			{"behind", "Records the groups would read again after a failover, over all groups and partitions."},
			{"missing", "Group partitions with no position on the target (a failover would start them from their reset policy)."},
			{"readTime", "Longest trial read: time until the first record at a group's target position, or its end."},
			{"report", "One line per finding."},
		},
		Touches: replicationTouches("reads offsets, groups and records; changes nothing"),
	})
}
