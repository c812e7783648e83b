package activities

import (
	"context"

	"github.com/ferryhq/ferry/runbook"
)

func (a *Activities) verifySteps() map[string]Step {
	return map[string]Step{runbook.StepVerifyParity: a.verifyParity}
}

// verifyParity compares each mirrored partition's records on both sides.
func (a *Activities) verifyParity(ctx context.Context, in runbook.StepInput) (runbook.StepResult, error) {
	p, f, closeFn, err := flowStep[runbook.VerifyParityParams](ctx, a, in)
	if err != nil {
		return runbook.StepResult{}, err
	}
	defer closeFn()
	f.Progress = func(d map[string]any) { progress(ctx, d) }
	res, err := f.VerifyParity(ctx, p.Topics)
	if err != nil {
		return runbook.StepResult{}, err
	}
	return result(map[string]any{"partitions": res.Partitions, "records": res.Records})
}
