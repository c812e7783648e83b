package workflows

import (
	"errors"
	"fmt"
	"slices"

	"github.com/ferryhq/ferry/runbook"
	"go.temporal.io/sdk/workflow"
)

func (r *runner) registerHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandlerWithOptions(ctx, QueryStatus, func() (*Status, error) { return r.status(), nil },
		workflow.QueryHandlerOptions{Description: "The run's phase and every step: state, times, attempts, last error, outputs (ferry status)."}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateApprove,
		func(ctx workflow.Context, a Approval) (string, error) {
			id, _ := r.waitingApproval(a.Step)
			a.Step = id
			a.At = workflow.Now(ctx)
			r.state.Steps[id].Approval = &a
			r.showDetails(ctx)
			return id, nil
		},
		workflow.UpdateHandlerOptions{
			Description: "Decide an approval step waiting: approve, or reject with reject: true (ferry approve --step STEP RUN).",
			Validator: func(ctx workflow.Context, a Approval) error {
				_, err := r.waitingApproval(a.Step)
				return err
			}},
	); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdatePause,
		func(ctx workflow.Context) (Phase, error) {
			r.state.Paused = true
			r.showDetails(ctx)
			return r.phase(), nil
		},
		workflow.UpdateHandlerOptions{Description: "Hold the run before its next step (ferry pause RUN).", Validator: func(ctx workflow.Context) error {
			switch {
			case r.state.Phase.Terminal() || r.state.Phase == PhaseRollingBack:
				return fmt.Errorf("the run is %s", r.state.Phase)
			case r.state.Paused:
				return errors.New("the run is already paused")
			}
			return nil
		}},
	); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateResume,
		func(ctx workflow.Context) (Phase, error) {
			r.state.Paused = false
			r.showDetails(ctx)
			return r.phase(), nil
		},
		workflow.UpdateHandlerOptions{Description: "Let a paused run go on (ferry resume RUN).", Validator: func(ctx workflow.Context) error {
			if !r.state.Paused {
				return errors.New("the run is not paused")
			}
			return nil
		}},
	)
}

// waitingApproval finds the approval step a decision is for: the named one, or the only one
// waiting.
func (r *runner) waitingApproval(step string) (string, error) {
	waiting := r.waiting()
	if step == "" {
		switch len(waiting) {
		case 0:
			return "", errors.New("no step is waiting for approval")
		case 1:
			return waiting[0], nil
		}
		return "", fmt.Errorf("several steps wait for approval, name one with --step: %v", waiting)
	}
	if !slices.Contains(waiting, step) {
		if _, ok := r.state.Steps[step]; !ok {
			return "", fmt.Errorf("the runbook has no step %q", step)
		}
		if len(waiting) == 0 {
			return "", fmt.Errorf("step %q is not waiting for approval (no step is)", step)
		}
		return "", fmt.Errorf("step %q is not waiting for approval (waiting: %v)", step, waiting)
	}
	return step, nil
}

func (r *runner) waiting() []string {
	var ids []string
	r.walkAll(func(s *runbook.PlanStep) {
		if st := r.state.Steps[s.ID]; st.Status == StepWaiting && st.Approval == nil {
			ids = append(ids, s.ID)
		}
	})
	return ids
}

func (r *runner) walkAll(fn func(*runbook.PlanStep)) {
	runbook.Walk(r.plan.Steps, fn)
	runbook.Walk(r.plan.Rollback, fn)
	runbook.Walk(r.plan.OnFailure, fn)
}

func (r *runner) phase() Phase {
	p := r.state.Phase
	if p == PhaseRunning {
		if len(r.waiting()) > 0 {
			return PhaseWaiting
		}
		if r.state.Paused {
			return PhasePaused
		}
	}
	return p
}

func (r *runner) status() *Status {
	s := &Status{
		RunID: r.runID, Runbook: r.plan.Runbook, Phase: r.phase(), Paused: r.state.Paused,
		Waiting: r.waiting(), PastPointOfNoReturn: r.state.PastPointOfNoReturn,
		StartedAt: r.state.StartedAt, EndedAt: r.state.EndedAt, Error: r.state.Error, Continued: r.state.Continued,
	}
	r.walkAll(func(p *runbook.PlanStep) { s.Steps = append(s.Steps, r.state.Steps[p.ID]) })
	return s
}
