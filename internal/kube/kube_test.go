package kube_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ferryhq/ferry/internal/kube"
	"github.com/ferryhq/ferry/internal/sandbox"
	"github.com/ferryhq/ferry/runbook"
	kubetest "github.com/ferryhq/ferry/test/kube"
)

var env *kubetest.Env

func TestMain(m *testing.M) { kubetest.Main(m, &env) }

var nsCount atomic.Int32

// namespace creates a fresh namespace for one test.
func namespace(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("t%d-%s", nsCount.Add(1), strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")))
	if len(name) > 60 {
		name = name[:60]
	}
	name = strings.TrimRight(name, "-")
	_, err := env.Admin.Core.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return name
}

// deployment creates a Deployment whose pod runs a sandbox app (see kubetest.Kubelet).
func deployment(t *testing.T, ns, name string, replicas int32, env []corev1.EnvVar) {
	t.Helper()
	labels := map[string]string{"app": name, "tier": "kafka-client"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{
					{Name: "app", Image: "example/app", Env: env},
					{Name: "sidecar", Image: "example/sidecar"},
				}},
			},
		},
	}
	if _, err := envClient().Core.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func envClient() *kube.Client { return env.Admin }

func kafkaCluster(t *testing.T, name string) *sandbox.Cluster {
	t.Helper()
	c, err := sandbox.Start(name, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if _, err := sandbox.SeedOrders(context.Background(), c.Addr, 3, 10); err != nil {
		t.Fatal(err)
	}
	return c
}

func waitRollout(t *testing.T, c *kube.Client, w kube.Workload) kube.Rollout {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := c.RolloutStatus(context.Background(), w)
		if err != nil {
			t.Fatal(err)
		}
		if r.Done {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never rolled out: %s", w, r.Message)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func producerEnv(bootstrap string) []corev1.EnvVar {
	return []corev1.EnvVar{{Name: kubetest.EnvApp, Value: "producer"}, {Name: kubetest.EnvTopic, Value: "orders"}, {Name: kubetest.EnvBootstrap, Value: bootstrap}}
}

func TestWorkloadsBySelectorAndName(t *testing.T) {
	ns := namespace(t)
	deployment(t, ns, "a", 1, producerEnv("x:1"))
	deployment(t, ns, "b", 1, producerEnv("x:1"))
	c := env.Admin
	ws, err := c.Workloads(context.Background(), "Deployment", ns, "", map[string]string{"tier": "kafka-client"})
	if err != nil || len(ws) != 2 || ws[0].Name != "a" || ws[1].Name != "b" {
		t.Fatalf("by selector: %v %v", ws, err)
	}
	if _, err := c.Workloads(context.Background(), "Deployment", ns, "", map[string]string{"tier": "none"}); err == nil || !strings.Contains(err.Error(), "no Deployment in namespace "+ns+" matches tier=none") {
		t.Fatalf("no match: %v", err)
	}
	if _, err := c.Workloads(context.Background(), "Deployment", ns, "missing", nil); !apierrors.IsNotFound(err) || !kube.Permanent(err) {
		t.Fatalf("missing by name: %v", err)
	}
}

// Scaling goes through the real scale subresource; a retried step reports the replicas from
// before its first attempt; the stand-in kubelet stops the real producer.
func TestScaleRecordsReplicasBeforeTheStep(t *testing.T) {
	ns := namespace(t)
	kc := kafkaCluster(t, "origin")
	ledger := sandbox.NewLedger()
	kl := kubetest.StartKubelet(env.Admin, ns, ledger)
	defer kl.Stop()
	deployment(t, ns, "orders", 3, producerEnv(kc.Addr))
	c := env.Admin
	w := kube.Workload{Kind: "Deployment", Namespace: ns, Name: "orders"}
	waitRollout(t, c, w)
	if !kl.Running("Deployment/orders") {
		t.Fatal("the producer does not run")
	}
	ctx := context.Background()
	prev, err := c.Scale(ctx, w, 0, "run-1", "pause")
	if err != nil || prev != 3 {
		t.Fatalf("scale to 0: prev %d, %v", prev, err)
	}
	// The same step again (a retry after a lost answer) still reports 3, not 0.
	if prev, err = c.Scale(ctx, w, 0, "run-1", "pause"); err != nil || prev != 3 {
		t.Fatalf("retried scale: prev %d, %v", prev, err)
	}
	r := waitRollout(t, c, w)
	if r.Desired != 0 || kl.Running("Deployment/orders") {
		t.Fatalf("after scale to 0: %+v, producer running %v", r, kl.Running("Deployment/orders"))
	}
	produced := ledger.Counts().Produced
	time.Sleep(300 * time.Millisecond)
	if n := ledger.Counts().Produced; n != produced {
		t.Fatalf("a paused producer produced %d more records", n-produced)
	}
	if prev, err = c.Scale(ctx, w, 3, "run-1", "resume"); err != nil || prev != 0 {
		t.Fatalf("scale back: prev %d, %v", prev, err)
	}
	waitRollout(t, c, w)
	if !kl.Running("Deployment/orders") {
		t.Fatal("the producer did not start again")
	}
	// The apiserver validates: negative replicas are refused, permanently.
	if _, err := c.Scale(ctx, w, -1, "run-1", "bad"); !apierrors.IsInvalid(err) || !kube.Permanent(err) {
		t.Fatalf("scale to -1: %v", err)
	}
	if errs := kl.Errors(); len(errs) > 0 {
		t.Fatalf("kubelet: %v", errs)
	}
}

func TestScaleStatefulSet(t *testing.T) {
	ns := namespace(t)
	kc := kafkaCluster(t, "origin")
	kl := kubetest.StartKubelet(env.Admin, ns, sandbox.NewLedger())
	defer kl.Stop()
	two := int32(2)
	s := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "ledger", Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &two, ServiceName: "ledger",
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "ledger"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "ledger"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "x", Env: []corev1.EnvVar{
					{Name: kubetest.EnvApp, Value: "consumer"}, {Name: kubetest.EnvTopic, Value: "orders"},
					{Name: kubetest.EnvGroup, Value: "ledger"}, {Name: kubetest.EnvBootstrap, Value: kc.Addr}}}}},
			},
		},
	}
	if _, err := env.Admin.Core.AppsV1().StatefulSets(ns).Create(context.Background(), s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w := kube.Workload{Kind: "StatefulSet", Namespace: ns, Name: "ledger"}
	waitRollout(t, env.Admin, w)
	if prev, err := env.Admin.Scale(context.Background(), w, 0, "r", "s"); err != nil || prev != 2 {
		t.Fatalf("prev %d, %v", prev, err)
	}
	waitRollout(t, env.Admin, w)
	if kl.Running("StatefulSet/ledger") {
		t.Fatal("consumer still running")
	}
}

func TestRepointEnvRecordsAndRestores(t *testing.T) {
	ns := namespace(t)
	origin, target := kafkaCluster(t, "origin"), kafkaCluster(t, "target")
	kl := kubetest.StartKubelet(env.Admin, ns, sandbox.NewLedger())
	defer kl.Stop()
	deployment(t, ns, "orders", 1, producerEnv(origin.Addr))
	c := env.Admin
	w := kube.Workload{Kind: "Deployment", Namespace: ns, Name: "orders"}
	waitRollout(t, c, w)
	conn := &runbook.AppConnection{Env: kubetest.EnvBootstrap}
	ctx := context.Background()
	undo, err := c.Repoint(ctx, w, conn, kube.ConnectionTarget{Cluster: "target", Bootstrap: target.Addr}, "run-1", "repoint")
	if err != nil {
		t.Fatal(err)
	}
	if v := undo.Env["app"]; v == nil || *v != origin.Addr || len(undo.Env) != 1 || undo.Cluster != "" {
		t.Fatalf("undo: %+v", undo)
	}
	waitRollout(t, c, w)
	if got := kl.Bootstrap("Deployment/orders"); got != target.Addr {
		t.Fatalf("app uses %s, want the target %s", got, target.Addr)
	}
	// A retry of the same step answers the original values, not what it wrote.
	again, err := c.Repoint(ctx, w, conn, kube.ConnectionTarget{Cluster: "target", Bootstrap: target.Addr}, "run-1", "repoint")
	if err != nil || *again.Env["app"] != origin.Addr {
		t.Fatalf("retried repoint: %+v %v", again, err)
	}
	d, _ := c.Core.AppsV1().Deployments(ns).Get(ctx, "orders", metav1.GetOptions{})
	if d.Spec.Template.Annotations[kube.ClusterAnnotation] != "target" || len(d.Spec.Template.Spec.Containers[1].Env) != 0 {
		t.Fatalf("template after repoint: %+v", d.Spec.Template)
	}
	if err := c.RestoreConnection(ctx, w, conn, undo); err != nil {
		t.Fatal(err)
	}
	waitRollout(t, c, w)
	if got := kl.Bootstrap("Deployment/orders"); got != origin.Addr {
		t.Fatalf("after restore the app uses %s, want %s", got, origin.Addr)
	}
	d, _ = c.Core.AppsV1().Deployments(ns).Get(ctx, "orders", metav1.GetOptions{})
	if _, ok := d.Spec.Template.Annotations[kube.ClusterAnnotation]; ok {
		t.Fatalf("restore left the cluster annotation: %v", d.Spec.Template.Annotations)
	}
	// Naming a container that does not exist says which exist.
	_, err = c.Repoint(ctx, w, &runbook.AppConnection{Env: kubetest.EnvBootstrap, Containers: []string{"main"}}, kube.ConnectionTarget{Bootstrap: "x"}, "run-1", "other")
	if err == nil || !strings.Contains(err.Error(), `has no container "main" (containers: app, sidecar)`) {
		t.Fatalf("unknown container: %v", err)
	}
}

// After a failover to a prefixed standby the apps name north_america.orders: apps.repoint
// renames the topics an app names (an env var here, a ConfigMap key there) with its cluster,
// records what they were, and puts them back.
func TestRepointRenamesTopics(t *testing.T) {
	ns := namespace(t)
	origin, target := kafkaCluster(t, "origin"), kafkaCluster(t, "target")
	kl := kubetest.StartKubelet(env.Admin, ns, sandbox.NewLedger())
	defer kl.Stop()
	ctx := context.Background()
	c := env.Admin
	if _, err := c.Core.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "topics"}, Data: map[string]string{"names": "orders"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deployment(t, ns, "producer", 1, producerEnv(origin.Addr))
	deployment(t, ns, "billing", 1, []corev1.EnvVar{
		{Name: kubetest.EnvApp, Value: "consumer"}, {Name: kubetest.EnvGroup, Value: "billing"}, {Name: kubetest.EnvBootstrap, Value: origin.Addr},
		{Name: kubetest.EnvTopic, ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "topics"}, Key: "names"}}},
	})
	prefixed := func(t string) string { return "north_america." + t }
	for name, conn := range map[string]*runbook.AppConnection{
		"producer": {Env: kubetest.EnvBootstrap, TopicsEnv: kubetest.EnvTopic},
		"billing":  {Env: kubetest.EnvBootstrap, TopicsConfigMap: &runbook.ConfigMapKey{Name: "topics", Key: "names"}},
	} {
		w := kube.Workload{Kind: "Deployment", Namespace: ns, Name: name}
		waitRollout(t, c, w)
		undo, err := c.Repoint(ctx, w, conn, kube.ConnectionTarget{Cluster: "target", Bootstrap: target.Addr, Topics: prefixed}, "r", "failover")
		if err != nil {
			t.Fatal(err)
		}
		waitRollout(t, c, w)
		if b, tp := kl.Bootstrap("Deployment/"+name), kl.Topic("Deployment/"+name); b != target.Addr || tp != "north_america.orders" {
			t.Fatalf("%s after the failover: %s on %s, want north_america.orders on the target", name, tp, b)
		}
		if err := c.RestoreConnection(ctx, w, conn, undo); err != nil {
			t.Fatal(err)
		}
		waitRollout(t, c, w)
		if b, tp := kl.Bootstrap("Deployment/"+name), kl.Topic("Deployment/"+name); b != origin.Addr || tp != "orders" {
			t.Fatalf("%s restored: %s on %s, want orders on the origin", name, tp, b)
		}
	}
}

// A ConfigMap key changes first; the pod template annotation then restarts the pods, which
// read the new value.
func TestRepointConfigMapAndSecretEnv(t *testing.T) {
	ns := namespace(t)
	origin, target := kafkaCluster(t, "origin"), kafkaCluster(t, "target")
	kl := kubetest.StartKubelet(env.Admin, ns, sandbox.NewLedger())
	defer kl.Stop()
	ctx := context.Background()
	c := env.Admin
	if _, err := c.Core.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kafka"}, Data: map[string]string{"bootstrap": origin.Addr}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deployment(t, ns, "billing", 1, []corev1.EnvVar{
		{Name: kubetest.EnvApp, Value: "consumer"}, {Name: kubetest.EnvTopic, Value: "orders"}, {Name: kubetest.EnvGroup, Value: "billing"},
		{Name: kubetest.EnvBootstrap, ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "kafka"}, Key: "bootstrap"}}},
		{Name: "KAFKA_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "origin-creds"}, Key: "password"}}},
		{Name: "KAFKA_CA", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "origin-ca"}, Key: "ca.crt"}}},
	})
	w := kube.Workload{Kind: "Deployment", Namespace: ns, Name: "billing"}
	waitRollout(t, c, w)
	conn := &runbook.AppConnection{ConfigMap: &runbook.ConfigMapKey{Name: "kafka", Key: "bootstrap"}, SecretEnv: []string{"KAFKA_PASSWORD", "KAFKA_CA"}}
	if _, err := c.Repoint(ctx, w, conn, kube.ConnectionTarget{Cluster: "target", Bootstrap: target.Addr, Secrets: map[string]string{"KAFKA_CA": "target-ca"}}, "r", "s"); err == nil || !strings.Contains(err.Error(), "name the new cluster's Secret") {
		t.Fatalf("secretEnv without secret: %v", err)
	}
	undo, err := c.Repoint(ctx, w, conn, kube.ConnectionTarget{Cluster: "target", Bootstrap: target.Addr, Secret: "target-creds", Secrets: map[string]string{"KAFKA_CA": "target-ca"}}, "r", "s")
	if err != nil {
		t.Fatal(err)
	}
	if undo.ConfigMap == nil || *undo.ConfigMap != origin.Addr || undo.SecretEnv["app/KAFKA_PASSWORD"] != "origin-creds" {
		t.Fatalf("undo: %+v", undo)
	}
	waitRollout(t, c, w)
	if got := kl.Bootstrap("Deployment/billing"); got != target.Addr {
		t.Fatalf("pods read %s from the ConfigMap, want %s", got, target.Addr)
	}
	d, _ := c.Core.AppsV1().Deployments(ns).Get(ctx, "billing", metav1.GetOptions{})
	if ref, ca := d.Spec.Template.Spec.Containers[0].Env[4].ValueFrom.SecretKeyRef.Name, d.Spec.Template.Spec.Containers[0].Env[5].ValueFrom.SecretKeyRef.Name; ref != "target-creds" || ca != "target-ca" {
		t.Fatalf("secret refs: %s, %s", ref, ca)
	}
	if err := c.RestoreConnection(ctx, w, conn, undo); err != nil {
		t.Fatal(err)
	}
	waitRollout(t, c, w)
	cm, _ := c.Core.CoreV1().ConfigMaps(ns).Get(ctx, "kafka", metav1.GetOptions{})
	d, _ = c.Core.AppsV1().Deployments(ns).Get(ctx, "billing", metav1.GetOptions{})
	if cm.Data["bootstrap"] != origin.Addr || d.Spec.Template.Spec.Containers[0].Env[4].ValueFrom.SecretKeyRef.Name != "origin-creds" ||
		d.Spec.Template.Spec.Containers[0].Env[5].ValueFrom.SecretKeyRef.Name != "origin-ca" || kl.Bootstrap("Deployment/billing") != origin.Addr {
		t.Fatalf("after restore: ConfigMap %v, secret %s, app %s", cm.Data, d.Spec.Template.Spec.Containers[0].Env[4].ValueFrom.SecretKeyRef.Name, kl.Bootstrap("Deployment/billing"))
	}
}

// Someone else writing the Deployment between Ferry's read and write makes the real
// apiserver answer 409 Conflict; Ferry reads again and keeps both changes.
func TestConflictsAreRetried(t *testing.T) {
	ns := namespace(t)
	deployment(t, ns, "orders", 1, producerEnv("origin:9092"))
	c := env.Admin
	ctx := context.Background()
	var interfered atomic.Int32
	kube.SetBeforeUpdate(func(w kube.Workload) {
		if interfered.Add(1) > 2 {
			return
		}
		patch := fmt.Sprintf(`{"metadata":{"labels":{"touched-%d":"yes"}}}`, interfered.Load())
		if _, err := c.Core.AppsV1().Deployments(w.Namespace).Patch(ctx, w.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Error(err)
		}
	})
	defer kube.SetBeforeUpdate(nil)
	w := kube.Workload{Kind: "Deployment", Namespace: ns, Name: "orders"}
	if _, err := c.Repoint(ctx, w, &runbook.AppConnection{Env: kubetest.EnvBootstrap}, kube.ConnectionTarget{Cluster: "target", Bootstrap: "target:9092"}, "r", "s"); err != nil {
		t.Fatalf("repoint with two conflicts: %v", err)
	}
	if interfered.Load() < 3 {
		t.Fatalf("the hook ran %d times; expected two conflicts and a third, successful attempt", interfered.Load())
	}
	d, _ := c.Core.AppsV1().Deployments(ns).Get(ctx, "orders", metav1.GetOptions{})
	if d.Labels["touched-1"] != "yes" || d.Labels["touched-2"] != "yes" || d.Spec.Template.Spec.Containers[0].Env[2].Value != "target:9092" {
		t.Fatalf("lost a change: labels %v env %v", d.Labels, d.Spec.Template.Spec.Containers[0].Env)
	}
	interfered.Store(0)
	if _, err := c.Scale(ctx, w, 0, "r", "pause"); err != nil {
		t.Fatalf("scale with conflicts: %v", err)
	}
}

// An RBAC denial names the verb and the resource that are missing.
func TestRBACDenialNamesVerbAndResource(t *testing.T) {
	ns := namespace(t)
	deployment(t, ns, "orders", 1, producerEnv("origin:9092"))
	ctx := context.Background()
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "half", Namespace: ns},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list", "patch"}},
			{APIGroups: []string{"apps"}, Resources: []string{"deployments/scale"}, Verbs: []string{"get"}},
		},
	}
	if _, err := env.Admin.Core.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "half", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "half"},
		Subjects:   []rbacv1.Subject{{Kind: "User", Name: kubetest.Nobody}},
	}
	if _, err := env.Admin.Core.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := env.Client(t, kubetest.Nobody)
	w := kube.Workload{Kind: "Deployment", Namespace: ns, Name: "orders"}
	var err error
	for range 50 { // RBAC caches need a moment to see a new binding
		if _, err = c.Scale(ctx, w, 0, "r", "s"); err != nil && strings.Contains(err.Error(), "update") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	msg := fmt.Sprint(err)
	for _, want := range []string{"RBAC denies it", `cannot update resource "deployments/scale"`, `in API group "apps"`, `in the namespace "` + ns + `"`, "deploy/rbac.yaml"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if !kube.Denied(err) || !kube.Permanent(err) {
		t.Errorf("a denial must be recognised and permanent: %v", err)
	}
	d, _ := env.Admin.Core.AppsV1().Deployments(ns).Get(ctx, "orders", metav1.GetOptions{})
	if *d.Spec.Replicas != 1 {
		t.Fatalf("a denied scale changed replicas to %d", *d.Spec.Replicas)
	}
}

// Everything the steps do works as a user holding only deploy/rbac.yaml's roles.
func TestDeployRBACIsEnough(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	b, err := os.ReadFile("../../deploy/rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := kube.Decode(string(b))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() == "ClusterRole" {
			if _, err := env.Admin.Apply(ctx, o, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, rb := range []struct{ kind, name string }{{"RoleBinding", "ferry-steps"}, {"ClusterRoleBinding", "ferry-crd-reader"}} {
		var obj map[string]any
		subj := []any{map[string]any{"kind": "Group", "name": "ferry-workers", "apiGroup": "rbac.authorization.k8s.io"}}
		role := map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": rb.name}
		meta := map[string]any{"name": rb.name + "-test"}
		if rb.kind == "RoleBinding" {
			meta["namespace"] = ns
		}
		obj = map[string]any{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": rb.kind, "metadata": meta, "roleRef": role, "subjects": subj}
		u, _ := kube.Object(obj)
		if _, err := env.Admin.Apply(ctx, u, true); err != nil {
			t.Fatal(err)
		}
	}
	deployment(t, ns, "orders", 2, producerEnv("origin:9092"))
	if _, err := env.Admin.Core.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kafka"}, Data: map[string]string{"bootstrap": "origin:9092"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Admin.Core.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds"}, Data: map[string][]byte{"password": []byte("s3cret")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := env.Client(t, kubetest.Ferry)
	w := kube.Workload{Kind: "Deployment", Namespace: ns, Name: "orders"}
	steps := []struct {
		name string
		do   func() error
	}{
		{"list", func() error {
			_, err := c.Workloads(ctx, "Deployment", ns, "", map[string]string{"tier": "kafka-client"})
			return err
		}},
		{"scale", func() error { _, err := c.Scale(ctx, w, 0, "r", "s"); return err }},
		{"rollout", func() error { _, err := c.RolloutStatus(ctx, w); return err }},
		{"repoint", func() error {
			_, err := c.Repoint(ctx, w, &runbook.AppConnection{Env: kubetest.EnvBootstrap, ConfigMap: &runbook.ConfigMapKey{Name: "kafka", Key: "bootstrap"}}, kube.ConnectionTarget{Cluster: "t", Bootstrap: "target:9092"}, "r", "p")
			return err
		}},
		{"secret", func() error { _, err := c.SecretValue(ctx, ns, "creds", "password"); return err }},
		{"secrets.copy", func() error {
			_, err := kube.CopySecret(ctx, kube.SecretPlace{Client: c, Namespace: ns, Name: "creds"}, kube.SecretPlace{Client: c, Namespace: ns, Name: "creds-copy"}, nil, map[string]string{"strimzi.io/cluster": "target"})
			return err
		}},
		{"kafkatopic", func() error {
			u, _ := kube.Object(map[string]any{"apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaTopic", "metadata": map[string]any{"name": "orders", "namespace": ns}, "spec": map[string]any{"partitions": int64(3)}})
			if _, err := c.Apply(ctx, u, false); err != nil {
				return err
			}
			_, err := c.Delete(ctx, kube.RefOf(u))
			return err
		}},
		{"crd", func() error {
			_, err := c.Get(ctx, kube.Ref{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition", Name: "kafkamirrormaker2s.kafka.strimzi.io"})
			return err
		}},
	}
	for _, s := range steps {
		var err error
		for range 50 { // new bindings take a moment to reach the authorizer
			if err = s.do(); err == nil || !kube.Denied(err) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Errorf("%s as the ferry user: %v", s.name, err)
		}
	}
	// And nothing more: the ferry user cannot read Secrets elsewhere or delete Deployments.
	if err := c.Core.AppsV1().Deployments(ns).Delete(ctx, "orders", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("ferry may delete Deployments: %v", err)
	}
	if _, err := c.Core.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("ferry may list Secrets in other namespaces: %v", err)
	}
}

func TestApplyWaitAndValidation(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	c := env.Admin
	objs, err := kube.Decode(`
apiVersion: kafka.strimzi.io/v1beta2
kind: KafkaTopic
metadata: {name: orders, labels: {strimzi.io/cluster: target}}
spec: {partitions: 12, replicas: 3, config: {retention.ms: 604800000}}
---
apiVersion: kafka.strimzi.io/v1beta2
kind: KafkaUser
metadata: {name: billing}
spec: {authentication: {type: scram-sha-512}}
`)
	if err != nil || len(objs) != 2 {
		t.Fatalf("decode: %d %v", len(objs), err)
	}
	for _, o := range objs {
		o.SetNamespace(ns)
		if _, err := c.Apply(ctx, o, false); err != nil {
			t.Fatal(err)
		}
		// Applying the same object again changes nothing.
		before, _ := c.Get(ctx, kube.RefOf(o))
		if _, err := c.Apply(ctx, o, false); err != nil {
			t.Fatal(err)
		}
		after, _ := c.Get(ctx, kube.RefOf(o))
		if before.GetResourceVersion() != after.GetResourceVersion() {
			t.Fatalf("a second apply of %s wrote again", kube.RefOf(o))
		}
	}
	topic := kube.Ref{APIVersion: "kafka.strimzi.io/v1beta2", Kind: "KafkaTopic", Namespace: ns, Name: "orders"}
	u, _ := c.Get(ctx, topic)
	if s, msg := kube.Condition(u, "Ready"); s != "" || !strings.Contains(msg, "no Ready condition") {
		t.Fatalf("fresh topic: %q %q", s, msg)
	}
	// The operator reports Ready for an older generation: not ready.
	status := func(gen int64, ready string) {
		b, _ := json.Marshal(map[string]any{"status": map[string]any{"observedGeneration": gen, "conditions": []any{map[string]any{"type": "Ready", "status": ready}}}})
		if err := c.Patch(ctx, topic, b, "status"); err != nil {
			t.Fatal(err)
		}
	}
	status(0, "True")
	u, _ = c.Get(ctx, topic)
	if s, _ := kube.Condition(u, "Ready"); s != "Unknown" {
		t.Fatalf("stale generation judged %q", s)
	}
	status(u.GetGeneration(), "True")
	u, _ = c.Get(ctx, topic)
	if s, _ := kube.Condition(u, "Ready"); s != "True" {
		t.Fatalf("ready topic judged %q", s)
	}
	if v, err := kube.JSONPath(u, "{.spec.partitions}"); err != nil || v != "12" {
		t.Fatalf("jsonPath: %q %v", v, err)
	}
	// The CRD schema is enforced by the apiserver: a permanent error, nothing stored.
	bad, _ := kube.Object(map[string]any{"apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaTopic", "metadata": map[string]any{"name": "bad", "namespace": ns}, "spec": map[string]any{"partitions": int64(0)}})
	if _, err := c.Apply(ctx, bad, false); !apierrors.IsInvalid(err) || !kube.Permanent(err) || !strings.Contains(err.Error(), "spec.partitions") {
		t.Fatalf("invalid topic: %v", err)
	}
	if u, _ := c.Get(ctx, kube.RefOf(bad)); u != nil {
		t.Fatal("an invalid object was stored")
	}
	if existed, err := c.Delete(ctx, topic); !existed || err != nil {
		t.Fatalf("delete: %v %v", existed, err)
	}
	if existed, err := c.Delete(ctx, topic); existed || err != nil {
		t.Fatalf("second delete must be a no-op: %v %v", existed, err)
	}
	if _, err := kube.Decode("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n"); err == nil || !strings.Contains(err.Error(), "document 1: ConfigMap: metadata.name is missing") {
		t.Fatalf("nameless object: %v", err)
	}
}

func TestCopySecretAcrossNamespaces(t *testing.T) {
	from, to := namespace(t), namespace(t)
	ctx := context.Background()
	c := env.Admin
	if _, err := c.Core.CoreV1().Secrets(from).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "target-cluster-ca-cert"}, Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"ca.crt": []byte("PEM"), "ca.password": []byte("pw")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	src, dst := kube.SecretPlace{Client: c, Namespace: from, Name: "target-cluster-ca-cert"}, kube.SecretPlace{Client: c, Namespace: to, Name: "target-ca"}
	for range 2 { // the second run updates in place
		keys, err := kube.CopySecret(ctx, src, dst, map[string]string{"ca.crt": "ca.crt"}, map[string]string{"strimzi.io/cluster": "target"})
		if err != nil || len(keys) != 1 || keys[0] != "ca.crt" {
			t.Fatalf("copy: %v %v", keys, err)
		}
	}
	s, err := c.Core.CoreV1().Secrets(to).Get(ctx, "target-ca", metav1.GetOptions{})
	if err != nil || string(s.Data["ca.crt"]) != "PEM" || len(s.Data) != 1 || s.Labels["strimzi.io/cluster"] != "target" {
		t.Fatalf("copy: %+v %v", s, err)
	}
	if _, err := kube.CopySecret(ctx, src, dst, map[string]string{"missing": "x"}, nil); err == nil || strings.Contains(err.Error(), "PEM") || !strings.Contains(err.Error(), `no key "missing"`) {
		t.Fatalf("missing key: %v", err)
	}
}

// deploy/'s manifests are valid for a real apiserver, as kubectl apply -k deploy/ sends them.
func TestDeployManifestsApply(t *testing.T) {
	ctx := context.Background()
	for _, ns := range []string{"shop", "kafka"} {
		_, err := env.Admin.Core.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	n := 0
	for _, f := range []string{"worker.yaml", "rbac.yaml"} {
		b, err := os.ReadFile("../../deploy/" + f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := kube.Decode(string(b))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, o := range objs {
			if _, err := env.Admin.Apply(ctx, o, true); err != nil {
				t.Errorf("%s: %v", f, err)
			}
			n++
		}
	}
	d, err := env.Admin.Core.AppsV1().Deployments("ferry").Get(ctx, "ferry-worker", metav1.GetOptions{})
	if err != nil || d.Spec.Template.Spec.ServiceAccountName != "ferry" || n < 11 {
		t.Fatalf("worker: %v (%d objects)", err, n)
	}
	// The PodMonitor (its CRD is not here) scrapes the worker pods' metrics port, which the
	// worker serves: its selector matches the pod labels and it names the container port.
	b, err := os.ReadFile("../../deploy/monitoring.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := kube.Decode(string(b))
	if err != nil || len(objs) != 1 || objs[0].GetKind() != "PodMonitor" {
		t.Fatalf("monitoring.yaml: %v %v", objs, err)
	}
	sel, _, _ := unstructured.NestedStringMap(objs[0].Object, "spec", "selector", "matchLabels")
	eps, _, _ := unstructured.NestedSlice(objs[0].Object, "spec", "podMetricsEndpoints")
	c := d.Spec.Template.Spec.Containers[0]
	if !labels.SelectorFromSet(sel).Matches(labels.Set(d.Spec.Template.Labels)) || len(eps) != 1 ||
		len(c.Ports) != 1 || eps[0].(map[string]any)["port"] != c.Ports[0].Name ||
		!slices.Contains(c.Args, "--metrics-address") || objs[0].GetNamespace() != d.Namespace {
		t.Fatalf("the PodMonitor does not scrape the worker: selector %v, endpoints %v, container ports %v, args %v", sel, eps, c.Ports, c.Args)
	}
}
