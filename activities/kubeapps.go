package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/ferryhq/ferry/engine"
	"github.com/ferryhq/ferry/internal/kube"
)

// workloadsOf connects to an app's cluster and finds its workloads.
func workloadsOf(ctx context.Context, app *engine.App) (*kube.Client, []kube.Workload, error) {
	c, err := kubeClient(app.Context)
	if err != nil {
		return nil, nil, err
	}
	ws, err := c.Workloads(ctx, app.Kind, app.Namespace, app.Name, app.Selector)
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

// kubeScale scales every workload of an app and waits for the change to take effect.
// restore: true scales each workload back to the replicas recorded for it.
func kubeScale(ctx context.Context, in engine.StepInput, app *engine.App, p engine.AppsScaleParams) (engine.StepResult, error) {
	c, ws, err := workloadsOf(ctx, app)
	if err != nil {
		return engine.StepResult{}, err
	}
	recorded, _ := p.RestoreTo["workloads"].(map[string]any)
	undo := map[string]any{}
	var total, previous int
	for _, w := range ws {
		var n int32
		switch f, ok := recorded[w.String()].(float64); {
		case p.RestoreTo != nil && !ok:
			activity.GetLogger(ctx).Info("apps.scale restore: workload not scaled by Ferry in this run, left as is", "workload", w.String())
			continue
		case ok:
			n = int32(f)
		default:
			n = int32(*p.Replicas)
		}
		prev, err := c.Scale(ctx, w, n, in.RunID, in.StepID)
		if err != nil {
			return engine.StepResult{}, kubeErr(err)
		}
		undo[w.String()] = prev
		total += int(n)
		previous += int(prev)
		activity.RecordHeartbeat(ctx, map[string]any{"status": fmt.Sprintf("%s scaled %d -> %d", w, prev, n)})
	}
	if _, err := waitRollouts(ctx, c, ws); err != nil {
		return engine.StepResult{}, err
	}
	return engine.StepResult{Outputs: map[string]any{
		"replicas": total, "previous": previous, "undo": map[string]any{"workloads": undo},
	}}, nil
}

// kubeRepoint changes where every workload of an app finds Kafka and waits for the rollout.
func kubeRepoint(ctx context.Context, in engine.StepInput, app *engine.App, p engine.AppsRepointParams, bootstrap string) (engine.StepResult, error) {
	if app.Connection == nil {
		return engine.StepResult{}, badInput("apps.repoint %s: the app has no connection: section saying where it reads its Kafka connection (env, configMap or secretEnv)", p.App)
	}
	c, ws, err := workloadsOf(ctx, app)
	if err != nil {
		return engine.StepResult{}, err
	}
	recorded, _ := p.RestoreTo["workloads"].(map[string]any)
	undo := map[string]any{}
	previous := ""
	for _, w := range ws {
		if p.RestoreTo != nil {
			raw, ok := recorded[w.String()]
			if !ok {
				continue
			}
			var u kube.ConnectionUndo
			b, _ := json.Marshal(raw)
			if err := json.Unmarshal(b, &u); err != nil {
				return engine.StepResult{}, badInput("apps.repoint restore %s: %v", w, err)
			}
			if err := c.RestoreConnection(ctx, w, app.Connection, u); err != nil {
				return engine.StepResult{}, kubeErr(err)
			}
			continue
		}
		u, err := c.Repoint(ctx, w, app.Connection, kube.ConnectionTarget{Cluster: p.Cluster, Bootstrap: bootstrap, Secret: p.Secret}, in.RunID, in.StepID)
		if err != nil {
			return engine.StepResult{}, kubeErr(err)
		}
		undo[w.String()] = u
		if previous == "" {
			previous = u.Cluster
			for _, v := range u.Env {
				if v != nil && previous == "" {
					previous = *v
				}
			}
			if previous == "" && u.ConfigMap != nil {
				previous = *u.ConfigMap
			}
		}
	}
	if _, err := waitRollouts(ctx, c, ws); err != nil {
		return engine.StepResult{}, err
	}
	out := map[string]any{"previous": previous}
	if p.RestoreTo == nil {
		out["undo"] = map[string]any{"workloads": undo}
	}
	return engine.StepResult{Outputs: out}, nil
}
