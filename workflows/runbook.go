package workflows

import (
	"errors"

	"fmt"
	enumspb "go.temporal.io/api/enums/v1"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/engine"
)

// DefaultHistoryLimit is how many history events a run may gather before it hands over to a
// fresh run (continue-as-new) between two top-level steps. Temporal warns at 10,240.
const DefaultHistoryLimit = 8000

// Input starts a run: the plan, and the state carried over when the run continued as new.
type Input struct {
	Plan  *engine.Plan `json:"plan"`
	State *State       `json:"state,omitempty"`
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
	// Let approve/pause calls that are being handled finish before the run closes.
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	return r.status(), err
}

type runner struct {
	plan  *engine.Plan
	state *State
	runID string
	limit int
	// mirror is the running mirror child of this run, if any.
	mirror workflow.ChildWorkflowFuture
}

func (r *runner) initSteps(steps []*engine.PlanStep, depth int, rollback bool) {
	for _, s := range steps {
		r.state.Steps[s.ID] = &StepState{ID: s.ID, Uses: s.Uses, Depth: depth, Rollback: rollback, Status: StepPending}
		r.initSteps(s.Parallel, depth+1, rollback)
	}
}

func (r *runner) registerHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (*Status, error) { return r.status(), nil }); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateApprove,
		func(ctx workflow.Context, a Approval) (string, error) {
			id, _ := r.waitingApproval(a.Step)
			a.Step = id
			a.At = workflow.Now(ctx)
			r.state.Steps[id].Approval = &a
			return id, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, a Approval) error {
			_, err := r.waitingApproval(a.Step)
			return err
		}},
	); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdatePause,
		func(ctx workflow.Context) (Phase, error) {
			r.state.Paused = true
			return r.phase(), nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context) error {
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
			return r.phase(), nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context) error {
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
	r.walkAll(func(s *engine.PlanStep) {
		if st := r.state.Steps[s.ID]; st.Status == StepWaiting && st.Approval == nil {
			ids = append(ids, s.ID)
		}
	})
	return ids
}

func (r *runner) walkAll(fn func(*engine.PlanStep)) {
	engine.Walk(r.plan.Steps, fn)
	engine.Walk(r.plan.Rollback, fn)
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
	r.walkAll(func(p *engine.PlanStep) { s.Steps = append(s.Steps, r.state.Steps[p.ID]) })
	return s
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
		err := r.execute(ctx, s)
		if err != nil && !s.ContinueOnError {
			return r.abort(ctx, err)
		}
		if s.PointOfNoReturn && err == nil {
			r.state.PastPointOfNoReturn = true
		}
	}
	r.state.Phase = PhaseSucceeded
	return nil
}

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
	return temporal.NewNonRetryableApplicationError(r.state.Error, "RunbookFailed", nil)
}

// rollback runs the rollback steps of completed steps, newest first, then the rollback steps
// that undo nothing in particular. It runs in a disconnected context so a cancelled run
// still rolls back. A failing rollback step does not stop the others.
func (r *runner) rollback(ctx workflow.Context) (ran, failed int) {
	r.state.Phase = PhaseRollingBack
	r.state.Paused = false
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	run := func(s *engine.PlanStep) {
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
		"run":    map[string]any{"id": r.runID, "runbook": r.plan.Runbook},
	}
}

// execute runs one step (or block) to its end and records what happened.
func (r *runner) execute(ctx workflow.Context, s *engine.PlanStep) (err error) {
	st := r.state.Steps[s.ID]
	if s.When != "" {
		ok, err := engine.EvalCondition(s.When, r.env())
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

// parallel runs a block's steps at once; the first failure cancels the others.
func (r *runner) parallel(ctx workflow.Context, s *engine.PlanStep) error {
	bctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	var first error
	wg := workflow.NewWaitGroup(ctx)
	for _, c := range s.Parallel {
		wg.Add(1)
		workflow.Go(bctx, func(gctx workflow.Context) {
			defer wg.Done()
			if err := r.execute(gctx, c); err != nil && !c.ContinueOnError && first == nil {
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
func (r *runner) activity(ctx workflow.Context, s *engine.PlanStep, st *StepState) error {
	with, err := engine.Resolve(s.With, r.env())
	if err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), "BadParameters", nil)
	}
	withMap, _ := with.(map[string]any)
	if err := r.restoreInput(s.Uses, withMap); err != nil {
		return err
	}
	retry := engine.Retry{MaxAttempts: 1}
	if s.Retry != nil {
		retry = *s.Retry
	}
	backoff := retry.Backoff.D()
	for attempt := 1; ; attempt++ {
		st.Attempts = attempt
		st.Status = StepRunning
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			ActivityID:          fmt.Sprintf("%s#%d", s.ID, attempt),
			StartToCloseTimeout: s.Timeout.D(),
			HeartbeatTimeout:    s.HeartbeatTimeout.D(),
			RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
			WaitForCancellation: true,
		})
		in := engine.StepInput{
			RunID: r.runID, Runbook: r.plan.Runbook, StepID: s.ID, Attempt: attempt, With: withMap,
			Clusters: r.plan.Clusters, Apps: r.plan.Apps, Replication: r.plan.Replication,
		}
		var res engine.StepResult
		err := workflow.ExecuteActivity(actx, s.Uses, in).Get(ctx, &res)
		if err == nil {
			st.Outputs = res.Outputs
			r.recordUndo(s.Uses, withMap, res.Outputs)
			return nil
		}
		st.LastError = errorMessage(err)
		var app *temporal.ApplicationError
		if ctx.Err() != nil || temporal.IsCanceledError(err) || (errors.As(err, &app) && app.NonRetryable()) || attempt >= retry.MaxAttempts {
			return err
		}
		st.Status = StepRetrying
		if err := workflow.Sleep(ctx, backoff); err != nil {
			return err
		}
		backoff = min(backoff*2, retry.MaxBackoff.D())
	}
}

// control runs the steps the workflow does itself.
func (r *runner) control(ctx workflow.Context, s *engine.PlanStep, st *StepState) error {
	resolved, err := engine.Resolve(s.With, r.env())
	if err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), "BadParameters", nil)
	}
	with, _ := resolved.(map[string]any)
	switch s.Uses {
	case engine.StepLog:
		var p engine.LogParams
		if err := engine.DecodeWith(with, &p); err != nil {
			return err
		}
		st.Message = p.Message
		st.Outputs = map[string]any{"message": p.Message}
		if p.Level == "warn" {
			workflow.GetLogger(ctx).Warn(p.Message, "step", s.ID)
		} else {
			workflow.GetLogger(ctx).Info(p.Message, "step", s.ID)
		}
		return nil
	case engine.StepFail:
		var p engine.FailParams
		if err := engine.DecodeWith(with, &p); err != nil {
			return err
		}
		return temporal.NewNonRetryableApplicationError(p.Message, "RunbookFail", nil)
	case engine.StepSleep:
		var p engine.SleepParams
		if err := engine.DecodeWith(with, &p); err != nil {
			return err
		}
		d := p.Duration.D()
		if p.Until != "" {
			until, err := time.Parse(time.RFC3339, p.Until)
			if err != nil {
				return temporal.NewNonRetryableApplicationError(fmt.Sprintf("until: %v", err), "BadParameters", nil)
			}
			d = until.Sub(workflow.Now(ctx))
		}
		if d <= 0 {
			return nil
		}
		return workflow.Sleep(ctx, d)
	case engine.StepApproval:
		return r.approval(ctx, with, st)
	case engine.StepMirrorStart:
		return r.mirrorStart(ctx, st)
	case engine.StepMirrorStop:
		return r.mirrorStop(ctx)
	}
	return temporal.NewNonRetryableApplicationError("no control implementation for "+s.Uses, "UnknownStep", nil)
}

func (r *runner) approval(ctx workflow.Context, with map[string]any, st *StepState) error {
	var p engine.ApprovalParams
	if err := engine.DecodeWith(with, &p); err != nil {
		return err
	}
	st.Message = p.Message
	if st.Message == "" {
		st.Message = "approve step " + st.ID + "?"
	}
	st.Approval = nil
	st.Status = StepWaiting
	decided := func() bool { return st.Approval != nil }
	if p.Timeout > 0 {
		ok, err := workflow.AwaitWithTimeout(ctx, p.Timeout.D(), decided)
		if err != nil {
			return err
		}
		if !ok {
			if p.OnTimeout == "approve" {
				st.Approval = &Approval{Step: st.ID, By: "timeout", At: workflow.Now(ctx)}
			} else {
				return temporal.NewNonRetryableApplicationError(fmt.Sprintf("no approval within %s", p.Timeout), "ApprovalTimeout", nil)
			}
		}
	} else if err := workflow.Await(ctx, decided); err != nil {
		return err
	}
	a := st.Approval
	if a.Reject {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("rejected by %s: %s", a.By, a.Comment), "ApprovalRejected", nil)
	}
	st.Outputs = map[string]any{"approvedBy": a.By, "comment": a.Comment, "approvedAt": a.At.UTC().Format(time.RFC3339)}
	return nil
}

// mirrorStart starts the replication engine as a child workflow that ends with this run.
func (r *runner) mirrorStart(ctx workflow.Context, st *StepState) error {
	rep := r.plan.Replication
	if rep == nil {
		return temporal.NewNonRetryableApplicationError("mirror.start: the runbook has no replication: section", "BadInput", nil)
	}
	if r.mirror != nil {
		return nil // already running: starting twice is a no-op
	}
	spec := engine.MirrorSpec{RunID: r.runID, Runbook: r.plan.Runbook, Replication: rep, Clusters: r.plan.Clusters}
	if rep.Engine == "strimzi" || rep.Engine == "connect" {
		// MirrorMaker 2 runs elsewhere: the step ends once every connector and task runs.
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			ActivityID:          st.ID,
			StartToCloseTimeout: 30 * time.Minute,
			HeartbeatTimeout:    time.Minute,
			RetryPolicy: &temporal.RetryPolicy{
				InitialInterval: time.Second, MaximumAttempts: 5,
				NonRetryableErrorTypes: []string{"BadInput", "Kubernetes", "KubernetesForbidden", "MirrorFailed"},
			},
		})
		var out map[string]any
		if err := workflow.ExecuteActivity(actx, mirrorDeployActivity, spec).Get(ctx, &out); err != nil {
			return err
		}
		st.Outputs = out
	}
	id := r.runID + "-mirror"
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:        id,
		TaskQueue:         TaskQueue,
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
	})
	f := workflow.ExecuteChildWorkflow(cctx, MirrorWorkflowName, spec)
	if err := f.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		return err
	}
	r.mirror = f
	if st.Outputs == nil {
		st.Outputs = map[string]any{}
	}
	st.Outputs["workflow"] = id
	if _, ok := st.Outputs["mirror"]; !ok {
		st.Outputs["mirror"] = id
	}
	return nil
}

// mirrorStop asks the mirror to stop and waits until it has flushed.
func (r *runner) mirrorStop(ctx workflow.Context) error {
	if r.mirror == nil {
		return nil // nothing running: stopping twice is a no-op
	}
	if err := r.mirror.SignalChildWorkflow(ctx, SignalMirrorStop, nil).Get(ctx, nil); err != nil {
		return err
	}
	err := r.mirror.Get(ctx, nil)
	r.mirror = nil
	return err
}

// undoable are the step types that record what they changed, so that restore: true can
// put it back days later: the record lives in the workflow state.
var undoable = map[string]bool{engine.StepAppsScale: true, engine.StepAppsRepoint: true}

// restoreInput turns restore: true into what Ferry recorded before it first changed the app
// in this run.
func (r *runner) restoreInput(uses string, with map[string]any) error {
	if restore, _ := with["restore"].(bool); !restore || !undoable[uses] {
		return nil
	}
	app, _ := with["app"].(string)
	undo, ok := r.state.AppUndo[uses+" "+app]
	if !ok {
		return temporal.NewNonRetryableApplicationError(uses+" restore: Ferry has not changed app "+app+" with "+uses+" in this run, so there is nothing to restore", "BadInput", nil)
	}
	with["restoreTo"] = undo
	return nil
}

// recordUndo keeps what an app step changed, the first time it changes the app.
func (r *runner) recordUndo(uses string, with, out map[string]any) {
	if !undoable[uses] {
		return
	}
	app, _ := with["app"].(string)
	undo, ok := out["undo"].(map[string]any)
	if restore, _ := with["restore"].(bool); restore || app == "" || !ok {
		return
	}
	if r.state.AppUndo == nil {
		r.state.AppUndo = map[string]map[string]any{}
	}
	if _, seen := r.state.AppUndo[uses+" "+app]; !seen {
		r.state.AppUndo[uses+" "+app] = undo
	}
}
