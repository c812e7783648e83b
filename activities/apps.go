package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"go.temporal.io/sdk/activity"

	"github.com/ferryhq/ferry/engine"
	"github.com/ferryhq/ferry/internal/kafka"
	"github.com/ferryhq/ferry/internal/mirror"
)

func init() {
	register(engine.StepAppsScale, appsScale)
	register(engine.StepAppsRepoint, appsRepoint)
	register(engine.StepGroupsWait, groupsWait)
}

// sandboxCall posts to the sandbox apps' control endpoint. Scaling and repointing are
// idempotent there: asking for the state an app is in changes nothing.
func sandboxCall(ctx context.Context, app *engine.App, verb string, body any) (map[string]any, error) {
	addr, err := kafka.SandboxControl()
	if err != nil {
		return nil, badInput("app %s: %v", app.Name, err)
	}
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/apps/"+app.Name+"/"+verb, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("app %s: sandbox control: %w", app.Name, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return nil, badInput("app %s: %s", app.Name, strings.TrimSpace(string(data)))
	}
	var out map[string]any
	return out, json.Unmarshal(data, &out)
}

func appOf(in engine.StepInput, name string) (*engine.App, error) {
	app := in.Apps[name]
	if app == nil {
		return nil, badInput("app %q is not defined in the runbook", name)
	}
	return app, nil
}

func appsScale(ctx context.Context, in engine.StepInput) (engine.StepResult, error) {
	p, err := decode[engine.AppsScaleParams](in)
	if err != nil {
		return engine.StepResult{}, err
	}
	if p.Replicas == nil && p.RestoreTo == nil {
		return engine.StepResult{}, badInput("apps.scale %s: set replicas, or restore: true after an earlier apps.scale", p.App)
	}
	app, err := appOf(in, p.App)
	if err != nil {
		return engine.StepResult{}, err
	}
	if app.Kind != "sandbox" {
		return kubeScale(ctx, in, app, p)
	}
	n := 0
	if p.Replicas != nil {
		n = *p.Replicas
	} else if f, ok := p.RestoreTo["replicas"].(float64); ok {
		n = int(f)
	}
	out, err := sandboxCall(ctx, app, "scale", map[string]any{"replicas": n})
	if err != nil {
		return engine.StepResult{}, err
	}
	return engine.StepResult{Outputs: map[string]any{"replicas": n, "previous": out["previous"], "undo": map[string]any{"replicas": out["previous"]}}}, nil
}

func appsRepoint(ctx context.Context, in engine.StepInput) (engine.StepResult, error) {
	p, err := decode[engine.AppsRepointParams](in)
	if err != nil {
		return engine.StepResult{}, err
	}
	if p.Cluster == "" && p.RestoreTo == nil {
		return engine.StepResult{}, badInput("apps.repoint %s: set cluster, or restore: true after an earlier apps.repoint", p.App)
	}
	app, err := appOf(in, p.App)
	if err != nil {
		return engine.StepResult{}, err
	}
	bootstrap := p.Bootstrap
	if bootstrap == "" && p.Cluster != "" {
		seeds, err := kafka.Seeds(p.Cluster, in.Clusters[p.Cluster])
		if err != nil {
			return engine.StepResult{}, badInput("%v", err)
		}
		bootstrap = strings.Join(seeds, ",")
	}
	if app.Kind != "sandbox" {
		return kubeRepoint(ctx, in, app, p, bootstrap)
	}
	if p.RestoreTo != nil {
		bootstrap, _ = p.RestoreTo["bootstrap"].(string)
	}
	out, err := sandboxCall(ctx, app, "repoint", map[string]any{"bootstrap": bootstrap})
	if err != nil {
		return engine.StepResult{}, err
	}
	return engine.StepResult{Outputs: map[string]any{"previous": out["previous"], "undo": map[string]any{"bootstrap": out["previous"]}}}, nil
}

func appsWait(ctx context.Context, in engine.StepInput) (engine.StepResult, error) {
	p, err := decode[engine.AppsWaitParams](in)
	if err != nil {
		return engine.StepResult{}, err
	}
	app, err := appOf(in, p.App)
	if err != nil {
		return engine.StepResult{}, err
	}
	if app.Kind == "sandbox" {
		return engine.StepResult{}, badInput("apps.wait %s: sandbox apps change at once; apps.wait is for Kubernetes apps", p.App)
	}
	c, ws, err := workloadsOf(ctx, app)
	if err != nil {
		return engine.StepResult{}, err
	}
	ready, err := waitRollouts(ctx, c, ws)
	if err != nil {
		return engine.StepResult{}, err
	}
	return engine.StepResult{Outputs: map[string]any{"ready": ready}}, nil
}

// groupsWait waits until groups have read everything but maxLag committed data records.
func groupsWait(ctx context.Context, in engine.StepInput) (engine.StepResult, error) {
	p, err := decode[engine.GroupsWaitParams](in)
	if err != nil {
		return engine.StepResult{}, err
	}
	name := p.Cluster
	if name == "" && in.Replication != nil {
		name = in.Replication.Origin
	}
	opts, adm, closeFn, err := conn(ctx, in, name)
	if err != nil {
		return engine.StepResult{}, err
	}
	defer closeFn()
	interval := p.Interval.D()
	if interval <= 0 {
		interval = time.Second
	}
	for {
		var total int64
		for _, g := range p.Groups {
			committed, err := adm.FetchOffsets(ctx, g)
			if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
				return engine.StepResult{}, fmt.Errorf("group %s: %w", g, err)
			}
			topics := committed.Offsets().TopicsSet().Topics()
			if len(topics) == 0 {
				continue
			}
			ends, err := adm.ListCommittedOffsets(ctx, topics...)
			if err != nil {
				return engine.StepResult{}, fmt.Errorf("group %s: end offsets: %w", g, err)
			}
			for _, o := range committed.Offsets().Sorted() {
				e, _ := ends.Lookup(o.Topic, o.Partition)
				l := max(e.Offset-o.At, 0)
				if l > 0 && l <= 1000 {
					has, err := mirror.HasData(ctx, opts, mirror.Partition{Topic: o.Topic, Partition: o.Partition}, o.At, e.Offset)
					if err != nil {
						return engine.StepResult{}, err
					}
					if !has {
						l = 0 // only transaction markers left: fully consumed
					}
				}
				total += l
			}
		}
		activity.RecordHeartbeat(ctx, map[string]any{"lag": total, "maxLag": p.MaxLag})
		if total <= int64(p.MaxLag) {
			return engine.StepResult{Outputs: map[string]any{"lag": total}}, nil
		}
		select {
		case <-ctx.Done():
			return engine.StepResult{}, ctx.Err()
		case <-time.After(interval):
		}
	}
}
