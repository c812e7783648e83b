package strimzi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ferryhq/ferry/internal/strimzi"
	"github.com/ferryhq/ferry/runbook"
	kubetest "github.com/ferryhq/ferry/test/kube"
)

var env *kubetest.Env

func TestMain(m *testing.M) { kubetest.Main(m, &env) }

func clusters(t *testing.T) (origin, target strimzi.Cluster) {
	t.Helper()
	o := &runbook.Cluster{Bootstrap: []string{"origin-kafka-bootstrap.origin:9093"},
		SASL: &runbook.SASL{Mechanism: "SCRAM-SHA-512", Username: &runbook.SecretRef{Env: "U"}, Password: &runbook.SecretRef{Secret: &runbook.KubeKey{Name: "origin-cluster-credentials", Key: "password"}}},
		TLS:  &runbook.TLS{CA: &runbook.SecretRef{Secret: &runbook.KubeKey{Name: "origin-cluster-ca-cert", Key: "ca.crt"}}}}
	tg := &runbook.Cluster{Bootstrap: []string{"target-kafka-bootstrap.target:9093"},
		TLS: &runbook.TLS{
			CA:   &runbook.SecretRef{Secret: &runbook.KubeKey{Name: "target-cluster-ca-cert", Key: "ca.crt"}},
			Cert: &runbook.SecretRef{Secret: &runbook.KubeKey{Name: "mm2-user", Key: "user.crt"}},
			Key:  &runbook.SecretRef{Secret: &runbook.KubeKey{Name: "mm2-user", Key: "user.key"}}}}
	var err error
	if origin, err = strimzi.ClusterOf("origin-cluster", o, "", "mm2-credentials"); err != nil {
		t.Fatal(err)
	}
	if target, err = strimzi.ClusterOf("target-cluster", tg, "", ""); err != nil {
		t.Fatal(err)
	}
	return origin, target
}

func replication(ns string) *runbook.Replication {
	return &runbook.Replication{
		Engine: "strimzi", Origin: "origin", Target: "target", Alias: "origin-cluster",
		Topics: runbook.Patterns{Include: []string{"orders", "payments.*"}, Exclude: []string{"payments.tmp"}},
		Groups: runbook.Patterns{Include: []string{"billing"}},
		MM2:    &runbook.MM2Settings{SyncInterval: runbook.Duration(30e9), ReplicationFactor: 3, Config: map[string]string{"consumer.max.poll.records": "2000"}},
		Strimzi: &runbook.Strimzi{Namespace: ns, Name: "data-migration", Replicas: 2, Version: "4.1.1",
			Template: map[string]any{"pod": map[string]any{"metadata": map[string]any{"annotations": map[string]any{"eventstreams.production.type": "CloudPakForIntegrationNonProduction"}}}}},
	}
}

// Each shape is generated from one runbook, accepted by its CRD's schema as is (nothing
// pruned), and carries the settings exact translation depends on.
func TestResourceInBothShapesIsAcceptedAsIs(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		group, wantVersion, wantShape string
	}{
		{"kafka.strimzi.io", "kafka.strimzi.io/v1", strimzi.ShapeTarget},
		{"eventstreams.ibm.com", "eventstreams.ibm.com/v1beta2", strimzi.ShapeClusters},
	} {
		t.Run(tc.group, func(t *testing.T) {
			apiVersion, shape, err := strimzi.Detect(ctx, env.Admin, tc.group)
			if err != nil || apiVersion != tc.wantVersion || shape != tc.wantShape {
				t.Fatalf("detect: %s %s %v", apiVersion, shape, err)
			}
			origin, target := clusters(t)
			u := strimzi.Resource(strimzi.Input{APIVersion: apiVersion, Shape: shape, Name: "data-migration", Namespace: "default",
				Runbook: "migrate", Origin: origin, Target: target, Rep: replication("default")})
			out, err := env.Admin.Apply(ctx, u, false)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := json.Marshal(u.Object["spec"])
			got, _ := json.Marshal(out.Object["spec"])
			if string(want) != string(got) {
				t.Fatalf("the apiserver changed the spec (pruned fields?)\nsent %s\ngot  %s", want, got)
			}
			spec := out.Object["spec"].(map[string]any)
			mirror := spec["mirrors"].([]any)[0].(map[string]any)
			src := mirror["sourceConnector"].(map[string]any)["config"].(map[string]any)
			for k, v := range map[string]any{"offset-syncs.topic.location": "target", "offset.lag.max": int64(0),
				"replication.policy.class": "org.apache.kafka.connect.mirror.IdentityReplicationPolicy", "sync.topic.acls.enabled": "false",
				"replication.factor": int64(3), "consumer.max.poll.records": "2000"} {
				if src[k] != v {
					t.Errorf("source connector %s = %v, want %v", k, src[k], v)
				}
			}
			cp := mirror["checkpointConnector"].(map[string]any)["config"].(map[string]any)
			if cp["emit.checkpoints.interval.seconds"] != int64(30) || cp["sync.group.offsets.enabled"] != "false" || cp["offset-syncs.topic.location"] != "target" {
				t.Errorf("checkpoint connector: %v", cp)
			}
			if mirror["topicsPattern"] != "orders|payments.*" || mirror["topicsExcludePattern"] != "payments.tmp" || mirror["groupsPattern"] != "billing" {
				t.Errorf("patterns: %v", mirror)
			}
			if spec["replicas"] != int64(2) || spec["version"] != "4.1.1" || spec["template"] == nil {
				t.Errorf("spec: %v", spec)
			}
			var tgt map[string]any
			if shape == strimzi.ShapeTarget {
				tgt = spec["target"].(map[string]any)
				if tgt["groupId"] != "ferry-migrate" || tgt["offsetStorageTopic"] != "ferry-migrate-offsets" || mirror["source"].(map[string]any)["alias"] != "origin-cluster" {
					t.Errorf("target shape: %v / %v", tgt, mirror["source"])
				}
			} else {
				if spec["connectCluster"] != "target-cluster" || mirror["sourceCluster"] != "origin-cluster" || mirror["targetCluster"] != "target-cluster" || mirror["heartbeatConnector"] == nil {
					t.Errorf("clusters shape: %v", spec)
				}
				tgt = spec["clusters"].([]any)[1].(map[string]any)
				if tgt["config"].(map[string]any)["group.id"] != "ferry-migrate" {
					t.Errorf("connect group: %v", tgt["config"])
				}
			}
			auth := tgt["authentication"].(map[string]any)
			if auth["type"] != "tls" || auth["certificateAndKey"].(map[string]any)["secretName"] != "mm2-user" {
				t.Errorf("target auth: %v", auth)
			}
			var src0 map[string]any
			if shape == strimzi.ShapeTarget {
				src0 = mirror["source"].(map[string]any)
			} else {
				src0 = spec["clusters"].([]any)[0].(map[string]any)
			}
			sa := src0["authentication"].(map[string]any)
			if sa["type"] != "scram-sha-512" || sa["username"] != "mm2-credentials" || sa["passwordSecret"].(map[string]any)["secretName"] != "origin-cluster-credentials" {
				t.Errorf("origin auth: %v", sa)
			}
		})
	}
}

func TestSecretsMustBeKubernetesSecrets(t *testing.T) {
	c := &runbook.Cluster{Bootstrap: []string{"x:1"}, SASL: &runbook.SASL{Mechanism: "PLAIN", Username: &runbook.SecretRef{Env: "U"}, Password: &runbook.SecretRef{Env: "P"}}}
	if _, err := strimzi.ClusterOf("a", c, "", "u"); err == nil || !strings.Contains(err.Error(), "Kubernetes Secret reference") {
		t.Fatalf("env password accepted: %v", err)
	}
}

func status(gen int64, ready string, connectors ...map[string]any) map[string]any {
	list := make([]any, len(connectors))
	for i, c := range connectors {
		list[i] = c
	}
	return map[string]any{"observedGeneration": gen, "conditions": []any{map[string]any{"type": "Ready", "status": ready}}, "connectors": list}
}

func connector(kind, state string, tasks ...string) map[string]any {
	ts := make([]any, len(tasks))
	for i, s := range tasks {
		ts[i] = map[string]any{"id": int64(i), "state": s, "worker_id": "mm2-0"}
	}
	return map[string]any{"name": "origin-cluster->target-cluster." + kind, "connector": map[string]any{"state": state}, "tasks": ts, "type": "source"}
}

// Ready means the operator saw the latest generation and every connector and every task
// runs; the Ready condition alone is not enough.
func TestJudge(t *testing.T) {
	u := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"generation": int64(2)}}}
	all := func(state string) []map[string]any {
		return []map[string]any{connector("MirrorSourceConnector", "RUNNING", "RUNNING", state), connector("MirrorCheckpointConnector", "RUNNING", "RUNNING")}
	}
	for _, tc := range []struct {
		name   string
		status map[string]any
		shape  string
		ready  bool
		failed bool
		msg    string
	}{
		{"no status", nil, strimzi.ShapeTarget, false, false, "has not seen generation 2"},
		{"old generation", status(1, "True", all("RUNNING")...), strimzi.ShapeTarget, false, false, "has not seen generation 2"},
		{"ready condition but a task unassigned", status(2, "True", all("UNASSIGNED")...), strimzi.ShapeTarget, false, false, "MirrorSourceConnector task 1 UNASSIGNED"},
		{"ready condition but no checkpoint connector", status(2, "True", connector("MirrorSourceConnector", "RUNNING", "RUNNING")), strimzi.ShapeTarget, false, false, "MirrorCheckpointConnector not reported yet"},
		{"clusters shape also needs the heartbeat connector", status(2, "True", all("RUNNING")...), strimzi.ShapeClusters, false, false, "MirrorHeartbeatConnector not reported yet"},
		{"not ready condition", status(2, "False", all("RUNNING")...), strimzi.ShapeTarget, false, false, "not Ready"},
		{"task failed", status(2, "True", all("FAILED")...), strimzi.ShapeTarget, false, true, "task 1 FAILED"},
		{"all running", status(2, "True", all("RUNNING")...), strimzi.ShapeTarget, true, false, "2 connectors and all their tasks RUNNING"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := u.DeepCopy()
			if tc.status != nil {
				u.Object["status"] = tc.status
			}
			h := strimzi.Judge(u, tc.shape)
			if h.Ready != tc.ready || h.Failed != tc.failed || !strings.Contains(h.Message, tc.msg) {
				t.Fatalf("got %+v, want ready=%v failed=%v message containing %q", h, tc.ready, tc.failed, tc.msg)
			}
		})
	}
}

// Without permission to read CRDs, discovery decides the shape.
func TestDetectWithoutCRDAccess(t *testing.T) {
	c := env.Client(t, kubetest.Nobody)
	apiVersion, shape, err := strimzi.Detect(context.Background(), c, "kafka.strimzi.io")
	if err != nil || apiVersion != "kafka.strimzi.io/v1" || shape != strimzi.ShapeTarget {
		t.Fatalf("%s %s %v", apiVersion, shape, err)
	}
	if _, _, err := strimzi.Detect(context.Background(), env.Admin, "example.com"); err == nil || !strings.Contains(err.Error(), "is not installed") {
		t.Fatalf("missing CRD: %v", err)
	}
}
