// Package worker assembles a Temporal worker that runs Ferry's workflows and activities.
package worker

import (
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/workflows"
)

// Options tune a worker.
type Options struct {
	// TaskQueue defaults to workflows.TaskQueue.
	TaskQueue string
	// Activities are the step implementations with their dependencies; the zero value (no
	// sandboxes, kube.Connect, the system clock) when nil.
	Activities *activities.Activities
	// ExtraSteps are additional step implementations (tests register their own step types).
	ExtraSteps map[string]activities.Step
}

// New returns a worker (not yet started) with every workflow and step implementation.
func New(c client.Client, opts Options) worker.Worker {
	if opts.TaskQueue == "" {
		opts.TaskQueue = workflows.TaskQueue
	}
	w := worker.New(c, opts.TaskQueue, worker.Options{
		// Long steps (the mirror, waits) learn of a stop or cancel through their heartbeat:
		// send heartbeats at least every second instead of the SDK's 80% of the timeout.
		MaxHeartbeatThrottleInterval:     time.Second,
		DefaultHeartbeatThrottleInterval: time.Second,
		// The interpreter never blocks; a slow workflow task on a loaded machine is not a deadlock.
		DeadlockDetectionTimeout: 10 * time.Second,
	})
	w.RegisterWorkflowWithOptions(workflows.Runbook, workflow.RegisterOptions{Name: workflows.RunbookWorkflowName})
	w.RegisterWorkflowWithOptions(workflows.Mirror, workflow.RegisterOptions{Name: workflows.MirrorWorkflowName})
	acts := opts.Activities
	if acts == nil {
		acts = &activities.Activities{}
	}
	acts.Register(w, opts.ExtraSteps)
	return w
}
