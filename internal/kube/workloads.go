package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
)

// Workload is one Deployment or StatefulSet.
type Workload struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

func (w Workload) String() string { return w.Kind + " " + w.Namespace + "/" + w.Name }

// Workloads finds the workloads of a kind by name, or all that match a label selector.
// Finding none is an error: a runbook that pauses nothing would look like it worked.
func (c *Client) Workloads(ctx context.Context, kind, namespace, name string, selector map[string]string) ([]Workload, error) {
	ns := c.ns(namespace)
	if kind != "Deployment" && kind != "StatefulSet" {
		return nil, fmt.Errorf("kind %s is not a workload Ferry scales (Deployment, StatefulSet)", kind)
	}
	if name != "" {
		if _, err := c.template(ctx, Workload{kind, ns, name}); err != nil {
			return nil, err
		}
		return []Workload{{kind, ns, name}}, nil
	}
	opts := metav1.ListOptions{LabelSelector: labels.SelectorFromSet(selector).String()}
	var names []string
	switch kind {
	case "Deployment":
		l, err := c.Core.AppsV1().Deployments(ns).List(ctx, opts)
		if err != nil {
			return nil, explain(err, "list Deployments in %s", ns)
		}
		for _, d := range l.Items {
			names = append(names, d.Name)
		}
	case "StatefulSet":
		l, err := c.Core.AppsV1().StatefulSets(ns).List(ctx, opts)
		if err != nil {
			return nil, explain(err, "list StatefulSets in %s", ns)
		}
		for _, s := range l.Items {
			names = append(names, s.Name)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no %s in namespace %s matches %s", kind, ns, opts.LabelSelector)
	}
	sort.Strings(names)
	out := make([]Workload, len(names))
	for i, n := range names {
		out[i] = Workload{kind, ns, n}
	}
	return out, nil
}

// workloadObject is what Ferry reads and changes on a Deployment or StatefulSet.
type workloadObject struct {
	meta     *metav1.ObjectMeta
	template *corev1.PodTemplateSpec
	replicas int32
	update   func(ctx context.Context) error
}

// template reads a workload.
func (c *Client) template(ctx context.Context, w Workload) (*workloadObject, error) {
	apps := c.Core.AppsV1()
	opts := metav1.UpdateOptions{FieldManager: FieldManager}
	switch w.Kind {
	case "Deployment":
		d, err := apps.Deployments(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return nil, explain(err, "get %s", w)
		}
		return &workloadObject{&d.ObjectMeta, &d.Spec.Template, ptrOr(d.Spec.Replicas, 1), func(ctx context.Context) error {
			_, err := apps.Deployments(w.Namespace).Update(ctx, d, opts)
			return err
		}}, nil
	case "StatefulSet":
		s, err := apps.StatefulSets(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return nil, explain(err, "get %s", w)
		}
		return &workloadObject{&s.ObjectMeta, &s.Spec.Template, ptrOr(s.Spec.Replicas, 1), func(ctx context.Context) error {
			_, err := apps.StatefulSets(w.Namespace).Update(ctx, s, opts)
			return err
		}}, nil
	}
	return nil, fmt.Errorf("kind %s is not a workload Ferry changes", w.Kind)
}

// beforeUpdate runs between reading and writing a workload; tests use it to provoke a
// resourceVersion conflict from the real API server.
var beforeUpdate func(w Workload)

// updateWorkload reads a workload, changes it and writes it, again from a fresh read when
// someone else wrote it in between (a resourceVersion conflict).
func (c *Client) updateWorkload(ctx context.Context, w Workload, change func(o *workloadObject) error) error {
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		o, err := c.template(ctx, w)
		if err != nil {
			return err
		}
		if err := change(o); err != nil {
			return err
		}
		if beforeUpdate != nil {
			beforeUpdate(w)
		}
		return o.update(ctx)
	})
	return explain(err, "update %s", w)
}

func ptrOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// scaledNote is the annotation that records, on the workload itself, the replicas it had
// before a step scaled it. A retry of the same step (after a worker crash that lost the
// first attempt's answer) reads it instead of the replicas it set itself.
const scaledNote = "ferry.dev/scaled"

type stepNote struct {
	Run      string          `json:"run"`
	Step     string          `json:"step"`
	Replicas int32           `json:"replicas,omitempty"`
	Undo     *ConnectionUndo `json:"undo,omitempty"`
}

// Scale sets a workload's replicas through the scale subresource and returns the replicas it
// had before this step (run, step) first scaled it. Scaling to what it has changes nothing.
func (c *Client) Scale(ctx context.Context, w Workload, replicas int32, run, step string) (int32, error) {
	o, err := c.template(ctx, w)
	if err != nil {
		return 0, err
	}
	prev := o.replicas
	var note stepNote
	if json.Unmarshal([]byte(o.meta.Annotations[scaledNote]), &note) == nil && note.Run == run && note.Step == step {
		prev = note.Replicas
	} else if prev != replicas {
		b, _ := json.Marshal(stepNote{Run: run, Step: step, Replicas: prev})
		if err := c.annotate(ctx, w, scaledNote, string(b)); err != nil {
			return 0, err
		}
	}
	err = retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		var s *autoscalingv1.Scale
		var err error
		apps := c.Core.AppsV1()
		if w.Kind == "Deployment" {
			s, err = apps.Deployments(w.Namespace).GetScale(ctx, w.Name, metav1.GetOptions{})
		} else {
			s, err = apps.StatefulSets(w.Namespace).GetScale(ctx, w.Name, metav1.GetOptions{})
		}
		if err != nil || s.Spec.Replicas == replicas {
			return err
		}
		s.Spec.Replicas = replicas
		if beforeUpdate != nil {
			beforeUpdate(w)
		}
		opts := metav1.UpdateOptions{FieldManager: FieldManager}
		if w.Kind == "Deployment" {
			_, err = apps.Deployments(w.Namespace).UpdateScale(ctx, w.Name, s, opts)
		} else {
			_, err = apps.StatefulSets(w.Namespace).UpdateScale(ctx, w.Name, s, opts)
		}
		return err
	})
	return prev, explain(err, "scale %s to %d", w, replicas)
}

// annotate sets one annotation on a workload with a merge patch.
func (c *Client) annotate(ctx context.Context, w Workload, key, value string) error {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{key: value}}})
	opts := metav1.PatchOptions{FieldManager: FieldManager}
	var err error
	if w.Kind == "Deployment" {
		_, err = c.Core.AppsV1().Deployments(w.Namespace).Patch(ctx, w.Name, types.MergePatchType, patch, opts)
	} else {
		_, err = c.Core.AppsV1().StatefulSets(w.Namespace).Patch(ctx, w.Name, types.MergePatchType, patch, opts)
	}
	return explain(err, "annotate %s", w)
}

// Rollout is where a workload's rollout stands.
type Rollout struct {
	Done    bool   `json:"done"`
	Desired int32  `json:"desired"`
	Ready   int32  `json:"ready"`
	Message string `json:"message"`
}

// RolloutStatus reads whether a workload runs its latest template with every replica ready:
// the controller has observed the latest generation, and updated, ready (and for
// Deployments available) replicas all equal the desired count with no old pods left.
// A Deployment past its progress deadline is an error, since waiting longer will not help.
func (c *Client) RolloutStatus(ctx context.Context, w Workload) (Rollout, error) {
	apps := c.Core.AppsV1()
	switch w.Kind {
	case "Deployment":
		d, err := apps.Deployments(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return Rollout{}, explain(err, "get %s", w)
		}
		want, st := ptrOr(d.Spec.Replicas, 1), d.Status
		r := Rollout{Desired: want, Ready: st.ReadyReplicas}
		for _, cond := range st.Conditions {
			if cond.Type == appsv1.DeploymentProgressing && cond.Reason == "ProgressDeadlineExceeded" {
				return r, fmt.Errorf("%s: rollout stuck: %s", w, cond.Message)
			}
		}
		switch {
		case st.ObservedGeneration < d.Generation:
			r.Message = "waiting for the controller to see the change"
		case st.UpdatedReplicas < want:
			r.Message = fmt.Sprintf("%d of %d replicas updated", st.UpdatedReplicas, want)
		case st.Replicas > st.UpdatedReplicas:
			r.Message = fmt.Sprintf("%d old replicas still running", st.Replicas-st.UpdatedReplicas)
		case st.AvailableReplicas < want || st.ReadyReplicas < want:
			r.Message = fmt.Sprintf("%d of %d replicas available", st.AvailableReplicas, want)
		default:
			r.Done, r.Message = true, fmt.Sprintf("%d replicas ready", want)
		}
		return r, nil
	case "StatefulSet":
		s, err := apps.StatefulSets(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return Rollout{}, explain(err, "get %s", w)
		}
		want, st := ptrOr(s.Spec.Replicas, 1), s.Status
		r := Rollout{Desired: want, Ready: st.ReadyReplicas}
		switch {
		case st.ObservedGeneration < s.Generation:
			r.Message = "waiting for the controller to see the change"
		case st.Replicas != want:
			r.Message = fmt.Sprintf("%d replicas, want %d", st.Replicas, want)
		case st.UpdatedReplicas < want || (st.UpdateRevision != "" && st.CurrentRevision != st.UpdateRevision && want > 0):
			r.Message = fmt.Sprintf("%d of %d replicas updated", st.UpdatedReplicas, want)
		case st.ReadyReplicas < want:
			r.Message = fmt.Sprintf("%d of %d replicas ready", st.ReadyReplicas, want)
		default:
			r.Done, r.Message = true, fmt.Sprintf("%d replicas ready", want)
		}
		return r, nil
	}
	return Rollout{}, fmt.Errorf("kind %s is not a workload", w.Kind)
}

// joinNames lists container names for messages.
func joinNames(cs []corev1.Container) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}
