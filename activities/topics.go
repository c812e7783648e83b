package activities

import (
	"context"

	"go.temporal.io/sdk/activity"

	"github.com/ferryhq/ferry/runbook"
)

func (a *Activities) topicsSteps() map[string]Step {
	return map[string]Step{runbook.StepTopicsSync: a.topicsSync, runbook.StepTopicsCleanup: a.topicsCleanup}
}

func (a *Activities) topicsSync(ctx context.Context, in runbook.StepInput) (runbook.StepResult, error) {
	p, f, closeFn, err := flowStep[runbook.TopicsSyncParams](ctx, a, in)
	if err != nil {
		return runbook.StepResult{}, err
	}
	defer closeFn()
	d, err := f.SyncTopics(ctx, p.Topics, p.ReplicationFactor, p.DryRun)
	if err != nil {
		return runbook.StepResult{}, err
	}
	activity.GetLogger(ctx).Info("topics.sync", "diff", d.Diff, "dryRun", p.DryRun)
	return result(map[string]any{"created": list(d.Created), "grown": list(d.Grown), "diff": list(d.Diff)})
}

// topicsCleanup deletes the replication's internal topics on both clusters: offset syncs,
// checkpoints, heartbeats, and MirrorMaker 2's Connect topics. Never a user topic.
func (a *Activities) topicsCleanup(ctx context.Context, in runbook.StepInput) (runbook.StepResult, error) {
	p, f, closeFn, err := flowStep[runbook.TopicsCleanupParams](ctx, a, in)
	if err != nil {
		return runbook.StepResult{}, err
	}
	defer closeFn()
	deleted, err := f.CleanUp(ctx, f.Rep.ConnectGroup(in.Runbook), p.Topics, p.DryRun)
	if err != nil {
		return runbook.StepResult{}, err
	}
	return result(map[string]any{"deleted": list(deleted)})
}
