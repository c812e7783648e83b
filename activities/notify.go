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
	if err := a.post(ctx, in, p.Webhook, p.Message); err != nil {
		return runbook.StepResult{}, err // unwrapped: a bad URL must stay a permanent failure
	}
	return runbook.StepResult{Outputs: map[string]any{"delivered": true}}, nil
}

// post sends text to the webhook read from ref as {"text", "runbook", "run", "step"}: Slack
// and compatible chat tools show the text. Errors name where the URL came from, never the
// URL (it often holds a token).
func (a *Activities) post(ctx context.Context, in runbook.StepInput, ref *runbook.SecretRef, text string) error {
	url, err := a.resolveSecret(ctx, ref)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]string{"text": text, "runbook": in.Runbook, "run": in.RunID, "step": in.StepID})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return contract.BadParameters.Fail("webhook from %s is not a valid URL", ref.Describe())
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("webhook from %s unreachable", ref.Describe())
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("webhook from %s answered %s", ref.Describe(), resp.Status)
	}
	return nil
}
