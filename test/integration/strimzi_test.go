package integration

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferryhq/ferry/internal/kube"
	"github.com/ferryhq/ferry/internal/sandbox"
	kafkatest "github.com/ferryhq/ferry/test/kafka"
	kubetest "github.com/ferryhq/ferry/test/kube"
	"github.com/ferryhq/ferry/workflows"
)

// TestMigrateStrimzi runs runbooks/migrate-strimzi.yaml (seed 001) as written, on two Apache
// Kafka clusters with SCRAM over TLS and the authorizer on, a real Kafka Connect worker and the
// real kube-apiserver. Stand-ins do what the Event Streams operators would: KafkaUsers become
// SCRAM users with their ACLs and Secrets in the operator's format, the KafkaMirrorMaker2
// becomes MirrorMaker 2 connectors on the Connect worker. The apps (a producer and billing,
// Deployments run by the stand-in kubelet) log in as their own users. Nothing is lost or
// processed twice, the apps end on the target with their own credentials, and the
// migration's user is gone from both clusters with its Secrets.
func TestMigrateStrimzi(t *testing.T) {
	k := kubeHarness(t)
	origin := kafkatest.StartCluster(t, "origin", kafkatest.WithSCRAM(), kafkatest.WithACLs())
	target := kafkatest.StartCluster(t, "target", kafkatest.WithSCRAM(), kafkatest.WithACLs())
	worker := kafkatest.StartConnect(t, target.Addr)
	// The apps live in their own namespace here: the package's other tests use shop.
	const shop = "seed001-shop"
	for _, ns := range []string{"origin-ns", "target-ns", "migration", shop} {
		kubeNamespace(t, k, ns)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	oadm, tadm := kadm.NewClient(origin.Client(t)), kadm.NewClient(target.Client(t))
	const group = "eventstreams.ibm.com"
	var stops []func() []error
	for _, c := range []struct {
		ns, name string
		adm      *kadm.Client
		kafka    *kafkatest.Cluster
	}{{"origin-ns", "origin", oadm, origin}, {"target-ns", "target", tadm, target}} {
		op, err := kubetest.StartUserOperator(k.Admin, group, c.ns, c.name, c.adm, c.kafka.SCRAM.CAFile)
		if err != nil {
			t.Fatal(err)
		}
		stops = append(stops, func() []error { op.Stop(); return op.Errors() })
	}
	mmo := kubetest.StartMirrorMakerOperator(k.Admin, group, "migration", worker.URL)
	stops = append(stops, func() []error { mmo.Stop(); return mmo.Errors() })
	defer func() {
		for _, stop := range stops {
			if errs := stop(); len(errs) > 0 {
				t.Errorf("stand-in operator: %v", errs)
			}
		}
	}()

	// The origin as the apps know it: orders, and a user per app with its ACLs.
	if _, err := oadm.CreateTopic(ctx, 3, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	users := map[string]string{
		"orders-producer": `{resource: {type: topic, name: orders, patternType: literal}, operations: [Write, Describe]}`,
		"billing": `{resource: {type: topic, name: orders, patternType: literal}, operations: [Read, Describe]}
      - {resource: {type: group, name: billing, patternType: literal}, operations: [Read, Describe]}`,
	}
	for name, acls := range users {
		applyYAML(t, k, fmt.Sprintf(`apiVersion: %s/v1beta2
kind: KafkaUser
metadata: {name: %s, namespace: origin-ns, labels: {%s/cluster: origin}}
spec:
  authentication: {type: scram-sha-512}
  authorization:
    type: simple
    acls:
      - %s
`, group, name, group, acls))
		password := secretValue(ctx, t, k, "origin-ns", name, "password")
		createSecret(ctx, t, k, shop, name+"-origin", map[string]string{"password": password})
	}
	ca, err := os.ReadFile(origin.SCRAM.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	createSecret(ctx, t, k, shop, "origin-cluster-ca-cert", map[string]string{"ca.crt": string(ca)})
	for _, app := range []struct{ name, role string }{{"orders-producer", "producer"}, {"billing", "consumer"}} {
		secretEnv := func(name, secret, key string) corev1.EnvVar {
			return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: key}}}
		}
		kubeAppEnv(t, k, shop, app.name, 1, []corev1.EnvVar{
			{Name: kubetest.EnvApp, Value: app.role}, {Name: kubetest.EnvTopic, Value: "orders"}, {Name: kubetest.EnvGroup, Value: "billing"},
			{Name: kubetest.EnvBootstrap, Value: origin.SecureAddr}, {Name: kubetest.EnvUser, Value: app.name},
			secretEnv(kubetest.EnvPassword, app.name+"-origin", "password"), secretEnv(kubetest.EnvCA, "origin-cluster-ca-cert", "ca.crt"),
		})
	}
	ledger := sandbox.NewLedger()
	kl := kubetest.StartKubelet(k.Admin, shop, ledger)
	defer kl.Stop()
	for ledger.Counts().Consumed < 200 && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	if ctx.Err() != nil {
		t.Fatalf("the apps do not run on the origin: %+v, kubelet %v", ledger.Counts(), kl.Errors())
	}

	b, err := os.ReadFile("../../runbooks/migrate-strimzi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src := strings.NewReplacer(
		"origin-kafka-bootstrap-origin-ns.apps.example.com:443", origin.SecureAddr,
		"target-kafka-bootstrap-target-ns.apps.example.com:443", target.SecureAddr,
		"origin-kafka-bootstrap.origin-ns.svc:9093", origin.SecureAddr,
		"target-kafka-bootstrap.target-ns.svc:9093", target.SecureAddr,
		"replicationFactor: 3", "replicationFactor: 1", // one broker each
		"namespace: shop", "namespace: "+shop,
		"interval: 10s", "interval: 1s", "interval: 5s", "interval: 1s", "syncInterval: 10s", "syncInterval: 1s",
	).Replace(string(b))
	plan := compile(t, "../../runbooks/migrate-strimzi.yaml", src)
	e := start(t, "", newSteps())
	// Turned down at the gate: the rollback removes the migration's user too.
	r := e.run("strimzi-rejected", workflows.Input{Plan: plan})
	e.waitFor("strimzi-rejected", "the cutover gate", func(s *workflows.Status) bool { return step(s, "cutover_gate").Status == workflows.StepWaiting })
	if _, err := e.update("strimzi-rejected", workflows.UpdateApprove, workflows.Approval{Step: "cutover_gate", By: "test", Reject: true}); err != nil {
		t.Fatal(err)
	}
	if err := r.Get(ctx, nil); err == nil {
		t.Fatal("a run turned down at the gate succeeded")
	}
	migrationUserGone(ctx, t, k, "after the rollback", oadm, tadm)
	if got := kl.Bootstrap("Deployment/billing"); got != origin.SecureAddr || !kl.Running("Deployment/billing") {
		t.Fatalf("after the rollback billing uses %s (running %v), want the origin", got, kl.Running("Deployment/billing"))
	}
	r = e.run("strimzi-migration", workflows.Input{Plan: plan})
	e.waitFor("strimzi-migration", "the cutover gate", func(s *workflows.Status) bool { return step(s, "cutover_gate").Status == workflows.StepWaiting })
	if _, err := e.update("strimzi-migration", workflows.UpdateApprove, workflows.Approval{Step: "cutover_gate", By: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Get(ctx, nil); err != nil {
		for _, st := range e.status("strimzi-migration").Steps {
			t.Logf("%s %s %s", st.ID, st.Status, st.LastError)
		}
		t.Fatalf("%v (kubelet %v)", err, kl.Errors())
	}

	// The apps run on the target as their own users.
	produced := ledger.Counts().Produced
	for ledger.Counts().Produced < produced+200 && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := k.Admin.Scale(ctx, kube.Workload{Kind: "Deployment", Namespace: shop, Name: "orders-producer"}, 0, "test", "end"); err != nil {
		t.Fatal(err)
	}
	for !(!kl.Running("Deployment/orders-producer") && ledger.Counts().Lost == 0) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	counts := ledger.Counts()
	t.Logf("seed 001 (migrate-strimzi.yaml): produced %d, consumed %d, processed twice %d, lost %d", counts.Produced, counts.Consumed, counts.Duplicates, counts.Lost)
	if counts.Lost != 0 || counts.Duplicates != 0 || counts.Produced < produced+200 {
		t.Fatalf("ledger: %+v", counts)
	}
	for _, app := range []string{"orders-producer", "billing"} {
		if got := kl.Bootstrap("Deployment/" + app); got != target.SecureAddr {
			t.Errorf("%s uses %s, want the target %s", app, got, target.SecureAddr)
		}
		d, err := k.Admin.Core.AppsV1().Deployments(shop).Get(ctx, app, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		refs := map[string]string{}
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				refs[e.Name] = e.ValueFrom.SecretKeyRef.Name
			}
		}
		if refs[kubetest.EnvPassword] != app+"-target" || refs[kubetest.EnvCA] != "target-cluster-ca-cert" {
			t.Errorf("%s reads its credentials from %v, want its own on the target", app, refs)
		}
	}

	migrationUserGone(ctx, t, k, "after the migration", oadm, tadm)
	// billing's ACLs came over for its own user.
	acls, err := tadm.DescribeACLs(ctx, kadm.NewACLs().Allow("User:billing").AllowHosts().Groups("billing").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
	if err != nil || len(acls) == 0 || len(acls[0].Described) == 0 {
		t.Errorf("billing's group ACL on the target: %v %v", acls, err)
	}
	if errs := kl.Errors(); len(errs) > 0 {
		t.Errorf("kubelet: %v", errs)
	}
}

// migrationUserGone checks that the migration's user is gone from both clusters, with its ACLs
// and Secrets (the stand-in operator removes the user when its KafkaUser goes).
func migrationUserGone(ctx context.Context, t *testing.T, k *kubetest.Env, when string, origin, target *kadm.Client) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second) // the operator's next round
	for time.Now().Before(deadline) {
		o, err1 := origin.DescribeUserSCRAMs(ctx)
		d, err2 := target.DescribeUserSCRAMs(ctx)
		if err1 == nil && err2 == nil && o["mm2-credentials"].User == "" && d["mm2-credentials"].User == "" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for side, adm := range map[string]*kadm.Client{"origin": origin, "target": target} {
		described, err := adm.DescribeUserSCRAMs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := described["mm2-credentials"]; ok {
			t.Errorf("%s: %s still has the SCRAM user mm2-credentials", when, side)
		}
		acls, err := adm.DescribeACLs(ctx, kadm.NewACLs().Allow("User:mm2-credentials").AllowHosts().AnyResource().
			Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range acls {
			if len(r.Described) > 0 {
				t.Errorf("%s: %s still has ACLs of mm2-credentials: %v", when, side, r.Described)
			}
		}
	}
	for _, s := range []struct{ ns, name string }{{"migration", "origin-cluster-credentials"}, {"migration", "target-cluster-credentials"}, {"origin-ns", "mm2-credentials"}, {"target-ns", "mm2-credentials"}} {
		if _, err := k.Admin.Core.CoreV1().Secrets(s.ns).Get(ctx, s.name, metav1.GetOptions{}); err == nil {
			t.Errorf("%s: Secret %s/%s is still there", when, s.ns, s.name)
		}
	}
}

func applyYAML(t *testing.T, k *kubetest.Env, doc string) {
	t.Helper()
	objs, err := kube.Decode(doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if _, err := k.Admin.Apply(context.Background(), o, false); err != nil {
			t.Fatal(err)
		}
	}
}

// secretValue waits for a Secret's key (an operator writes it) and returns it.
func secretValue(ctx context.Context, t *testing.T, k *kubetest.Env, ns, name, key string) string {
	t.Helper()
	for {
		v, err := k.Admin.SecretValue(ctx, ns, name, key)
		if err == nil {
			return v
		}
		if ctx.Err() != nil {
			t.Fatalf("Secret %s/%s: %v", ns, name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func createSecret(ctx context.Context, t *testing.T, k *kubetest.Env, ns, name string, data map[string]string) {
	t.Helper()
	if _, err := k.Admin.Core.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, StringData: data}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
