package activities

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ferryhq/ferry/engine"
	"github.com/ferryhq/ferry/internal/kube"
)

func init() {
	register(engine.StepKubeApply, kubeApply)
	register(engine.StepKubeDelete, kubeDelete)
	register(engine.StepKubeWait, kubeWait)
	register(engine.StepSecretsCopy, secretsCopy)
	register(engine.StepAppsWait, appsWait)
}

// kubeErr marks errors that retrying cannot fix (RBAC denials, invalid objects, absent
// objects or kinds) as non-retryable; the rest (timeouts, conflicts left over) may be retried.
func kubeErr(err error) error {
	if err == nil {
		return nil
	}
	if kube.Permanent(err) {
		typ := "Kubernetes"
		if kube.Denied(err) {
			typ = "KubernetesForbidden"
		}
		return temporal.NewNonRetryableApplicationError(err.Error(), typ, nil)
	}
	return err
}

func kubeClient(contextName string) (*kube.Client, error) {
	c, err := kube.Connect(contextName)
	if err != nil {
		return nil, badInput("%v", err)
	}
	return c, nil
}

// poll calls check every interval until it reports done, heartbeating its message.
func poll(ctx context.Context, interval time.Duration, check func() (bool, string, error)) (string, error) {
	if interval <= 0 {
		interval = time.Second
	}
	for {
		done, msg, err := check()
		if err != nil {
			return msg, err
		}
		activity.RecordHeartbeat(ctx, map[string]any{"status": msg})
		if done {
			return msg, nil
		}
		select {
		case <-ctx.Done():
			return msg, fmt.Errorf("%w (last seen: %s)", ctx.Err(), msg)
		case <-time.After(interval):
		}
	}
}

// objectsOf collects the objects of a manifest and an inline list.
func objectsOf(manifest string, inline []any) ([]*unstructured.Unstructured, error) {
	objs, err := kube.Decode(manifest)
	if err != nil {
		return nil, badInput("%v", err)
	}
	for i, o := range inline {
		m, ok := o.(map[string]any)
		if !ok {
			return nil, badInput("objects[%d]: an object (a mapping) is expected", i)
		}
		u, err := kube.Object(m)
		if err != nil {
			return nil, badInput("objects[%d]: %v", i, err)
		}
		objs = append(objs, u)
	}
	if len(objs) == 0 {
		return nil, badInput("nothing to do: set manifest or objects")
	}
	return objs, nil
}

func kubeApply(ctx context.Context, in engine.StepInput) (engine.StepResult, error) {
	p, err := decode[engine.KubeApplyParams](in)
	if err != nil {
		return engine.StepResult{}, err
	}
	objs, err := objectsOf(p.Manifest, p.Objects)
	if err != nil {
		return engine.StepResult{}, err
	}
	c, err := kubeClient(p.Context)
	if err != nil {
		return engine.StepResult{}, err
	}
	var applied []string
	for _, o := range objs {
		if o.GetNamespace() == "" && p.Namespace != "" {
			o.SetNamespace(p.Namespace)
		}
		out, err := c.Apply(ctx, o, p.Force)
		if err != nil {
			return engine.StepResult{}, kubeErr(err)
		}
		applied = append(applied, kube.RefOf(out).String())
	}
	return engine.StepResult{Outputs: map[string]any{"applied": applied}}, nil
}

func kubeDelete(ctx context.Context, in engine.StepInput) (engine.StepResult, error) {
	p, err := decode[engine.KubeDeleteParams](in)
	if err != nil {
		return engine.StepResult{}, err
	}
	var refs []kube.Ref
	for _, o := range p.Objects {
		refs = append(refs, kube.Ref{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name})
	}
	if p.Manifest != "" {
		objs, err := objectsOf(p.Manifest, nil)
		if err != nil {
			return engine.StepResult{}, err
		}
		for _, o := range objs {
			refs = append(refs, kube.RefOf(o))
		}
	}
	if len(refs) == 0 {
		return engine.StepResult{}, badInput("nothing to delete: set objects or manifest")
	}
	c, err := kubeClient(p.Context)
	if err != nil {
		return engine.StepResult{}, err
	}
	deleted := []string{}
	for _, r := range refs {
		existed, err := c.Delete(ctx, r)
		if err != nil {
			return engine.StepResult{}, kubeErr(err)
		}
		if existed {
			deleted = append(deleted, r.String())
		}
	}
	if p.Wait == nil || *p.Wait {
		for _, r := range refs {
			if _, err := poll(ctx, time.Second, func() (bool, string, error) {
				u, err := c.Get(ctx, r)
				if err != nil {
					return false, "", kubeErr(err)
				}
				if u != nil {
					return false, r.String() + " is being deleted (finalizers: " + fmt.Sprint(u.GetFinalizers()) + ")", nil
				}
				return true, r.String() + " gone", nil
			}); err != nil {
				return engine.StepResult{}, err
			}
		}
	}
	return engine.StepResult{Outputs: map[string]any{"deleted": deleted}}, nil
}

func kubeWait(ctx context.Context, in engine.StepInput) (engine.StepResult, error) {
	p, err := decode[engine.KubeWaitParams](in)
	if err != nil {
		return engine.StepResult{}, err
	}
	if p.JSONPath != "" && p.Condition != "" {
		return engine.StepResult{}, badInput("set condition or jsonPath, not both")
	}
	cond := p.Condition
	if cond == "" && p.JSONPath == "" {
		cond = "Ready"
	}
	c, err := kubeClient(p.Context)
	if err != nil {
		return engine.StepResult{}, err
	}
	o := p.Object
	ref := kube.Ref{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
	var value string
	_, err = poll(ctx, p.Interval.D(), func() (bool, string, error) {
		u, err := c.Get(ctx, ref)
		if err != nil {
			return false, "", kubeErr(err)
		}
		if u == nil {
			return false, ref.String() + " does not exist yet", nil
		}
		if cond != "" {
			status, msg := kube.Condition(u, cond)
			value = status
			return status == "True", fmt.Sprintf("%s %s=%s: %s", ref, cond, orDash(status), msg), nil
		}
		v, err := kube.JSONPath(u, p.JSONPath)
		if err != nil {
			return false, "", badInput("%v", err)
		}
		value = v
		return v == p.Value, fmt.Sprintf("%s %s = %q (want %q)", ref, p.JSONPath, v, p.Value), nil
	})
	if err != nil {
		return engine.StepResult{}, err
	}
	return engine.StepResult{Outputs: map[string]any{"value": value}}, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func secretsCopy(ctx context.Context, in engine.StepInput) (engine.StepResult, error) {
	p, err := decode[engine.SecretsCopyParams](in)
	if err != nil {
		return engine.StepResult{}, err
	}
	from, err := kubeClient(p.From.Context)
	if err != nil {
		return engine.StepResult{}, err
	}
	to, err := kubeClient(p.To.Context)
	if err != nil {
		return engine.StepResult{}, err
	}
	keys, err := kube.CopySecret(ctx,
		kube.SecretPlace{Client: from, Namespace: p.From.Namespace, Name: p.From.Name},
		kube.SecretPlace{Client: to, Namespace: p.To.Namespace, Name: p.To.Name}, p.Keys, p.Labels)
	if err != nil {
		return engine.StepResult{}, kubeErr(err)
	}
	return engine.StepResult{Outputs: map[string]any{"keys": keys}}, nil
}
