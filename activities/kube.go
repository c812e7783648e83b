package activities

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ferryhq/ferry/internal/contract"
	"github.com/ferryhq/ferry/internal/kube"
	"github.com/ferryhq/ferry/runbook"
)

func (a *Activities) kubeSteps() map[string]Step {
	return map[string]Step{runbook.StepKubeApply: a.kubeApply, runbook.StepKubeDelete: a.kubeDelete, runbook.StepKubeWait: a.kubeWait}
}

// kubeErr marks errors that retrying cannot fix (RBAC denials, invalid objects, absent
// objects or kinds) as non-retryable; the rest (timeouts, conflicts left over) may be retried.
func kubeErr(err error) error {
	if err == nil {
		return nil
	}
	if kube.Permanent(err) {
		f := contract.Kubernetes
		if kube.Denied(err) {
			f = contract.KubernetesForbidden
		}
		return f.Fail("%s", err.Error())
	}
	return err
}

func (a *Activities) kubeClient(contextName string) (*kube.Client, error) {
	connect := a.Kube
	if connect == nil {
		connect = kube.Connect
	}
	c, err := connect(contextName)
	if err != nil {
		return nil, badInput("%v", err)
	}
	return c, nil
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

func (a *Activities) kubeApply(ctx context.Context, in runbook.StepInput) (runbook.StepResult, error) {
	p, err := decode[runbook.KubeApplyParams](in)
	if err != nil {
		return runbook.StepResult{}, err
	}
	objs, err := objectsOf(p.Manifest, p.Objects)
	if err != nil {
		return runbook.StepResult{}, err
	}
	c, err := a.kubeClient(p.Context)
	if err != nil {
		return runbook.StepResult{}, err
	}
	var applied []string
	for _, o := range objs {
		if o.GetNamespace() == "" && p.Namespace != "" {
			o.SetNamespace(p.Namespace)
		}
		out, err := c.Apply(ctx, o, p.Force)
		if err != nil {
			return runbook.StepResult{}, kubeErr(err)
		}
		applied = append(applied, kube.RefOf(out).String())
	}
	return runbook.StepResult{Outputs: map[string]any{"applied": applied}}, nil
}

func (a *Activities) kubeDelete(ctx context.Context, in runbook.StepInput) (runbook.StepResult, error) {
	p, err := decode[runbook.KubeDeleteParams](in)
	if err != nil {
		return runbook.StepResult{}, err
	}
	var refs []kube.Ref
	for _, o := range p.Objects {
		refs = append(refs, kube.Ref{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name})
	}
	if p.Manifest != "" {
		objs, err := objectsOf(p.Manifest, nil)
		if err != nil {
			return runbook.StepResult{}, err
		}
		for _, o := range objs {
			refs = append(refs, kube.RefOf(o))
		}
	}
	if len(refs) == 0 {
		return runbook.StepResult{}, badInput("nothing to delete: set objects or manifest")
	}
	c, err := a.kubeClient(p.Context)
	if err != nil {
		return runbook.StepResult{}, err
	}
	deleted := []string{}
	for _, r := range refs {
		existed, err := c.Delete(ctx, r)
		if err != nil {
			return runbook.StepResult{}, kubeErr(err)
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
				return runbook.StepResult{}, err
			}
		}
	}
	return runbook.StepResult{Outputs: map[string]any{"deleted": deleted}}, nil
}

func (a *Activities) kubeWait(ctx context.Context, in runbook.StepInput) (runbook.StepResult, error) {
	p, err := decode[runbook.KubeWaitParams](in)
	if err != nil {
		return runbook.StepResult{}, err
	}
	if p.JSONPath != "" && p.Condition != "" {
		return runbook.StepResult{}, badInput("set condition or jsonPath, not both")
	}
	cond := p.Condition
	if cond == "" && p.JSONPath == "" {
		cond = "Ready"
	}
	c, err := a.kubeClient(p.Context)
	if err != nil {
		return runbook.StepResult{}, err
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
		return runbook.StepResult{}, err
	}
	return runbook.StepResult{Outputs: map[string]any{"value": value}}, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
