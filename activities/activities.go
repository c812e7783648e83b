// Package activities holds every side effect a runbook step has. Each step type that is not
// a control step registers an implementation here under its catalogue name; the worker
// registers them all as Temporal activities. Implementations are idempotent: Temporal may
// run an attempt again after a worker crash.
package activities

import (
	"context"
	"fmt"
	"sort"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"

	"github.com/ferryhq/ferry/engine"
)

// Step is the implementation of one step type.
type Step func(ctx context.Context, in engine.StepInput) (engine.StepResult, error)

var registry = map[string]Step{}

// register adds an implementation; the name must be in the engine's catalogue.
func register(name string, fn Step) {
	if _, ok := engine.Lookup(name); !ok {
		panic(fmt.Sprintf("activities: step type %q is not in the catalogue", name))
	}
	if _, dup := registry[name]; dup {
		panic(fmt.Sprintf("activities: step type %q implemented twice", name))
	}
	registry[name] = fn
}

// Implemented lists the step types with an implementation, sorted.
func Implemented() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Register registers every step implementation on a worker. Extra implementations (tests
// add their own step types) are registered after the built-in ones.
func Register(w worker.ActivityRegistry, extra map[string]Step) {
	for _, name := range Implemented() {
		w.RegisterActivityWithOptions(registry[name], activity.RegisterOptions{Name: name})
	}
	w.RegisterActivityWithOptions(MirrorRun, activity.RegisterOptions{Name: MirrorRunActivity})
	w.RegisterActivityWithOptions(MirrorDeploy, activity.RegisterOptions{Name: MirrorDeployActivity})
	w.RegisterActivityWithOptions(MirrorWatch, activity.RegisterOptions{Name: MirrorWatchActivity})
	w.RegisterActivityWithOptions(MirrorRemove, activity.RegisterOptions{Name: MirrorRemoveActivity})
	for name, fn := range extra {
		w.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
}
