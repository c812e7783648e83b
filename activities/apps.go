package activities

import (
	"context"
	"strings"

	"github.com/ferryhq/ferry/runbook"
)

// appBackend changes apps of one kind: sandbox apps through the sandbox's control endpoint,
// Kubernetes workloads through the apiserver. Both are idempotent: asking for the state an
// app is in changes nothing.
type appBackend interface {
	// scale sets the replicas, or puts back in.RestoreTo, and reports what it found.
	scale(ctx context.Context, in runbook.StepInput, app *runbook.App, p runbook.AppsScaleParams) (runbook.StepResult, error)
	// repoint points the app at bootstrap (unchanged when empty) and renames its topics
	// (when rename is not nil), or puts back in.RestoreTo.
	repoint(ctx context.Context, in runbook.StepInput, app *runbook.App, p runbook.AppsRepointParams, bootstrap string, rename func(string) string) (runbook.StepResult, error)
	// wait waits until the app runs its latest version, and returns its ready replicas.
	wait(ctx context.Context, app *runbook.App) (int, error)
}

func (a *Activities) appBackend(app *runbook.App) appBackend {
	if app.Kind == runbook.AppSandbox {
		return sandboxApps{a}
	}
	return kubeApps{a}
}

func (a *Activities) appsSteps() map[string]Step {
	return map[string]Step{runbook.StepAppsScale: a.appsScale, runbook.StepAppsRepoint: a.appsRepoint, runbook.StepAppsWait: a.appsWait}
}

func appOf(in runbook.StepInput, name string) (*runbook.App, error) {
	app := in.Apps[name]
	if app == nil {
		return nil, badInput("app %q is not defined in the runbook", name)
	}
	return app, nil
}

func (a *Activities) appsScale(ctx context.Context, in runbook.StepInput) (runbook.StepResult, error) {
	p, err := decode[runbook.AppsScaleParams](in)
	if err != nil {
		return runbook.StepResult{}, err
	}
	if p.Replicas == nil && in.RestoreTo == nil {
		return runbook.StepResult{}, badInput("apps.scale %s: set replicas, or restore: true after an earlier apps.scale", p.App)
	}
	app, err := appOf(in, p.App)
	if err != nil {
		return runbook.StepResult{}, err
	}
	return a.appBackend(app).scale(ctx, in, app, p)
}

func (a *Activities) appsRepoint(ctx context.Context, in runbook.StepInput) (runbook.StepResult, error) {
	p, err := decode[runbook.AppsRepointParams](in)
	if err != nil {
		return runbook.StepResult{}, err
	}
	rename, err := topicRename(p, in.Replication)
	if err != nil {
		return runbook.StepResult{}, err
	}
	if p.Cluster == "" && rename == nil && in.RestoreTo == nil {
		return runbook.StepResult{}, badInput("apps.repoint %s: set cluster or topics, or restore: true after an earlier apps.repoint", p.App)
	}
	app, err := appOf(in, p.App)
	if err != nil {
		return runbook.StepResult{}, err
	}
	bootstrap := p.Bootstrap
	if bootstrap == "" && p.Cluster != "" {
		seeds, err := a.dialer().Seeds(p.Cluster, in.Clusters[p.Cluster])
		if err != nil {
			return runbook.StepResult{}, badInput("%v", err)
		}
		bootstrap = strings.Join(seeds, ",")
	}
	return a.appBackend(app).repoint(ctx, in, app, p, bootstrap, rename)
}

// topicRename is how apps.repoint renames the topics an app names: its topics map first,
// then topicsAs through the replication's naming; nil when it renames none.
func topicRename(p runbook.AppsRepointParams, rep *runbook.Replication) (func(string) string, error) {
	if len(p.Topics) == 0 && p.TopicsAs == "" {
		return nil, nil
	}
	if p.TopicsAs != "" && rep == nil {
		return nil, badInput("apps.repoint %s: topicsAs names topics as the replication does, and the runbook has no replication: section", p.App)
	}
	return func(t string) string {
		if n, ok := p.Topics[t]; ok {
			return n
		}
		switch p.TopicsAs {
		case runbook.TopicsAsTarget:
			if rep.Replicates(t) {
				return rep.TargetTopic(t)
			}
		case runbook.TopicsAsOrigin:
			if o, ok := rep.OriginTopic(t); ok {
				return o
			}
		}
		return t
	}, nil
}

func (a *Activities) appsWait(ctx context.Context, in runbook.StepInput) (runbook.StepResult, error) {
	p, err := decode[runbook.AppsWaitParams](in)
	if err != nil {
		return runbook.StepResult{}, err
	}
	app, err := appOf(in, p.App)
	if err != nil {
		return runbook.StepResult{}, err
	}
	ready, err := a.appBackend(app).wait(ctx, app)
	if err != nil {
		return runbook.StepResult{}, err
	}
	return result(map[string]any{"ready": ready})
}
