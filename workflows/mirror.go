package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/internal/contract"
	"github.com/ferryhq/ferry/runbook"
)

// Names of the mirror workflow and what it listens to.
const (
	MirrorWorkflowName = "ferry.Mirror"
	SignalMirrorStop   = "stop"
)

// copyHeartbeatTimeout is how long the builtin copy may go without a heartbeat before Temporal
// starts it again on another worker. The copy heartbeats every second, so a lost worker
// costs about this long, not the minute it used to.
const copyHeartbeatTimeout = 10 * time.Second

// Mirror supervises the builtin engine's copy: one long activity that heartbeats and is
// retried without limit after a crash (it resumes from the target). A stop signal or a
// cancellation cancels the activity, which flushes what it copied before it returns.
// Heartbeats and server-side retries add no history events, so the history stays short.
func Mirror(ctx workflow.Context, spec runbook.MirrorSpec) error {
	if spec.Replication.Engine.Managed() {
		return managedMirror(ctx, spec)
	}
	if spec.Shards > 1 {
		return shardedMirror(ctx, spec)
	}
	stopped, err := supervise(ctx, "copy", contract.ActivityMirrorRun, spec, copyHeartbeatTimeout, contract.BadInput)
	if stopped || temporal.IsCanceledError(err) {
		return nil
	}
	return err
}

// shardedMirror supervises one copy activity per shard (copy-0, copy-1, ...), each owning the
// partitions mirror.ShardOf gives it and retried without limit like the single copy, on
// whichever worker takes it. A stop signal or the run's end cancels them all; a shard failing
// for good (bad input) stops the others and fails the mirror.
func shardedMirror(ctx workflow.Context, spec runbook.MirrorSpec) error {
	actx, cancel := workflow.WithCancel(ctx)
	copies := make([]workflow.Future, spec.Shards)
	for i := range copies {
		shard := spec
		shard.Shard = i
		copies[i] = workflow.ExecuteActivity(copyOptions(actx, fmt.Sprintf("copy-%d", i), copyHeartbeatTimeout, contract.BadInput),
			contract.ActivityMirrorRun, shard)
	}
	stopped := false
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(workflow.GetSignalChannel(ctx, SignalMirrorStop), func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, nil)
		stopped = true
	})
	for _, f := range copies {
		sel.AddFuture(f, func(workflow.Future) {})
	}
	sel.Select(ctx)
	cancel() // whichever ended first, the shards end together
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	var failed error
	for _, f := range copies {
		if err := f.Get(dctx, nil); err != nil && failed == nil && !temporal.IsCanceledError(err) {
			failed = err
		}
	}
	if stopped {
		return nil
	}
	return failed
}

// managedMirror supervises MirrorMaker 2 run by an operator or a Connect cluster (deployed by
// mirror.start): it watches it until a stop signal or the end of the run, then removes it.
func managedMirror(ctx workflow.Context, spec runbook.MirrorSpec) error {
	_, watchErr := supervise(ctx, "watch", contract.ActivityMirrorWatch, spec, time.Minute, contract.BadInput, contract.KubernetesForbidden)
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	rctx := workflow.WithActivityOptions(dctx, workflow.ActivityOptions{
		ActivityID:          "remove",
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 10},
	})
	if err := workflow.ExecuteActivity(rctx, contract.ActivityMirrorRemove, spec).Get(dctx, nil); err != nil {
		return err
	}
	if watchErr != nil && !temporal.IsCanceledError(watchErr) {
		return watchErr
	}
	return nil
}

// supervise runs one long, heartbeating activity, retried without limit after a crash, until it
// ends, a stop signal cancels it, or the run is cancelled. It returns whether a stop was asked
// and the activity's error, waited for in a disconnected context so the activity can flush.
func supervise(ctx workflow.Context, id, activity string, spec runbook.MirrorSpec, heartbeat time.Duration, nonRetryable ...contract.Failure) (stopped bool, err error) {
	actx, cancel := workflow.WithCancel(ctx)
	running := workflow.ExecuteActivity(copyOptions(actx, id, heartbeat, nonRetryable...), activity, spec)
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(workflow.GetSignalChannel(ctx, SignalMirrorStop), func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, nil)
		stopped = true
		cancel()
	})
	sel.AddFuture(running, func(workflow.Future) {})
	sel.Select(ctx)
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	return stopped, running.Get(dctx, nil)
}

// copyOptions are a supervised activity's: no end but cancellation, a short heartbeat timeout
// (a lost worker is noticed in seconds), retries without limit except for nonRetryable.
func copyOptions(ctx workflow.Context, id string, heartbeat time.Duration, nonRetryable ...contract.Failure) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		ActivityID:          id,
		StartToCloseTimeout: 365 * 24 * time.Hour,
		HeartbeatTimeout:    heartbeat,
		WaitForCancellation: true,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second,
			NonRetryableErrorTypes: contract.Types(nonRetryable...),
		},
	})
}
