package activities

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/ferryhq/ferry/internal/contract"
	"github.com/ferryhq/ferry/internal/flow"
	"github.com/ferryhq/ferry/internal/kube"
	"github.com/ferryhq/ferry/internal/mm2"
	"github.com/ferryhq/ferry/internal/strimzi"
	"github.com/ferryhq/ferry/runbook"
)

// strimziMirror is a KafkaMirrorMaker2 run by the Strimzi (or Event Streams) operator:
// Ferry writes it, watches it, and deletes it.
type strimziMirror struct{}

// exactSyncs: MirrorMaker 2 keeps only the latest pending sync of a burst.
func (strimziMirror) exactSyncs() bool { return false }

// strimziPlace is where the resource lives and what it is.
type strimziPlace struct {
	client *kube.Client
	ref    kube.Ref
	shape  string
}

func (strimziMirror) place(ctx context.Context, a *Activities, spec runbook.MirrorSpec) (*strimziPlace, error) {
	st := spec.Replication.Strimzi
	if st == nil {
		return nil, badInput("engine strimzi needs replication.strimzi (namespace at least)")
	}
	c, err := a.kubeClient(st.Context)
	if err != nil {
		return nil, err
	}
	group := st.APIGroup
	if group == "" {
		group = "kafka.strimzi.io"
	}
	apiVersion, shape, err := strimzi.Detect(ctx, c, group)
	if err != nil {
		return nil, kubeErr(err)
	}
	switch st.Shape {
	case strimzi.ShapeClusters, strimzi.ShapeTarget:
		shape = st.Shape
	}
	name := st.Name
	if name == "" {
		name = spec.Runbook
	}
	return &strimziPlace{c, kube.Ref{APIVersion: apiVersion, Kind: strimzi.Kind, Namespace: st.Namespace, Name: name}, shape}, nil
}

// cluster describes a runbook cluster as the MirrorMaker 2 pods reach it.
func (strimziMirror) cluster(ctx context.Context, a *Activities, spec runbook.MirrorSpec, name string) (strimzi.Cluster, error) {
	c := spec.Clusters[name]
	if c == nil {
		return strimzi.Cluster{}, badInput("cluster %q is not defined", name)
	}
	bootstrap := spec.Replication.Strimzi.Bootstrap[name]
	if bootstrap == "" {
		seeds, err := a.dialer().Seeds(name, c)
		if err != nil {
			return strimzi.Cluster{}, badInput("%v", err)
		}
		bootstrap = strings.Join(seeds, ",")
	}
	user := ""
	if c.SASL != nil {
		u, err := a.resolveSecret(ctx, c.SASL.Username)
		if err != nil {
			return strimzi.Cluster{}, err
		}
		user = u
	}
	alias := name
	if name == spec.Replication.Origin {
		alias = spec.Replication.OriginAlias()
	}
	out, err := strimzi.ClusterOf(alias, c, bootstrap, user)
	if err != nil {
		return out, badInput("%v", err)
	}
	return out, nil
}

// deploy applies the KafkaMirrorMaker2 and waits until MirrorMaker 2 runs: the operator has
// observed it and every connector and task is RUNNING. Applying again is harmless.
func (m strimziMirror) deploy(ctx context.Context, a *Activities, spec runbook.MirrorSpec, _ *flow.Flow) (map[string]any, error) {
	t, err := m.place(ctx, a, spec)
	if err != nil {
		return nil, err
	}
	origin, err := m.cluster(ctx, a, spec, spec.Replication.Origin)
	if err != nil {
		return nil, err
	}
	target, err := m.cluster(ctx, a, spec, spec.Replication.Target)
	if err != nil {
		return nil, err
	}
	largest, err := a.largestRecord(ctx, spec)
	if err != nil {
		return nil, err
	}
	u := strimzi.Resource(strimzi.Input{
		APIVersion: t.ref.APIVersion, Shape: t.shape, Name: t.ref.Name, Namespace: t.ref.Namespace,
		Runbook: spec.Runbook, Origin: origin, Target: target, Rep: spec.Replication, LargestRecord: largest,
	})
	if _, err := t.client.Apply(ctx, u, true); err != nil {
		return nil, kubeErr(err)
	}
	msg, err := poll(ctx, 2*time.Second, func() (bool, string, error) {
		h, err := t.health(ctx)
		if err != nil {
			return false, "", err
		}
		if h.Failed {
			return false, h.Message, contract.MirrorFailed.Fail("%s: %s", t.ref, h.Message)
		}
		return h.Ready, t.ref.String() + ": " + h.Message, nil
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"mirror": t.ref.String(), "apiVersion": t.ref.APIVersion, "shape": t.shape, "status": msg}, nil
}

func (t *strimziPlace) health(ctx context.Context) (mm2.Health, error) {
	u, err := t.client.Get(ctx, t.ref)
	if err != nil {
		return mm2.Health{}, kubeErr(err)
	}
	if u == nil {
		return mm2.Health{}, fmt.Errorf("%s was deleted by someone else", t.ref)
	}
	return strimzi.Judge(u, t.shape), nil
}

// watch reports the resource's health as heartbeats until cancelled. A resource deleted
// behind Ferry's back fails it, so the run sees it.
func (m strimziMirror) watch(ctx context.Context, a *Activities, spec runbook.MirrorSpec) error {
	t, err := m.place(ctx, a, spec)
	if err != nil {
		return err
	}
	for {
		h, err := t.health(ctx)
		if err != nil {
			return err
		}
		activity.RecordHeartbeat(ctx, map[string]any{"mirror": t.ref.String(), "ready": h.Ready, "status": h.Message})
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(5 * time.Second):
		}
	}
}

// remove deletes the KafkaMirrorMaker2 and waits until it is gone; an absent one is fine.
func (m strimziMirror) remove(ctx context.Context, a *Activities, spec runbook.MirrorSpec) error {
	t, err := m.place(ctx, a, spec)
	if err != nil {
		return err
	}
	if _, err := t.client.Delete(ctx, t.ref); err != nil {
		return kubeErr(err)
	}
	_, err = poll(ctx, time.Second, func() (bool, string, error) {
		u, err := t.client.Get(ctx, t.ref)
		if err != nil {
			return false, "", kubeErr(err)
		}
		return u == nil, t.ref.String() + " being deleted", nil
	})
	return err
}
