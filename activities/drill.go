package activities

import (
	"context"
	"time"

	"github.com/ferryhq/ferry/runbook"
)

func (a *Activities) drillSteps() map[string]Step {
	return map[string]Step{runbook.StepDrillMeasure: a.drillMeasure}
}

// drillMeasure measures a standby without changing anything on either cluster, and fails
// past the runbook's limits with the report.
func (a *Activities) drillMeasure(ctx context.Context, in runbook.StepInput) (runbook.StepResult, error) {
	p, f, closeFn, err := flowStep[runbook.DrillMeasureParams](ctx, a, in)
	if err != nil {
		return runbook.StepResult{}, err
	}
	defer closeFn()
	d, err := f.MeasureDrill(ctx, p.Groups, a.now())
	if err != nil {
		return runbook.StepResult{}, err
	}
	err = d.Check(p.MaxRPO.D(), p.MaxBehind)
	a.Metrics.Drill(in.Runbook, d.RPO, err == nil)
	if err != nil {
		return runbook.StepResult{}, err
	}
	return result(map[string]any{
		"rpo": runbook.Duration(d.RPO.Round(time.Millisecond)).String(), "lag": d.Lag, "behind": d.Behind, "missing": d.Missing,
		"readTime": runbook.Duration(d.ReadTime.Round(time.Millisecond)).String(), "report": list(d.Report),
	})
}
