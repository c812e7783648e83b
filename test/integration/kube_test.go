package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferryhq/ferry/internal/kube"
	"github.com/ferryhq/ferry/internal/sandbox"
	kubetest "github.com/ferryhq/ferry/test/kube"
	"github.com/ferryhq/ferry/workflows"
)

var (
	kubeOnce sync.Once
	kubeEnv  *kubetest.Env
	kubeErr  error
)

// kubeHarness starts one kube-apiserver for the package (stopped in TestMain).
func kubeHarness(t *testing.T) *kubetest.Env {
	t.Helper()
	kubetest.Skip(t)
	kubeOnce.Do(func() { kubeEnv, kubeErr = kubetest.Start() })
	if kubeErr != nil {
		t.Fatal(kubeErr)
	}
	return kubeEnv
}

func kubeNamespace(t *testing.T, k *kubetest.Env, name string) {
	t.Helper()
	if _, err := k.Admin.Core.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func kubeApp(t *testing.T, k *kubetest.Env, ns, name string, replicas int32, env ...string) {
	t.Helper()
	var vars []corev1.EnvVar
	for i := 0; i+1 < len(env); i += 2 {
		vars = append(vars, corev1.EnvVar{Name: env[i], Value: env[i+1]})
	}
	kubeAppEnv(t, k, ns, name, replicas, vars)
}

// kubeAppEnv creates a Deployment whose container has the given environment.
func kubeAppEnv(t *testing.T, k *kubetest.Env, ns, name string, replicas int32, vars []corev1.EnvVar) {
	t.Helper()
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "shop/" + name, Env: vars}}},
			},
		},
	}
	if _, err := k.Admin.Core.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func sandboxCluster(t *testing.T, name string) *sandbox.Cluster {
	t.Helper()
	c, err := sandbox.Start(name, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func replicasOf(t *testing.T, k *kubetest.Env, ns, name string) int32 {
	t.Helper()
	d, err := k.Admin.Core.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return *d.Spec.Replicas
}

// TestKubernetesMigration is the seeds' cutover with the apps as Deployments on a real
// kube-apiserver: live producer and consumer (run by the stand-in kubelet on kfake clusters),
// mirror, pause the producer by scaling to 0, drain and stop the consumer, translate offsets,
// check parity, repoint both apps, and scale them back to their original replicas — after a
// worker restart in the middle. Every record produced is processed exactly once.
func TestKubernetesMigration(t *testing.T) {
	k := kubeHarness(t)
	kubeNamespace(t, k, "shop")
	origin, target := sandboxCluster(t, "origin"), sandboxCluster(t, "target")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if _, err := sandbox.SeedOrders(ctx, origin.Addr, 6, 3000); err != nil {
		t.Fatal(err)
	}
	ledger := sandbox.NewLedger()
	kl := kubetest.StartKubelet(k.Admin, "shop", ledger)
	defer kl.Stop()
	kubeApp(t, k, "shop", "orders-producer", 2, kubetest.EnvApp, "producer", kubetest.EnvTopic, "orders", kubetest.EnvBootstrap, origin.Addr)
	kubeApp(t, k, "shop", "billing", 1, kubetest.EnvApp, "consumer", kubetest.EnvTopic, "orders", kubetest.EnvGroup, "billing", kubetest.EnvBootstrap, origin.Addr)

	e := start(t, "", newSteps())
	p := plan(t, fmt.Sprintf(`
clusters:
  origin: {bootstrap: ["%s"]}
  target: {bootstrap: ["%s"]}
apps:
  producer: {kind: Deployment, namespace: shop, name: orders-producer, connection: {env: KAFKA_BOOTSTRAP_SERVERS}}
  billing: {kind: Deployment, namespace: shop, selector: {app: billing}, connection: {env: KAFKA_BOOTSTRAP_SERVERS}, groups: [billing]}
replication:
  origin: origin
  target: target
  topics: {include: [orders]}
  groups: {include: [billing]}
steps:
  - {id: topics, uses: topics.sync}
  - {id: mirror, uses: mirror.start}
  - {id: caught_up, uses: mirror.wait, with: {maxLag: 500}}
  - {id: pause_producer, uses: apps.scale, with: {app: producer, replicas: 0}}
  - {id: drained, uses: groups.wait, with: {groups: [billing]}}
  - {id: pause_billing, uses: apps.scale, with: {app: billing, replicas: 0}}
  - {id: synced, uses: mirror.wait}
  - {id: translate, uses: groups.translate}
  - {id: parity, uses: verify.parity}
  - {id: stop, uses: mirror.stop}
  - {id: cutover, uses: approval}
  - {id: repoint_billing, uses: apps.repoint, with: {app: billing, cluster: target}}
  - {id: repoint_producer, uses: apps.repoint, with: {app: producer, cluster: target}}
  - {id: resume_billing, uses: apps.scale, with: {app: billing, restore: true}}
  - {id: resume_producer, uses: apps.scale, with: {app: producer, restore: true}}
  - {id: ready, uses: apps.wait, with: {app: producer}}
`, origin.Addr, target.Addr))
	r := e.run("kube-migrate", workflows.Input{Plan: p})
	e.waitFor("kube-migrate", "the cutover approval", func(s *workflows.Status) bool {
		return step(s, "cutover").Status == workflows.StepWaiting
	})
	if n := replicasOf(t, k, "shop", "orders-producer"); n != 0 {
		t.Fatalf("producer has %d replicas while paused", n)
	}
	// A new worker takes over while the apps are down: the original replicas live in the
	// workflow, not in the worker.
	e.worker.Stop()
	e.startWorker()
	if _, err := e.update("kube-migrate", workflows.UpdateApprove, workflows.Approval{Step: "cutover", By: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Get(ctx, nil); err != nil {
		for _, st := range e.status("kube-migrate").Steps {
			t.Logf("%s %s %s", st.ID, st.Status, st.LastError)
		}
		t.Fatal(err)
	}
	s := e.status("kube-migrate")
	if got := step(s, "pause_producer").Outputs["previous"]; got != float64(2) {
		t.Fatalf("pause_producer previous = %v", got)
	}
	if n, m := replicasOf(t, k, "shop", "orders-producer"), replicasOf(t, k, "shop", "billing"); n != 2 || m != 1 {
		t.Fatalf("after restore: producer %d, billing %d replicas; want 2 and 1", n, m)
	}
	for _, app := range []string{"Deployment/orders-producer", "Deployment/billing"} {
		if got := kl.Bootstrap(app); got != target.Addr {
			t.Fatalf("%s uses %s, want the target %s", app, got, target.Addr)
		}
	}
	// Let the apps run on the target, then stop the producer and let billing catch up.
	produced := ledger.Counts().Produced
	for ledger.Counts().Produced < produced+200 && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	c := k.Admin
	if _, err := c.Scale(ctx, kube.Workload{Kind: "Deployment", Namespace: "shop", Name: "orders-producer"}, 0, "test", "end"); err != nil {
		t.Fatal(err)
	}
	for !(!kl.Running("Deployment/orders-producer") && ledger.Counts().Lost == 0) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	counts := ledger.Counts()
	t.Logf("produced %d, consumed %d, duplicates %d, lost %d", counts.Produced, counts.Consumed, counts.Duplicates, counts.Lost)
	if counts.Lost != 0 || counts.Duplicates != 0 || counts.Produced < produced+200 {
		t.Fatalf("ledger: %+v", counts)
	}
	if errs := kl.Errors(); len(errs) > 0 {
		t.Fatalf("kubelet: %v", errs)
	}
}

// A failed run puts a repointed app back exactly where it was.
func TestKubernetesRepointRollback(t *testing.T) {
	k := kubeHarness(t)
	kubeNamespace(t, k, "rollback")
	kubeApp(t, k, "rollback", "billing", 1, kubetest.EnvBootstrap, "origin-kafka:9092")
	kl := kubetest.StartKubelet(k.Admin, "rollback", sandbox.NewLedger())
	defer kl.Stop()
	e := start(t, "", newSteps())
	p := plan(t, `
clusters:
  origin: {bootstrap: ["origin-kafka:9092"]}
  target: {bootstrap: ["target-kafka:9092"]}
apps:
  billing: {kind: Deployment, namespace: rollback, name: billing, connection: {env: KAFKA_BOOTSTRAP_SERVERS}}
steps:
  - {id: repoint, uses: apps.repoint, with: {app: billing, cluster: target}}
  - {id: boom, uses: fail, with: {message: "parity failed"}}
rollback:
  - {id: back, uses: apps.repoint, with: {app: billing, restore: true}, undoes: repoint}
`)
	r := e.run("kube-rollback", workflows.Input{Plan: p})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := r.Get(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("run: %v", err)
	}
	d, _ := k.Admin.Core.AppsV1().Deployments("rollback").Get(ctx, "billing", metav1.GetOptions{})
	if v := d.Spec.Template.Spec.Containers[0].Env[0].Value; v != "origin-kafka:9092" {
		t.Fatalf("after rollback the app uses %s", v)
	}
	s := e.status("kube-rollback")
	if step(s, "repoint").Outputs["previous"] != "origin-kafka:9092" || step(s, "back").Status != workflows.StepSucceeded {
		t.Fatalf("status: %+v %+v", step(s, "repoint"), step(s, "back"))
	}
}

// The strimzi engine: mirror.start writes a KafkaMirrorMaker2 and returns only once every
// connector and task runs (the Ready condition alone does not count); mirror.stop deletes it.
func TestStrimziEngine(t *testing.T) {
	k := kubeHarness(t)
	kubeNamespace(t, k, "kafka")
	e := start(t, "", newSteps())
	// The worker reaches the clusters at their own addresses (mirror.start checks both answer
	// and sizes MirrorMaker 2 from the origin's topics); MirrorMaker 2 in Kubernetes at the
	// in-cluster ones.
	p := plan(t, fmt.Sprintf(`
clusters:
  origin: %s
  target: %s
replication:
  engine: strimzi
  origin: origin
  target: target
  topics: {include: [orders]}
  strimzi:
    namespace: kafka
    name: migration
    apiGroup: eventstreams.ibm.com
    bootstrap: {origin: "origin-kafka-bootstrap:9092", target: "target-kafka-bootstrap:9092"}
steps:
  - {id: mirror, uses: mirror.start}
  - {id: gate, uses: approval}
  - {id: stop, uses: mirror.stop}
`, bootstrapYAML(kfakeCluster(t)), bootstrapYAML(kfakeCluster(t))))
	r := e.run("strimzi", workflows.Input{Plan: p})
	ref := kube.Ref{APIVersion: "eventstreams.ibm.com/v1beta2", Kind: "KafkaMirrorMaker2", Namespace: "kafka", Name: "migration"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var gen int64
	for ctx.Err() == nil {
		u, err := k.Admin.Get(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		if u != nil {
			gen = u.GetGeneration()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	setStatus := func(taskState string) {
		conn := func(kind string) map[string]any {
			return map[string]any{"name": "origin->target." + kind, "connector": map[string]any{"state": "RUNNING"},
				"tasks": []any{map[string]any{"id": 0, "state": taskState}}}
		}
		b, _ := json.Marshal(map[string]any{"status": map[string]any{"observedGeneration": gen,
			"conditions": []any{map[string]any{"type": "Ready", "status": "True"}},
			"connectors": []any{conn("MirrorSourceConnector"), conn("MirrorCheckpointConnector"), conn("MirrorHeartbeatConnector")}}})
		if err := k.Admin.Patch(ctx, ref, b, "status"); err != nil {
			t.Fatal(err)
		}
	}
	setStatus("UNASSIGNED")
	time.Sleep(3 * time.Second)
	if st := step(e.status("strimzi"), "mirror"); st.Status.Done() {
		t.Fatalf("mirror.start ended while tasks were UNASSIGNED: %+v", st)
	}
	running := time.Now()
	setStatus("RUNNING")
	st := e.waitFor("strimzi", "the gate", func(s *workflows.Status) bool { return step(s, "gate").Status == workflows.StepWaiting })
	m := step(st, "mirror")
	if m.EndedAt.Before(running) || m.Outputs["shape"] != "clusters" || !strings.Contains(fmt.Sprint(m.Outputs["status"]), "RUNNING") {
		t.Fatalf("mirror.start: %+v", m)
	}
	if _, err := e.update("strimzi", workflows.UpdateApprove, workflows.Approval{Step: "gate", By: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if u, err := k.Admin.Get(ctx, ref); err != nil || u != nil {
		t.Fatalf("after mirror.stop the resource is still there: %v %v", u != nil, err)
	}
}
