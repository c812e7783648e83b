package workflows

import (
	"errors"

	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/internal/contract"
	"github.com/ferryhq/ferry/runbook"
)

// DefaultHistoryLimit is how many history events a run may gather before it hands over to a
// fresh run (continue-as-new) between two top-level steps. Temporal warns at 10,240.
const DefaultHistoryLimit = 8000

// Input starts a run: the plan, and the state carried over when the run continued as new.
type Input struct {
	Plan  *runbook.Plan `json:"plan"`
	State *State        `json:"state,omitempty"`
	// HistoryLimit overrides DefaultHistoryLimit (tests use a small one).
	HistoryLimit int `json:"historyLimit,omitempty"`
}

// Runbook interprets a plan: steps in order, parallel blocks, approvals, pause and resume,
// per-step timeouts and retries, and rollback of completed steps when the run fails or is
// cancelled before its point of no return.
//
// Determinism: the workflow reads only its input, its own state and workflow APIs. A change
// that alters which commands it issues for an existing history must be guarded by
// workflow.GetVersion and keep the replay test in this package passing.
func Runbook(ctx workflow.Context, in Input) (*Status, error) {
	r := &runner{plan: in.Plan, state: in.State, limit: in.HistoryLimit}
	if r.limit <= 0 {
		r.limit = DefaultHistoryLimit
	}
	info := workflow.GetInfo(ctx)
	r.runID = info.WorkflowExecution.ID
	if r.state == nil {
		r.state = &State{Phase: PhaseRunning, StartedAt: workflow.Now(ctx), Steps: map[string]*StepState{}}
		r.initSteps(r.plan.Steps, 0, false)
		r.initSteps(r.plan.Rollback, 0, true)
		r.initSteps(r.plan.OnFailure, 0, false)
		runbook.Walk(r.plan.OnFailure, func(s *runbook.PlanStep) { r.state.Steps[s.ID].OnFailure = true })
	}
	if err := r.registerHandlers(ctx); err != nil {
		return nil, err
	}
	err := r.runMain(ctx)
	var can *workflow.ContinueAsNewError
	if errors.As(err, &can) {
		return nil, err
	}
	r.state.EndedAt = workflow.Now(ctx)
	r.showDetails(ctx)
	// Let approve/pause calls that are being handled finish before the run closes.
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	st := r.status()
	return st, r.withStatus(err, st)
}

// withStatus makes a failed or cancelled run's error carry its final status, as a run that
// succeeded returns it: the server keeps it, so the run's steps show with no worker to
// replay it (ferry status on a server whose workers are gone, reports over many drills).
func (r *runner) withStatus(err error, st *Status) error {
	var failed *temporal.ApplicationError
	switch {
	case temporal.IsCanceledError(err):
		return temporal.NewCanceledError(r.state.Error, st)
	case errors.As(err, &failed) && failed.Type() == string(contract.RunbookFailed):
		return contract.RunbookFailed.FailWith(st, "%s", r.state.Error)
	}
	return err
}

type runner struct {
	plan  *runbook.Plan
	state *State
	runID string
	limit int
	// mirror is the running mirror child of this run, if any.
	mirror workflow.ChildWorkflowFuture
	// search is what the run last upserted as its search attributes; nil before the first.
	search *searchState
}

func (r *runner) initSteps(steps []*runbook.PlanStep, depth int, rollback bool) {
	for _, s := range steps {
		r.state.Steps[s.ID] = &StepState{ID: s.ID, Uses: s.Uses, Depth: depth, Rollback: rollback, Status: StepPending}
		r.initSteps(s.Parallel, depth+1, rollback)
	}
}

// runMain runs the top-level steps, handing over to a fresh run when history grows long.
func (r *runner) runMain(ctx workflow.Context) error {
	for _, s := range r.plan.Steps {
		if r.state.Steps[s.ID].Status.Done() {
			continue // done before a continue-as-new
		}
		if err := workflow.Await(ctx, func() bool { return !r.state.Paused }); err != nil {
			return r.abort(ctx, err)
		}
		if r.historyFull(ctx) {
			_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
			r.state.Continued++
			return workflow.NewContinueAsNewError(ctx, RunbookWorkflowName, Input{Plan: r.plan, State: r.state, HistoryLimit: r.limit})
		}
		err := r.step(ctx, s)
		var lost *mirrorLost
		if err != nil && (!s.ContinueOnError || errors.As(err, &lost)) {
			return r.abort(ctx, err)
		}
		if s.PointOfNoReturn && err == nil {
			r.state.PastPointOfNoReturn = true
		}
	}
	r.state.Phase = PhaseSucceeded
	return nil
}

// versionMirrorFailsStep marks runs in which a mirror that fails ends the step running then
// (histories from before it replay without that watch).
const versionMirrorFailsStep = "mirror-fails-step"

// step runs a top-level step. While a mirror runs, it watches it too: a mirror that fails (a
// record the target refuses, a refusal no retry mends) fails the step at once with the
// mirror's reason, instead of leaving a wait step to time out on lag that no longer moves.
func (r *runner) step(ctx workflow.Context, s *runbook.PlanStep) error {
	mirror := r.mirror
	if mirror == nil || workflow.GetVersion(ctx, versionMirrorFailsStep, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return r.execute(ctx, s)
	}
	sctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	done := false
	var lost error
	workflow.Go(ctx, func(gctx workflow.Context) {
		if workflow.Await(gctx, func() bool { return done || mirror.IsReady() }) != nil || done {
			return
		}
		if err := mirror.Get(gctx, nil); err != nil && !temporal.IsCanceledError(err) {
			lost = err
			cancel()
		}
	})
	err := r.execute(sctx, s)
	done = true
	if lost == nil {
		return err
	}
	r.mirror = nil
	cause := &mirrorLost{cause: contract.MirrorFailed.Fail("the mirror stopped: %s", errorMessage(lost))}
	r.finish(ctx, r.state.Steps[s.ID], StepFailed, cause)
	return &stepError{step: s.ID, cause: cause}
}

// mirrorLost is a step ended by its mirror's failure: the run cannot go on without the mirror,
// whatever the step's continueOnError says.
type mirrorLost struct{ cause error }

func (e *mirrorLost) Error() string { return e.cause.Error() }
func (e *mirrorLost) Unwrap() error { return e.cause }

func (r *runner) historyFull(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	if r.mirror != nil {
		// A hand-over would end the mirror child (it stops when its parent run closes);
		// mirrors add few events, so wait for mirror.stop unless the server insists.
		return info.GetContinueAsNewSuggested()
	}
	return info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() >= r.limit
}

// abort ends a run after a failure or a cancellation, rolling back when it may.
func (r *runner) abort(ctx workflow.Context, cause error) error {
	cancelled := temporal.IsCanceledError(cause) || errors.Is(ctx.Err(), workflow.ErrCanceled)
	r.state.Error = cause.Error()
	if cancelled {
		r.state.Error = "cancelled"
	}
	rolledBack := ""
	if !r.state.PastPointOfNoReturn && len(r.plan.Rollback) > 0 {
		n, failed := r.rollback(ctx)
		rolledBack = fmt.Sprintf("; rolled back (%d rollback steps ran", n)
		if failed > 0 {
			rolledBack += fmt.Sprintf(", %d failed", failed)
		}
		rolledBack += ")"
	}
	switch {
	case cancelled:
		r.state.Phase = PhaseCancelled
		r.state.Error += rolledBack
		return temporal.NewCanceledError(r.state.Error)
	case rolledBack != "":
		r.state.Phase = PhaseRolledBack
	default:
		r.state.Phase = PhaseFailed
	}
	r.state.Error += rolledBack
	r.onFailure(ctx)
	return contract.RunbookFailed.Fail("%s", r.state.Error)
}

// onFailure runs the runbook's onFailure steps in order, after any rollback, so a failing
// run (a scheduled drill) is heard. It runs in a disconnected context, as rollback does; a
// failing step is logged and the others still run. The run's phase stays what it was.
func (r *runner) onFailure(ctx workflow.Context) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	for _, s := range r.plan.OnFailure {
		if err := r.execute(dctx, s); err != nil {
			workflow.GetLogger(ctx).Error("onFailure step failed", "step", s.ID, "error", err)
		}
	}
}

// rollback runs the rollback steps of completed steps, newest first, then the rollback steps
// that undo nothing in particular. It runs in a disconnected context so a cancelled run
// still rolls back. A failing rollback step does not stop the others.
func (r *runner) rollback(ctx workflow.Context) (ran, failed int) {
	r.state.Phase = PhaseRollingBack
	r.state.Paused = false
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	run := func(s *runbook.PlanStep) {
		ran++
		if err := r.execute(dctx, s); err != nil {
			failed++
			workflow.GetLogger(ctx).Error("rollback step failed", "step", s.ID, "error", err)
		}
	}
	for i := len(r.state.Completed) - 1; i >= 0; i-- {
		for _, s := range r.plan.Rollback {
			if s.Undoes == r.state.Completed[i] {
				run(s)
			}
		}
	}
	for _, s := range r.plan.Rollback {
		if s.Undoes == "" {
			run(s)
		}
	}
	return ran, failed
}

func (r *runner) env() map[string]any {
	steps := make(map[string]any, len(r.state.Steps))
	for id, st := range r.state.Steps {
		steps[id] = map[string]any{"outputs": st.Outputs, "status": string(st.Status)}
	}
	return map[string]any{
		"params": r.plan.Params,
		"steps":  steps,
		"run":    map[string]any{"id": r.runID, "runbook": r.plan.Runbook, "error": r.state.Error},
	}
}
