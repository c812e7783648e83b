package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"go.temporal.io/sdk/activity"

	"github.com/ferryhq/ferry/internal/contract"
	"github.com/ferryhq/ferry/runbook"
)

func (a *Activities) notifySteps() map[string]Step {
	return map[string]Step{runbook.StepNoop: noop, runbook.StepNotify: a.notify}
}

func noop(context.Context, runbook.StepInput) (runbook.StepResult, error) {
	return runbook.StepResult{}, nil
}

// notify posts {"text", "runbook", "run", "step"} to a webhook. Posting twice (after a retry)
// sends the message twice: notifications are at-least-once, which chat tools tolerate.
func (a *Activities) notify(ctx context.Context, in runbook.StepInput) (runbook.StepResult, error) {
	var p runbook.NotifyParams
	if err := runbook.DecodeWith(in.With, &p); err != nil {
		return runbook.StepResult{}, contract.BadParameters.Fail("notify: %v", err)
	}
	if p.Webhook == nil {
		activity.GetLogger(ctx).Info(p.Message, "runbook", in.Runbook, "run", in.RunID, "step", in.StepID)
		return runbook.StepResult{Outputs: map[string]any{"delivered": false}}, nil
	}
	url, err := a.resolveSecret(ctx, p.Webhook)
	if err != nil {
		return runbook.StepResult{}, err
	}
	body, _ := json.Marshal(map[string]string{"text": p.Message, "runbook": in.Runbook, "run": in.RunID, "step": in.StepID})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		// The URL is a secret: name where it came from, not what it is.
		return runbook.StepResult{}, contract.BadParameters.Fail("notify: webhook from %s is not a valid URL", p.Webhook.Describe())
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return runbook.StepResult{}, fmt.Errorf("notify: webhook from %s unreachable", p.Webhook.Describe())
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode >= 300 {
		return runbook.StepResult{}, fmt.Errorf("notify: webhook from %s answered %s", p.Webhook.Describe(), resp.Status)
	}
	return runbook.StepResult{Outputs: map[string]any{"delivered": true}}, nil
}
