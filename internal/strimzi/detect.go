package strimzi

import (
	"context"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ferryhq/ferry/internal/kube"
)

// versions in order of preference.
var versions = []string{"v1", "v1beta2", "v1beta1", "v1alpha1"}

// Detect picks the API version and shape of KafkaMirrorMaker2 that the cluster serves for an
// API group: the most recent served version, in the target shape if that version's schema
// has spec.target and the clusters shape otherwise. Without permission to read CRDs it falls
// back to discovery: v1 means the target shape.
func Detect(ctx context.Context, c *kube.Client, group string) (apiVersion, shape string, err error) {
	crd, err := c.Get(ctx, kube.Ref{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition", Name: "kafkamirrormaker2s." + group})
	if err == nil && crd == nil {
		return "", "", fmt.Errorf("the KafkaMirrorMaker2 CRD kafkamirrormaker2s.%s is not installed (is the operator installed?)", group)
	}
	if err == nil {
		return fromCRD(crd, group)
	}
	if !kube.Denied(err) {
		return "", "", err
	}
	for _, v := range versions {
		list, derr := c.Core.Discovery().ServerResourcesForGroupVersion(group + "/" + v)
		if derr != nil {
			continue
		}
		if slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Kind == Kind }) {
			if v == "v1" {
				return group + "/" + v, ShapeTarget, nil
			}
			return group + "/" + v, ShapeClusters, nil
		}
	}
	return "", "", fmt.Errorf("%s does not serve KafkaMirrorMaker2 (is the operator installed?)", group)
}

func fromCRD(crd *unstructured.Unstructured, group string) (string, string, error) {
	vs, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	byName := map[string]map[string]any{}
	for _, v := range vs {
		m, _ := v.(map[string]any)
		if served, _ := m["served"].(bool); served {
			name, _ := m["name"].(string)
			byName[name] = m
		}
	}
	for _, name := range versions {
		m, ok := byName[name]
		if !ok {
			continue
		}
		props, _, _ := unstructured.NestedMap(m, "schema", "openAPIV3Schema", "properties", "spec", "properties")
		_, hasTarget := props["target"]
		_, hasClusters := props["clusters"]
		switch {
		case hasTarget:
			return group + "/" + name, ShapeTarget, nil
		case hasClusters || props == nil:
			return group + "/" + name, ShapeClusters, nil
		}
	}
	return "", "", fmt.Errorf("CRD kafkamirrormaker2s.%s serves no version Ferry knows (%v)", group, versions)
}
