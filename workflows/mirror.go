package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/engine"
)

// Names of the mirror workflow and what it listens to.
const (
	MirrorWorkflowName = "ferry.Mirror"
	SignalMirrorStop   = "stop"
	mirrorRunActivity  = "mirror.run"
	// The MirrorMaker 2 engines' activities (package activities).
	mirrorDeployActivity = "mirror.deploy"
	mirrorWatchActivity  = "mirror.watch"
	mirrorRemoveActivity = "mirror.remove"
)

// Mirror supervises the builtin engine's copy: one long activity that heartbeats and is
// retried without limit after a crash (it resumes from the target). A stop signal or a
// cancellation cancels the activity, which flushes what it copied before it returns.
// Heartbeats and server-side retries add no history events, so the history stays short.
func Mirror(ctx workflow.Context, spec engine.MirrorSpec) error {
	if e := spec.Replication.Engine; e == "strimzi" || e == "connect" {
		return managedMirror(ctx, spec)
	}
	actx, cancel := workflow.WithCancel(ctx)
	actx = workflow.WithActivityOptions(actx, workflow.ActivityOptions{
		ActivityID:          "copy",
		StartToCloseTimeout: 365 * 24 * time.Hour,
		HeartbeatTimeout:    time.Minute,
		WaitForCancellation: true,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second,
			NonRetryableErrorTypes: []string{"BadInput"},
		},
	})
	copying := workflow.ExecuteActivity(actx, mirrorRunActivity, spec)
	stopped := false
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(workflow.GetSignalChannel(ctx, SignalMirrorStop), func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, nil)
		stopped = true
		cancel()
	})
	sel.AddFuture(copying, func(workflow.Future) {})
	sel.Select(ctx)
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	err := copying.Get(dctx, nil)
	if stopped || temporal.IsCanceledError(err) {
		return nil
	}
	return err
}

// managedMirror supervises MirrorMaker 2 run by an operator or a Connect cluster (deployed by
// mirror.start): it watches it until a stop signal or the end of the run, then removes it.
func managedMirror(ctx workflow.Context, spec engine.MirrorSpec) error {
	wctx, cancel := workflow.WithCancel(ctx)
	wctx = workflow.WithActivityOptions(wctx, workflow.ActivityOptions{
		ActivityID:          "watch",
		StartToCloseTimeout: 365 * 24 * time.Hour,
		HeartbeatTimeout:    time.Minute,
		WaitForCancellation: true,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second,
			NonRetryableErrorTypes: []string{"BadInput", "KubernetesForbidden"},
		},
	})
	watching := workflow.ExecuteActivity(wctx, mirrorWatchActivity, spec)
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(workflow.GetSignalChannel(ctx, SignalMirrorStop), func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, nil)
		cancel()
	})
	sel.AddFuture(watching, func(workflow.Future) {})
	sel.Select(ctx)
	cancel()
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	watchErr := watching.Get(dctx, nil)
	rctx := workflow.WithActivityOptions(dctx, workflow.ActivityOptions{
		ActivityID:          "remove",
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 10},
	})
	if err := workflow.ExecuteActivity(rctx, mirrorRemoveActivity, spec).Get(dctx, nil); err != nil {
		return err
	}
	if watchErr != nil && !temporal.IsCanceledError(watchErr) {
		return watchErr
	}
	return nil
}
