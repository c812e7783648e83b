package workflows

import (
	"errors"
	"fmt"
	"time"

	"github.com/ferryhq/ferry/internal/contract"
	"github.com/ferryhq/ferry/internal/metrics"
	"github.com/ferryhq/ferry/runbook"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// execute runs one step (or block) to its end and records what happened.
func (r *runner) execute(ctx workflow.Context, s *runbook.PlanStep) (err error) {
	st := r.state.Steps[s.ID]
	if s.When != "" {
		ok, err := runbook.EvalCondition(s.When, r.env())
		if err != nil {
			r.finish(ctx, st, StepFailed, err)
			return err
		}
		if !ok {
			r.finish(ctx, st, StepSkipped, nil)
			return nil
		}
	}
	now := workflow.Now(ctx)
	st.StartedAt, st.EndedAt, st.LastError = &now, nil, ""
	st.Status = StepRunning
	r.showDetails(ctx)
	switch {
	case s.Parallel != nil:
		err = r.parallel(ctx, s)
	case s.Control:
		err = r.control(ctx, s, st)
	default:
		err = r.activity(ctx, s, st)
	}
	switch {
	case err == nil:
		r.finish(ctx, st, StepSucceeded, nil)
		r.state.Completed = append(r.state.Completed, s.ID)
	case temporal.IsCanceledError(err) || ctx.Err() != nil:
		r.finish(ctx, st, StepCancelled, err)
	default:
		r.finish(ctx, st, StepFailed, err)
	}
	if err != nil {
		return &stepError{step: s.ID, cause: err}
	}
	return nil
}

// stepError names the step that failed and says why in people's words, keeping the cause
// (a cancellation stays recognisable).
type stepError struct {
	step  string
	cause error
}

func (e *stepError) Error() string {
	var inner *stepError
	if errors.As(e.cause, &inner) {
		return e.cause.Error() // a block reports the failing step inside it
	}
	return "step " + e.step + ": " + errorMessage(e.cause)
}

func (e *stepError) Unwrap() error { return e.cause }

func (r *runner) finish(ctx workflow.Context, st *StepState, status StepStatus, err error) {
	now := workflow.Now(ctx)
	st.Status, st.EndedAt = status, &now
	if err != nil {
		st.LastError = errorMessage(err)
	}
	if st.StartedAt != nil {
		// The SDK's handler reports nothing while a history replays: each step counts once.
		workflow.GetMetricsHandler(ctx).WithTags(map[string]string{
			"runbook": r.plan.Runbook, "step": st.ID, "uses": st.Uses, "outcome": string(status),
		}).Timer(metrics.StepDuration).Record(now.Sub(*st.StartedAt))
	}
	r.showDetails(ctx)
}

// errorMessage unwraps Temporal's activity error envelope to the cause people care about.
func errorMessage(err error) string {
	var se *stepError
	if errors.As(err, &se) {
		return se.Error()
	}
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	var timeout *temporal.TimeoutError
	if errors.As(err, &timeout) {
		return "timed out (" + timeout.TimeoutType().String() + ")"
	}
	return err.Error()
}

// parallel runs a block's steps at once; the first failure cancels the others. A block with
// endWith ends when that step succeeds: the others are stopped (a step that can end with its
// outputs, such as standby.watch, succeeds; the others are cancelled) and the block succeeds.
func (r *runner) parallel(ctx workflow.Context, s *runbook.PlanStep) error {
	bctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	var first error
	ended := false // the endWith step succeeded and stopped the others
	wg := workflow.NewWaitGroup(ctx)
	for _, c := range s.Parallel {
		wg.Add(1)
		workflow.Go(bctx, func(gctx workflow.Context) {
			defer wg.Done()
			err := r.execute(gctx, c)
			switch {
			case err == nil && s.EndWith != "" && c.ID == s.EndWith:
				ended = true
				cancel()
			case err == nil, ended && temporal.IsCanceledError(err):
			case !c.ContinueOnError && first == nil:
				first = err
				cancel()
			}
		})
	}
	wg.Wait(ctx)
	if first == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return first
}

// activity runs an activity step, retrying failed attempts with exponential backoff. Retries
// are driven here rather than by the server so every attempt and its error show in status.
func (r *runner) activity(ctx workflow.Context, s *runbook.PlanStep, st *StepState) error {
	withMap, err := r.resolveWith(s)
	if err != nil {
		return err
	}
	restoreTo, err := r.restoreInput(s.Uses, withMap)
	if err != nil {
		return err
	}
	retry := runbook.Retry{MaxAttempts: 1}
	if s.Retry != nil {
		retry = *s.Retry
	}
	backoff := retry.Backoff.D()
	deadline := workflow.Now(ctx).Add(s.Timeout.D())
	for attempt := 1; ; attempt++ {
		st.Attempts = attempt
		st.Status = StepRunning
		timeout := s.Timeout.D()
		if retry.WithinTimeout {
			timeout = max(deadline.Sub(workflow.Now(ctx)), time.Second)
		}
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			ActivityID:          fmt.Sprintf("%s#%d", s.ID, attempt),
			Summary:             stepSummary(s, attempt),
			StartToCloseTimeout: timeout,
			HeartbeatTimeout:    s.HeartbeatTimeout.D(),
			RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
			WaitForCancellation: true,
		})
		in := runbook.StepInput{
			RunID: r.runID, Runbook: r.plan.Runbook, StepID: s.ID, Attempt: attempt, With: withMap,
			Clusters: r.plan.Clusters, Apps: r.plan.Apps, Replication: r.plan.Replication, RestoreTo: restoreTo,
		}
		var res runbook.StepResult
		err := workflow.ExecuteActivity(actx, s.Uses, in).Get(ctx, &res)
		if err == nil {
			r.recordUndo(s.Uses, withMap, &res)
			st.Outputs = res.Outputs
			st.LastError, st.RetryingSince = "", nil
			return nil
		}
		st.LastError = errorMessage(err)
		if !retryable(ctx, err) || !retry.Another(attempt, workflow.Now(ctx).Add(backoff), deadline) {
			return err
		}
		if st.RetryingSince == nil {
			now := workflow.Now(ctx)
			st.RetryingSince = &now
		}
		st.Status = StepRetrying
		r.showDetails(ctx)
		if err := workflow.NewTimerWithOptions(ctx, backoff, workflow.TimerOptions{Summary: s.ID + ": backoff before attempt " + fmt.Sprint(attempt+1)}).Get(ctx, nil); err != nil {
			return err
		}
		backoff = min(backoff*2, retry.MaxBackoff.D())
	}
}

// retryable reports whether a failed attempt may be tried again: not after a cancellation,
// nor when the activity said retrying cannot help.
func retryable(ctx workflow.Context, err error) bool {
	var app *temporal.ApplicationError
	return ctx.Err() == nil && !temporal.IsCanceledError(err) && !(errors.As(err, &app) && app.NonRetryable())
}

// resolveWith evaluates a step's parameters against what the run knows now.
func (r *runner) resolveWith(s *runbook.PlanStep) (map[string]any, error) {
	with, err := runbook.Resolve(s.With, r.env())
	if err != nil {
		return nil, contract.BadParameters.Fail("%s", err.Error())
	}
	m, _ := with.(map[string]any)
	return m, nil
}
