package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/ferryhq/ferry/internal/sandbox"
	"github.com/ferryhq/ferry/runbook"
)

// sandboxApps are the apps of ferry sandbox, changed through its control endpoint.
type sandboxApps struct{ a *Activities }

// call asks the sandbox apps' control endpoint: GET /apps/NAME, or POST /apps/NAME/verb.
func (s sandboxApps) call(ctx context.Context, app *runbook.App, method, verb string, body any) (map[string]any, error) {
	if s.a.Sandboxes == nil {
		return nil, badInput("app %s: this worker runs no sandbox apps", app.Name)
	}
	addr, err := s.a.Sandboxes.Address(sandbox.ControlName)
	if err != nil {
		return nil, badInput("app %s: %v", app.Name, err)
	}
	b, _ := json.Marshal(body)
	url := "http://" + addr + "/apps/" + app.Name
	if verb != "" {
		url += "/" + verb
	}
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(b))
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

func (s sandboxApps) scale(ctx context.Context, in runbook.StepInput, app *runbook.App, p runbook.AppsScaleParams) (runbook.StepResult, error) {
	n := 0
	if p.Replicas != nil {
		n = *p.Replicas
	} else if r := in.RestoreTo; r != nil && r.Replicas != nil {
		n = *r.Replicas
	}
	out, err := s.call(ctx, app, http.MethodPost, "scale", map[string]any{"replicas": n})
	if err != nil {
		return runbook.StepResult{}, err
	}
	prev, _ := out["previous"].(float64)
	was := int(prev)
	return runbook.StepResult{Outputs: map[string]any{"replicas": n, "previous": out["previous"]}, Undo: &runbook.Undo{Replicas: &was}}, nil
}

func (s sandboxApps) repoint(ctx context.Context, in runbook.StepInput, app *runbook.App, _ runbook.AppsRepointParams, bootstrap string, rename func(string) string) (runbook.StepResult, error) {
	to := sandbox.Connection{Bootstrap: bootstrap}
	if r := in.RestoreTo; r != nil {
		to = sandbox.Connection{}
		if r.Bootstrap != nil {
			to.Bootstrap = *r.Bootstrap
		}
		if r.Topic != nil {
			to.Topic = *r.Topic
		}
	} else if rename != nil {
		now, err := s.call(ctx, app, http.MethodGet, "", nil)
		if err != nil {
			return runbook.StepResult{}, err
		}
		topic, _ := now["topic"].(string)
		to.Topic = runbook.RenameTopicList(topic, rename)
	}
	out, err := s.call(ctx, app, http.MethodPost, "repoint", to)
	if err != nil {
		return runbook.StepResult{}, err
	}
	prev, _ := out["previous"].(string)
	prevTopic, _ := out["previousTopic"].(string)
	outputs := map[string]any{"previous": out["previous"]}
	undo := &runbook.Undo{Bootstrap: &prev}
	if to.Topic != "" {
		outputs["topics"] = to.Topic
		undo.Topic = &prevTopic
	}
	return runbook.StepResult{Outputs: outputs, Undo: undo}, nil
}

func (sandboxApps) wait(_ context.Context, app *runbook.App) (int, error) {
	return 0, badInput("apps.wait %s: sandbox apps change at once; apps.wait is for Kubernetes apps", app.Name)
}
