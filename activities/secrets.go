package activities

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/ferryhq/ferry/internal/contract"
	"github.com/ferryhq/ferry/internal/kube"
	"github.com/ferryhq/ferry/runbook"
)

func (a *Activities) secretsSteps() map[string]Step {
	return map[string]Step{runbook.StepSecretsCopy: a.secretsCopy}
}

// resolveSecret reads a secret on the worker. Errors name the reference, never the value.
func (a *Activities) resolveSecret(ctx context.Context, ref *runbook.SecretRef) (string, error) {
	switch {
	case ref == nil:
		return "", nil
	case ref.Value != "":
		return ref.Value, nil
	case ref.Env != "":
		v, ok := os.LookupEnv(ref.Env)
		if !ok {
			return "", contract.SecretMissing.Fail("secret env:%s is not set on the worker", ref.Env)
		}
		return v, nil
	case ref.File != "":
		b, err := os.ReadFile(ref.File)
		if err != nil {
			return "", contract.SecretMissing.Fail("secret file:%s: %v", ref.File, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	case ref.Secret != nil:
		k := ref.Secret
		c, err := a.kubeClient(k.Context)
		if err != nil {
			return "", contract.SecretMissing.Fail("secret %s: %v", ref.Describe(), err)
		}
		v, err := c.SecretValue(ctx, k.Namespace, k.Name, k.Key)
		if err != nil {
			return "", kubeErr(fmt.Errorf("secret %s: %w", ref.Describe(), err))
		}
		return v, nil
	}
	return "", contract.SecretMissing.Fail("empty secret reference")
}

func (a *Activities) secretsCopy(ctx context.Context, in runbook.StepInput) (runbook.StepResult, error) {
	p, err := decode[runbook.SecretsCopyParams](in)
	if err != nil {
		return runbook.StepResult{}, err
	}
	from, err := a.kubeClient(p.From.Context)
	if err != nil {
		return runbook.StepResult{}, err
	}
	to, err := a.kubeClient(p.To.Context)
	if err != nil {
		return runbook.StepResult{}, err
	}
	keys, err := kube.CopySecret(ctx,
		kube.SecretPlace{Client: from, Namespace: p.From.Namespace, Name: p.From.Name},
		kube.SecretPlace{Client: to, Namespace: p.To.Namespace, Name: p.To.Name}, p.Keys, p.Labels)
	if err != nil {
		return runbook.StepResult{}, kubeErr(err)
	}
	return runbook.StepResult{Outputs: map[string]any{"keys": keys}}, nil
}
