package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/ferryhq/ferry/internal/kube"
	"github.com/ferryhq/ferry/runbook"
)

// kubeApps are Deployments and StatefulSets, changed through the apiserver.
type kubeApps struct{ a *Activities }

// workloads connects to an app's cluster and finds its workloads.
func (k kubeApps) workloads(ctx context.Context, app *runbook.App) (*kube.Client, []kube.Workload, error) {
	c, err := k.a.kubeClient(app.Context)
	if err != nil {
		return nil, nil, err
	}
	ws, err := c.Workloads(ctx, string(app.Kind), app.Namespace, app.Name, app.Selector)
	if err != nil {
		return nil, nil, kubeErr(err)
	}
	return c, ws, nil
}

// waitRollouts waits until every workload runs its latest template with all replicas ready,
// and returns the ready replicas.
func waitRollouts(ctx context.Context, c *kube.Client, ws []kube.Workload) (int, error) {
	ready := 0
	_, err := poll(ctx, 500*time.Millisecond, func() (bool, string, error) {
		ready = 0
		var waiting []string
		for _, w := range ws {
			r, err := c.RolloutStatus(ctx, w)
			if err != nil {
				return false, "", kubeErr(err)
			}
			ready += int(r.Ready)
			if !r.Done {
				waiting = append(waiting, w.String()+": "+r.Message)
			}
		}
		if len(waiting) > 0 {
			return false, strings.Join(waiting, "; "), nil
		}
		return true, fmt.Sprintf("%d workloads rolled out", len(ws)), nil
	})
	return ready, err
}

func (k kubeApps) wait(ctx context.Context, app *runbook.App) (int, error) {
	c, ws, err := k.workloads(ctx, app)
	if err != nil {
		return 0, err
	}
	return waitRollouts(ctx, c, ws)
}

// scale scales every workload of an app and waits for the change to take effect. restore:
// true scales each workload back to the replicas recorded for it.
func (k kubeApps) scale(ctx context.Context, in runbook.StepInput, app *runbook.App, p runbook.AppsScaleParams) (runbook.StepResult, error) {
	c, ws, err := k.workloads(ctx, app)
	if err != nil {
		return runbook.StepResult{}, err
	}
	undo := &runbook.Undo{Workloads: map[string]json.RawMessage{}}
	var total, previous int
	for _, w := range ws {
		n := int32(0)
		if in.RestoreTo != nil {
			if json.Unmarshal(in.RestoreTo.Workloads[w.String()], &n) != nil {
				activity.GetLogger(ctx).Info("apps.scale restore: workload not scaled by Ferry in this run, left as is", "workload", w.String())
				continue
			}
		} else {
			n = int32(*p.Replicas)
		}
		prev, err := c.Scale(ctx, w, n, in.RunID, in.StepID)
		if err != nil {
			return runbook.StepResult{}, kubeErr(err)
		}
		undo.Workloads[w.String()], _ = json.Marshal(prev)
		total += int(n)
		previous += int(prev)
		progress(ctx, map[string]any{"status": fmt.Sprintf("%s scaled %d -> %d", w, prev, n)})
	}
	if _, err := waitRollouts(ctx, c, ws); err != nil {
		return runbook.StepResult{}, err
	}
	return runbook.StepResult{Outputs: map[string]any{"replicas": total, "previous": previous}, Undo: undo}, nil
}

// repoint changes where every workload of an app finds Kafka and waits for the rollout;
// restore: true puts back what each workload used before.
func (k kubeApps) repoint(ctx context.Context, in runbook.StepInput, app *runbook.App, p runbook.AppsRepointParams, bootstrap string, rename func(string) string) (runbook.StepResult, error) {
	if app.Connection == nil {
		return runbook.StepResult{}, badInput("apps.repoint %s: the app has no connection: section saying where it reads its Kafka connection (env, configMap or secretEnv)", p.App)
	}
	if rename != nil && app.Connection.TopicsEnv == "" && app.Connection.TopicsConfigMap == nil {
		return runbook.StepResult{}, badInput("apps.repoint %s: topics to rename, and the app's connection: names no topicsEnv or topicsConfigMap saying where it names them", p.App)
	}
	c, ws, err := k.workloads(ctx, app)
	if err != nil {
		return runbook.StepResult{}, err
	}
	undo := &runbook.Undo{Workloads: map[string]json.RawMessage{}}
	previous := ""
	to := kube.ConnectionTarget{Cluster: p.Cluster, Bootstrap: bootstrap, Secret: p.Secret, Secrets: p.Secrets, Topics: rename}
	for _, w := range ws {
		if in.RestoreTo != nil {
			if err := restoreConnection(ctx, c, w, app, in.RestoreTo); err != nil {
				return runbook.StepResult{}, err
			}
			continue
		}
		u, err := c.Repoint(ctx, w, app.Connection, to, in.RunID, in.StepID)
		if err != nil {
			return runbook.StepResult{}, kubeErr(err)
		}
		undo.Workloads[w.String()], _ = json.Marshal(u)
		if previous == "" {
			previous = u.Previous()
		}
	}
	if _, err := waitRollouts(ctx, c, ws); err != nil {
		return runbook.StepResult{}, err
	}
	if in.RestoreTo != nil {
		undo = nil
	}
	return runbook.StepResult{Outputs: map[string]any{"previous": previous}, Undo: undo}, nil
}

// restoreConnection puts back a workload's recorded connection; one Ferry did not repoint
// in this run is left as is.
func restoreConnection(ctx context.Context, c *kube.Client, w kube.Workload, app *runbook.App, to *runbook.Undo) error {
	raw, ok := to.Workloads[w.String()]
	if !ok {
		return nil
	}
	var u kube.ConnectionUndo
	if err := json.Unmarshal(raw, &u); err != nil {
		return badInput("apps.repoint restore %s: %v", w, err)
	}
	return kubeErr(c.RestoreConnection(ctx, w, app.Connection, u))
}
