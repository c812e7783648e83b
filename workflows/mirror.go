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
)

// Mirror supervises the builtin engine's copy: one long activity that heartbeats and is
// retried without limit after a crash (it resumes from the target). A stop signal or a
// cancellation cancels the activity, which flushes what it copied before it returns.
// Heartbeats and server-side retries add no history events, so the history stays short.
func Mirror(ctx workflow.Context, spec engine.MirrorSpec) error {
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
