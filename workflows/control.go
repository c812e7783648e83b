package workflows

import (
	"errors"
	"fmt"
	enumspb "go.temporal.io/api/enums/v1"

	"time"

	"github.com/ferryhq/ferry/internal/contract"

	"github.com/ferryhq/ferry/runbook"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// controlStep is a step the workflow does itself: timers, approvals, the mirror child.
type controlStep func(r *runner, ctx workflow.Context, s *runbook.PlanStep, with map[string]any, st *StepState) error

// controlSteps are the control steps of the catalogue by step type.
var controlSteps = map[string]controlStep{
	runbook.StepLog:      withOnly((*runner).log),
	runbook.StepFail:     withOnly((*runner).fail),
	runbook.StepSleep:    withOnly((*runner).sleep),
	runbook.StepApproval: withOnly((*runner).approval),
	runbook.StepMirrorStart: func(r *runner, ctx workflow.Context, _ *runbook.PlanStep, _ map[string]any, st *StepState) error {
		return r.mirrorStart(ctx, st)
	},
	runbook.StepMirrorStop: func(r *runner, ctx workflow.Context, _ *runbook.PlanStep, _ map[string]any, _ *StepState) error {
		return r.mirrorStop(ctx)
	},
	runbook.StepRunbookStart: (*runner).startRunbook,
}

// withOnly adapts a control step that needs only its parameters.
func withOnly(fn func(r *runner, ctx workflow.Context, with map[string]any, st *StepState) error) controlStep {
	return func(r *runner, ctx workflow.Context, _ *runbook.PlanStep, with map[string]any, st *StepState) error {
		return fn(r, ctx, with, st)
	}
}

// control runs a control step.
func (r *runner) control(ctx workflow.Context, s *runbook.PlanStep, st *StepState) error {
	with, err := r.resolveWith(s)
	if err != nil {
		return err
	}
	run, ok := controlSteps[s.Uses]
	if !ok {
		return contract.UnknownStep.Fail("no control implementation for %s", s.Uses)
	}
	return run(r, ctx, s, with, st)
}

func (r *runner) log(ctx workflow.Context, with map[string]any, st *StepState) error {
	var p runbook.LogParams
	if err := runbook.DecodeWith(with, &p); err != nil {
		return err
	}
	st.Message = p.Message
	st.Outputs = map[string]any{"message": p.Message}
	if p.Level == "warn" {
		workflow.GetLogger(ctx).Warn(p.Message, "step", st.ID)
	} else {
		workflow.GetLogger(ctx).Info(p.Message, "step", st.ID)
	}
	return nil
}

func (r *runner) fail(_ workflow.Context, with map[string]any, _ *StepState) error {
	var p runbook.FailParams
	if err := runbook.DecodeWith(with, &p); err != nil {
		return err
	}
	return contract.RunbookFail.Fail("%s", p.Message)
}

func (r *runner) sleep(ctx workflow.Context, with map[string]any, st *StepState) error {
	var p runbook.SleepParams
	if err := runbook.DecodeWith(with, &p); err != nil {
		return err
	}
	d := p.Duration.D()
	if p.Until != "" {
		until, err := time.Parse(time.RFC3339, p.Until)
		if err != nil {
			return contract.BadParameters.Fail("until: %v", err)
		}
		d = until.Sub(workflow.Now(ctx))
	}
	if d <= 0 {
		return nil
	}
	return workflow.NewTimerWithOptions(ctx, d, workflow.TimerOptions{Summary: st.ID + ": sleep " + d.String()}).Get(ctx, nil)
}

func (r *runner) approval(ctx workflow.Context, with map[string]any, st *StepState) error {
	var p runbook.ApprovalParams
	if err := runbook.DecodeWith(with, &p); err != nil {
		return err
	}
	st.Message = p.Message
	if st.Message == "" {
		st.Message = "approve step " + st.ID + "?"
	}
	st.Approval = nil
	st.Status = StepWaiting
	r.showDetails(ctx)
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
				return contract.ApprovalTimeout.Fail("no approval within %s", p.Timeout)
			}
		}
	} else if err := workflow.Await(ctx, decided); err != nil {
		return err
	}
	a := st.Approval
	if a.Reject {
		return contract.ApprovalRejected.Fail("rejected by %s: %s", a.By, a.Comment)
	}
	st.Outputs = map[string]any{"approvedBy": a.By, "comment": a.Comment, "approvedAt": a.At.UTC().Format(time.RFC3339)}
	return nil
}

// mirrorStart starts the replication engine as a child workflow that ends with this run.
func (r *runner) mirrorStart(ctx workflow.Context, st *StepState) error {
	rep := r.plan.Replication
	if rep == nil {
		return contract.BadInput.Fail("mirror.start: the runbook has no replication: section")
	}
	if r.mirror != nil {
		return nil // already running: starting twice is a no-op
	}
	spec := runbook.MirrorSpec{RunID: r.runID, Runbook: r.plan.Runbook, Replication: rep, Clusters: r.plan.Clusters}
	// MirrorMaker 2 runs elsewhere: the step ends once every connector and task runs. The
	// builtin mirror has nothing to deploy, but its deploy checks both clusters answer (runs
	// recorded before that check replay without it).
	if rep.Engine.Managed() || workflow.GetVersion(ctx, "mirror-start-checks-clusters", workflow.DefaultVersion, 1) == 1 {
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			ActivityID:          st.ID,
			StartToCloseTimeout: 30 * time.Minute,
			HeartbeatTimeout:    time.Minute,
			RetryPolicy: &temporal.RetryPolicy{
				InitialInterval: time.Second, MaximumAttempts: 5,
				NonRetryableErrorTypes: contract.Types(contract.BadInput, contract.Kubernetes, contract.KubernetesForbidden, contract.MirrorFailed),
			},
		})
		var out map[string]any
		if err := workflow.ExecuteActivity(actx, contract.ActivityMirrorDeploy, spec).Get(ctx, &out); err != nil {
			return err
		}
		st.Outputs = out
		if n, ok := out["shards"].(float64); ok {
			spec.Shards = int(n) // the builtin copy, split as deploy counted the partitions
		}
	}
	id := r.runID + "-mirror"
	opts := workflow.ChildWorkflowOptions{
		StaticSummary:     fmt.Sprintf("mirror %s → %s (%s engine) of run %s", rep.Origin, rep.Target, rep.Engine.Or(), r.runID),
		WorkflowID:        id,
		TaskQueue:         TaskQueue,
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
	}
	if r.searchable(ctx) {
		// The mirror is found with its run: by runbook, in phase "mirroring".
		opts.TypedSearchAttributes = temporal.NewSearchAttributes(
			temporal.NewSearchAttributeKeyKeyword(SearchAttributeRunbook).ValueSet(r.plan.Runbook),
			phaseKey.ValueSet(PhaseMirroring))
	}
	cctx := workflow.WithChildOptions(ctx, opts)
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

// startRunbook starts the runbook a runbook.start step compiled as a run of its own, which
// this run's end leaves running, and waits until it has started.
func (r *runner) startRunbook(ctx workflow.Context, s *runbook.PlanStep, with map[string]any, st *StepState) error {
	var p runbook.RunbookStartParams
	if err := runbook.DecodeWith(with, &p); err != nil {
		return contract.BadInput.Fail("%v", err)
	}
	if s.Start == nil {
		return contract.BadInput.Fail("runbook.start %s: the plan holds no compiled runbook to start (plan it with ferry run or ferry plan)", p.Runbook)
	}
	id := p.ID
	if id == "" {
		id = r.runID + "-" + s.ID
	}
	opts := workflow.ChildWorkflowOptions{
		StaticSummary:     fmt.Sprintf("runbook %s, started by run %s", s.Start.Runbook, r.runID),
		WorkflowID:        id,
		TaskQueue:         TaskQueue,
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
	}
	if r.searchable(ctx) {
		opts.TypedSearchAttributes = temporal.NewSearchAttributes(
			temporal.NewSearchAttributeKeyKeyword(SearchAttributeRunbook).ValueSet(s.Start.Runbook),
			phaseKey.ValueSet(string(PhaseRunning)))
	}
	f := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, opts), RunbookWorkflowName, Input{Plan: s.Start})
	var exec workflow.Execution
	err := f.GetChildWorkflowExecution().Get(ctx, &exec)
	var running *temporal.ChildWorkflowExecutionAlreadyStartedError
	if errors.As(err, &running) {
		st.Message = fmt.Sprintf("run %s is already running: left as it is", id)
	} else if err != nil {
		return fmt.Errorf("start runbook %s as run %s: %w", s.Start.Runbook, id, err)
	}
	st.Outputs = map[string]any{"id": id, "runbook": s.Start.Runbook}
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
