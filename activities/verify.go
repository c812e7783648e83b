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
	table := make([]any, 0, min(len(res.Table), maxParityRows))
	for _, r := range res.Table[:min(len(res.Table), maxParityRows)] {
		table = append(table, map[string]any{"origin": r.Origin, "target": r.Target, "records": r.Records, "digest": r.Digest[:16], "timestamps": r.Timestamps})
	}
	return result(map[string]any{"partitions": res.Partitions, "records": res.Records, "table": table})
}

// maxParityRows bounds the table a parity step returns: its outputs live in the run's
// history. Past it, partitions and records still count every partition.
const maxParityRows = 1000
