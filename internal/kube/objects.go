package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/util/jsonpath"
	"k8s.io/client-go/util/retry"
)

// Ref names one object.
type Ref struct {
	APIVersion, Kind, Namespace, Name string
}

func (r Ref) String() string {
	if r.Namespace == "" {
		return r.Kind + " " + r.Name
	}
	return r.Kind + " " + r.Namespace + "/" + r.Name
}

// RefOf names an object.
func RefOf(u *unstructured.Unstructured) Ref {
	return Ref{u.GetAPIVersion(), u.GetKind(), u.GetNamespace(), u.GetName()}
}

// Decode reads YAML or JSON documents (--- separated) into objects; empty documents are
// skipped. Every object needs apiVersion, kind and metadata.name.
func Decode(manifest string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	var out []*unstructured.Unstructured
	for i := 1; ; i++ {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("manifest document %d: %w", i, err)
		}
		if len(m) == 0 {
			continue
		}
		u, err := Object(m)
		if err != nil {
			return nil, fmt.Errorf("manifest document %d: %w", i, err)
		}
		out = append(out, u)
	}
}

// Object checks one object written as a map.
func Object(m map[string]any) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{Object: m}
	switch {
	case u.GetAPIVersion() == "":
		return nil, errors.New("apiVersion is missing")
	case u.GetKind() == "":
		return nil, errors.New("kind is missing")
	case u.GetName() == "":
		return nil, fmt.Errorf("%s: metadata.name is missing", u.GetKind())
	}
	return u, nil
}

// resource finds the dynamic client of an object's kind, defaulting the namespace of
// namespaced kinds.
func (c *Client) resource(apiVersion, kind, namespace string) (dynamic.ResourceInterface, string, error) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return nil, "", fmt.Errorf("apiVersion %q: %w", apiVersion, err)
	}
	m, err := c.Mapping(gv.WithKind(kind))
	if err != nil {
		return nil, "", err
	}
	if m.Scope.Name() == meta.RESTScopeNameRoot {
		return c.Dynamic.Resource(m.Resource), "", nil
	}
	ns := c.ns(namespace)
	return c.Dynamic.Resource(m.Resource).Namespace(ns), ns, nil
}

// Apply applies an object with server-side apply as field manager ferry. Applying the same
// object twice changes nothing the second time.
func (c *Client) Apply(ctx context.Context, u *unstructured.Unstructured, force bool) (*unstructured.Unstructured, error) {
	ri, ns, err := c.resource(u.GetAPIVersion(), u.GetKind(), u.GetNamespace())
	if err != nil {
		return nil, fmt.Errorf("apply %s: %w", RefOf(u), err)
	}
	u = u.DeepCopy()
	if ns != "" {
		u.SetNamespace(ns)
	}
	out, err := ri.Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: FieldManager, Force: force})
	return out, explain(err, "apply %s", RefOf(u))
}

// Get reads an object; nil without error when it does not exist.
func (c *Client) Get(ctx context.Context, r Ref) (*unstructured.Unstructured, error) {
	ri, _, err := c.resource(r.APIVersion, r.Kind, r.Namespace)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", r, err)
	}
	u, err := ri.Get(ctx, r.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return u, explain(err, "get %s", r)
}

// Delete deletes an object (dependents are garbage-collected in the background); an absent object is not an error. It reports
// whether the object existed.
func (c *Client) Delete(ctx context.Context, r Ref) (bool, error) {
	ri, _, err := c.resource(r.APIVersion, r.Kind, r.Namespace)
	if err != nil {
		return false, fmt.Errorf("delete %s: %w", r, err)
	}
	policy := metav1.DeletePropagationBackground
	err = ri.Delete(ctx, r.Name, metav1.DeleteOptions{PropagationPolicy: &policy})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, explain(err, "delete %s", r)
}

// Condition reads a status condition: its status ("" when absent) and message. A controller
// that has not observed the latest generation answers "Unknown", whatever the condition says.
func Condition(u *unstructured.Unstructured, condType string) (status, message string) {
	if og, ok, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration"); ok && og < u.GetGeneration() {
		return "Unknown", fmt.Sprintf("the controller has not seen generation %d yet (observed %d)", u.GetGeneration(), og)
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == condType {
			s, _ := m["status"].(string)
			msg, _ := m["message"].(string)
			if r, _ := m["reason"].(string); r != "" && msg == "" {
				msg = r
			}
			return s, msg
		}
	}
	return "", "no " + condType + " condition yet"
}

// JSONPath evaluates a kubectl-style JSONPath ({.status.phase}) on an object.
func JSONPath(u *unstructured.Unstructured, path string) (string, error) {
	jp := jsonpath.New("ferry").AllowMissingKeys(true)
	if err := jp.Parse(path); err != nil {
		return "", fmt.Errorf("jsonPath %q: %w", path, err)
	}
	var b bytes.Buffer
	if err := jp.Execute(&b, u.Object); err != nil {
		return "", fmt.Errorf("jsonPath %q: %w", path, err)
	}
	return b.String(), nil
}

// SecretPlace names a Secret in a cluster.
type SecretPlace struct {
	Client    *Client
	Namespace string
	Name      string
}

// CopySecret copies a Secret's data (all keys, or keys renamed by the map) and type to
// another place, with labels; an existing copy is updated. It returns the keys copied.
// Values stay in memory: errors name Secrets and keys only.
func CopySecret(ctx context.Context, from, to SecretPlace, keys, labels map[string]string) ([]string, error) {
	fromNS, toNS := from.Client.ns(from.Namespace), to.Client.ns(to.Namespace)
	src, err := from.Client.Core.CoreV1().Secrets(fromNS).Get(ctx, from.Name, metav1.GetOptions{})
	if err != nil {
		return nil, explain(err, "read Secret %s/%s", fromNS, from.Name)
	}
	data := map[string][]byte{}
	var copied []string
	if len(keys) == 0 {
		maps.Copy(data, src.Data)
	} else {
		for k, nk := range keys {
			v, ok := src.Data[k]
			if !ok {
				return nil, fmt.Errorf("Secret %s/%s has no key %q", fromNS, from.Name, k)
			}
			data[nk] = v
		}
	}
	for k := range data {
		copied = append(copied, k)
	}
	err = retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		sc := to.Client.Core.CoreV1().Secrets(toNS)
		cur, err := sc.Get(ctx, to.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = sc.Create(ctx, &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: to.Name, Namespace: toNS, Labels: labels},
				Type:       src.Type, Data: data,
			}, metav1.CreateOptions{FieldManager: FieldManager})
			return err
		}
		if err != nil {
			return err
		}
		if cur.Type != src.Type {
			return fmt.Errorf("Secret %s/%s exists with type %s, the source has type %s", toNS, to.Name, cur.Type, src.Type)
		}
		if cur.Labels == nil {
			cur.Labels = map[string]string{}
		}
		maps.Copy(cur.Labels, labels)
		cur.Data = data
		_, err = sc.Update(ctx, cur, metav1.UpdateOptions{FieldManager: FieldManager})
		return err
	})
	if err != nil {
		return nil, explain(err, "write Secret %s/%s", toNS, to.Name)
	}
	return sortStrings(copied), nil
}

// SecretValue reads one key of a Secret (secret references in runbooks).
func (c *Client) SecretValue(ctx context.Context, namespace, name, key string) (string, error) {
	ns := c.ns(namespace)
	s, err := c.Core.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", explain(err, "read Secret %s/%s", ns, name)
	}
	v, ok := s.Data[key]
	if !ok {
		return "", fmt.Errorf("Secret %s/%s has no key %q", ns, name, key)
	}
	return string(v), nil
}

// Patch merge-patches an object (tests and status updates).
func (c *Client) Patch(ctx context.Context, r Ref, patch []byte, subresources ...string) error {
	ri, _, err := c.resource(r.APIVersion, r.Kind, r.Namespace)
	if err != nil {
		return err
	}
	_, err = ri.Patch(ctx, r.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: FieldManager}, subresources...)
	return explain(err, "patch %s", r)
}
