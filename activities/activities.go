// Package activities holds every side effect a runbook step has. One Activities value,
// built by the worker with its dependencies, implements each activity step type under its
// catalogue name and the mirror workflow's engine activities. Implementations are thin (decode
// the parameters, call an internal package, return outputs) and idempotent: Temporal may run
// an attempt again after a worker crash.
package activities

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"

	"github.com/ferryhq/ferry/internal/contract"
	"github.com/ferryhq/ferry/internal/kafka"
	"github.com/ferryhq/ferry/internal/kube"
	"github.com/ferryhq/ferry/internal/metrics"
	"github.com/ferryhq/ferry/runbook"
)

// Activities are the step implementations; the fields are what they need from the world.
type Activities struct {
	// Kube connects to a Kubernetes cluster by kubeconfig context ("": the current one, or
	// in-cluster); kube.Connect when nil.
	Kube func(contextName string) (*kube.Client, error)
	// Sandboxes finds ferry sandbox clusters and the sandbox apps' control endpoint by name;
	// nil where no sandbox runs (a cluster or app of kind sandbox then fails).
	Sandboxes interface {
		Address(name string) (string, error)
	}
	// Now is the clock drills measure the RPO by; time.Now when nil.
	Now func() time.Time
	// Metrics receives mirror progress, group positions and drill results for /metrics; nil
	// records nothing.
	Metrics *metrics.Metrics
}

// Step is the implementation of one step type.
type Step func(ctx context.Context, in runbook.StepInput) (runbook.StepResult, error)

// Steps returns every step implementation by step type, each file's family together.
func (a *Activities) Steps() map[string]Step {
	all := map[string]Step{}
	for _, family := range []map[string]Step{
		a.kafkaSteps(), a.topicsSteps(), a.mirrorSteps(), a.groupsSteps(), a.verifySteps(),
		a.aclsSteps(), a.drillSteps(), a.standbySteps(), a.usersSteps(), a.appsSteps(), a.kubeSteps(), a.secretsSteps(), a.notifySteps(),
	} {
		maps.Copy(all, family)
	}
	return all
}

// Register registers every step implementation, each checked against the catalogue, and the
// mirror workflow's engine activities on a worker. extra are step types of tests.
func (a *Activities) Register(w worker.ActivityRegistry, extra map[string]Step) {
	steps := a.Steps()
	for _, name := range slices.Sorted(maps.Keys(steps)) {
		w.RegisterActivityWithOptions(declared(name, steps[name]), activity.RegisterOptions{Name: name})
	}
	a.registerMirror(w)
	for name, fn := range extra {
		w.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
}

// declared holds a step to its catalogue entry, keeps it heartbeating (keepAlive) and
// classifies its failures (classify). An
// output the catalogue does not declare is a Ferry bug (runbooks could not read it, ferry
// steps would not document it), so the step fails saying so rather than returning it.
func declared(name string, fn Step) Step {
	t, ok := runbook.Lookup(name)
	if !ok || t.Control {
		panic(fmt.Sprintf("activities: step type %q is not an activity step of the catalogue", name))
	}
	return func(ctx context.Context, in runbook.StepInput) (runbook.StepResult, error) {
		ctx, stop := keepAlive(ctx)
		res, err := fn(ctx, in)
		stop()
		if err != nil {
			return res, classify(err)
		}
		for k := range res.Outputs {
			if !slices.ContainsFunc(t.Outputs, func(o runbook.Output) bool { return o.Name == k }) {
				return res, fmt.Errorf("ferry bug: step type %s returned output %q, which its catalogue entry does not declare", name, k)
			}
		}
		return res, err
	}
}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// dialer connects to the runbook's Kafka clusters with this worker's secrets and sandboxes.
func (a *Activities) dialer() kafka.Dialer {
	d := kafka.Dialer{Secrets: a.resolveSecret}
	if a.Sandboxes != nil {
		d.Sandbox = a.Sandboxes.Address
	}
	return d
}

// badInput fails a step at once: retrying cannot fix a wrong address, credential or parameter.
func badInput(format string, args ...any) error { return contract.BadInput.Fail(format, args...) }

func decode[T any](in runbook.StepInput) (T, error) {
	var p T
	if err := runbook.DecodeWith(in.With, &p); err != nil {
		return p, badInput("%s: parameters: %v", in.StepID, err)
	}
	return p, nil
}

// result is a step's outputs, without an undo record.
func result(outputs map[string]any) (runbook.StepResult, error) {
	return runbook.StepResult{Outputs: outputs}, nil
}

// list turns strings into an output list (never null).
func list(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// poll calls check every interval until it reports done, heartbeating its message.
func poll(ctx context.Context, interval time.Duration, check func() (bool, string, error)) (string, error) {
	if interval <= 0 {
		interval = time.Second
	}
	for {
		done, msg, err := check()
		if err != nil {
			return msg, err
		}
		progress(ctx, map[string]any{"status": msg})
		if done {
			return msg, nil
		}
		select {
		case <-ctx.Done():
			return msg, fmt.Errorf("%w (last seen: %s)", ctx.Err(), msg)
		case <-time.After(interval):
		}
	}
}
