package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/engine"
)

func init() {
	register(engine.StepNoop, noop)
	register(engine.StepNotify, notify)
}

func noop(context.Context, engine.StepInput) (engine.StepResult, error) {
	return engine.StepResult{}, nil
}

// notify posts {"text", "runbook", "run", "step"} to a webhook. Posting twice (after a retry)
// sends the message twice: notifications are at-least-once, which chat tools tolerate.
func notify(ctx context.Context, in engine.StepInput) (engine.StepResult, error) {
	var p engine.NotifyParams
	if err := engine.DecodeWith(in.With, &p); err != nil {
		return engine.StepResult{}, temporal.NewNonRetryableApplicationError("notify: "+err.Error(), "BadParameters", nil)
	}
	if p.Webhook == nil {
		activity.GetLogger(ctx).Info(p.Message, "runbook", in.Runbook, "run", in.RunID, "step", in.StepID)
		return engine.StepResult{Outputs: map[string]any{"delivered": false}}, nil
	}
	url, err := ResolveSecret(ctx, p.Webhook)
	if err != nil {
		return engine.StepResult{}, err
	}
	body, _ := json.Marshal(map[string]string{"text": p.Message, "runbook": in.Runbook, "run": in.RunID, "step": in.StepID})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		// The URL is a secret: name where it came from, not what it is.
		return engine.StepResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("notify: webhook from %s is not a valid URL", p.Webhook.Describe()), "BadParameters", nil)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return engine.StepResult{}, fmt.Errorf("notify: webhook from %s unreachable", p.Webhook.Describe())
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode >= 300 {
		return engine.StepResult{}, fmt.Errorf("notify: webhook from %s answered %s", p.Webhook.Describe(), resp.Status)
	}
	return engine.StepResult{Outputs: map[string]any{"delivered": true}}, nil
}
