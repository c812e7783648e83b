package activities

import (
	"context"

	"go.temporal.io/sdk/activity"

	"github.com/ferryhq/ferry/internal/flow"
	"github.com/ferryhq/ferry/runbook"
)

func (a *Activities) groupsSteps() map[string]Step {
	return map[string]Step{runbook.StepGroupsTranslate: a.groupsTranslate, runbook.StepGroupsWait: a.groupsWait}
}

// groupsTranslate commits each selected group's origin position on the target, exactly.
func (a *Activities) groupsTranslate(ctx context.Context, in runbook.StepInput) (runbook.StepResult, error) {
	p, f, closeFn, err := flowStep[runbook.GroupsTranslateParams](ctx, a, in)
	if err != nil {
		return runbook.StepResult{}, err
	}
	defer closeFn()
	f.Progress = func(d map[string]any) { progress(ctx, d) }
	t, err := f.TranslateGroups(ctx, flow.TranslateOptions{Groups: p.Groups, Force: p.Force, Checkpoints: p.Checkpoints == nil || *p.Checkpoints})
	if err != nil {
		return runbook.StepResult{}, err
	}
	out := map[string]any{"groups": t.Groups, "partitions": t.Partitions, "offsets": list(t.Offsets), "checkpoints": t.Checkpoints}
	if t.CheckpointsSkipped != "" {
		activity.GetLogger(ctx).Warn("checkpoints not written", "reason", t.CheckpointsSkipped)
		out["checkpointsSkipped"] = t.CheckpointsSkipped
	}
	return result(out)
}

// groupsWait waits until groups have read everything but maxLag committed data records.
func (a *Activities) groupsWait(ctx context.Context, in runbook.StepInput) (runbook.StepResult, error) {
	p, err := decode[runbook.GroupsWaitParams](in)
	if err != nil {
		return runbook.StepResult{}, err
	}
	name := p.Cluster
	if name == "" && in.Replication != nil {
		name = in.Replication.Origin
	}
	opts, adm, closeFn, err := a.conn(ctx, in, name)
	if err != nil {
		return runbook.StepResult{}, err
	}
	defer closeFn()
	gauges := map[string]func(){} // each group's series, removed when the step ends
	defer func() {
		for _, forget := range gauges {
			forget()
		}
	}()
	return waitLag(ctx, p.Interval.D(), p.MaxLag, func() (int64, error) {
		behind, err := flow.GroupsLag(ctx, adm, opts, p.Groups)
		var total int64
		for g, n := range behind {
			total += n
			gauges[g] = a.Metrics.GroupBehind(name, g, n)
		}
		return total, err
	})
}
