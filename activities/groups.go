package activities

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/ferryhq/ferry/internal/flow"
	"github.com/ferryhq/ferry/runbook"
)

func (a *Activities) groupsSteps() map[string]Step {
	return map[string]Step{runbook.StepGroupsTranslate: a.groupsTranslate, runbook.StepGroupsWait: a.groupsWait, runbook.StepGroupsReset: a.groupsReset}
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

// groupsReset sets groups' positions on a cluster to earliest, latest, a time or offsets.
func (a *Activities) groupsReset(ctx context.Context, in runbook.StepInput) (runbook.StepResult, error) {
	p, err := decode[runbook.GroupsResetParams](in)
	if err != nil {
		return runbook.StepResult{}, err
	}
	to := flow.ResetTo{To: p.To, Offsets: p.Offsets}
	given := 0
	for _, set := range []bool{p.To != "", p.At != "", len(p.Offsets) > 0} {
		if set {
			given++
		}
	}
	if given != 1 {
		return runbook.StepResult{}, badInput("groups.reset: give exactly one of to, at and offsets")
	}
	if p.At != "" {
		if to.At, err = time.Parse(time.RFC3339, p.At); err != nil {
			return runbook.StepResult{}, badInput("groups.reset at: %v (want RFC 3339, e.g. 2026-12-01T02:00:00Z)", err)
		}
	}
	_, adm, closeFn, err := a.conn(ctx, in, p.Cluster)
	if err != nil {
		return runbook.StepResult{}, err
	}
	defer closeFn()
	moved, err := flow.ResetGroups(ctx, adm, "cluster "+p.Cluster, p.Groups, p.Topics, to, p.DryRun)
	if err != nil {
		return runbook.StepResult{}, err
	}
	changes := make([]string, len(moved))
	for i, m := range moved {
		changes[i] = m.String()
	}
	return result(map[string]any{"changes": list(changes), "partitions": len(moved), "dryRun": p.DryRun})
}
