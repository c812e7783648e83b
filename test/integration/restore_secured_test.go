package integration

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/ferryhq/ferry/internal/sandbox"
	"github.com/ferryhq/ferry/workflows"
)

// TestRestoreSecured is restore.yaml with secured=true on clusters that authenticate
// (SASL) and authorize (ACLs): the apps log in to the restored cluster as their own SCRAM
// users, which exist there only because kafka.users recreated them (passwords from the
// worker's environment, never in the run) and may read and write only because acls.sync
// copied their ACLs from the backup. Every record is processed once.
func TestRestoreSecured(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	secured := func(name string) *sandbox.Cluster {
		c, err := sandbox.Start(name, "", kfake.EnableSASL(), kfake.Superuser("PLAIN", "admin", "admin-secret"), kfake.EnableACLs())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	admin := kgo.SASL(plain.Auth{User: "admin", Pass: "admin-secret"}.AsMechanism())
	backup, fresh := secured("backup"), secured("primary-new")
	// The backup as backup.yaml left it: the orders, billing's position, the apps' ACLs.
	badm := kadm.NewClient(kclient(t, backup.Addr, admin))
	if _, err := badm.CreateTopic(ctx, 3, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	for _, b := range []*kadm.ACLBuilder{
		kadm.NewACLs().Allow("User:orders-producer").AllowHosts("*").Topics("orders").Operations(kadm.OpWrite, kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternLiteral),
		kadm.NewACLs().Allow("User:billing").AllowHosts("*").Topics("orders").Operations(kadm.OpRead, kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternLiteral),
		kadm.NewACLs().Allow("User:billing").AllowHosts("*").Groups("billing").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral),
	} {
		if _, err := badm.CreateACLs(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("ADMIN_USER", "admin")
	t.Setenv("ADMIN_PASS", "admin-secret")
	t.Setenv("BILLING_PASSWORD", "billing-s3cret")
	t.Setenv("PRODUCER_PASSWORD", "producer-s3cret")

	e := start(t, "", newSteps())
	ledger := sandbox.NewLedger()
	as := func(user, pass string) kgo.Opt {
		return kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism())
	}
	// The apps were paused when the region was lost; they come back on the new cluster.
	producer := sandbox.NewProducer("orders-producer", "lost:9092", "orders", 300, ledger, as("orders-producer", "producer-s3cret"))
	consumer := sandbox.NewConsumer("billing", "lost:9092", "billing", "orders", ledger, as("billing", "billing-s3cret"))
	control, err := sandbox.Serve(map[string]sandbox.App{"orders-producer": producer, "billing": consumer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(control.Close)
	e.sandboxes.Set("origin", fresh.Addr)
	e.sandboxes.Set("target", backup.Addr)
	e.sandboxes.Set(sandbox.ControlName, control.Addr)
	t.Cleanup(func() { _, _ = producer.Scale(context.Background(), 0); _, _ = consumer.Scale(context.Background(), 0) })

	sasl := `, sasl: {mechanism: PLAIN, username: {env: ADMIN_USER}, password: {env: ADMIN_PASS}}}`
	r := e.run("restore", workflows.Input{Plan: sampleRunbook(t, "restore.yaml",
		"europe: {sandbox: target}", "europe: {sandbox: target"+sasl,
		"north_america: {sandbox: origin}", "north_america: {sandbox: origin"+sasl,
		"secured: {type: bool, default: false", "secured: {type: bool, default: true",
		"default: after", `default: "no"`)})
	if err := r.Get(ctx, nil); err != nil {
		for _, st := range e.status("restore").Steps {
			t.Logf("%s %s %s", st.ID, st.Status, st.LastError)
		}
		t.Fatal(err)
	}
	s := e.status("restore")
	t.Logf("users: %v; acls: %v", step(s, "users").Outputs["users"], step(s, "acls").Outputs["acls"])
	time.Sleep(2 * time.Second) // the apps work on the restored cluster, as themselves
	if producer.Status().Bootstrap != fresh.Addr {
		t.Fatalf("producer: %+v", producer.Status())
	}
	if ledger.Counts().Consumed == 0 {
		t.Fatal("billing processed nothing on the restored cluster: its user or ACLs are missing")
	}
	n := stopApps(t, ctx, fresh.Addr, ledger, producer, consumer, admin)
	if n.Produced == 0 || n.Lost != 0 || n.Duplicates != 0 {
		t.Fatalf("produced %d, lost %d, processed twice %d", n.Produced, n.Lost, n.Duplicates)
	}
	// The passwords never entered the run.
	hist := e.history("restore")
	for _, secret := range []string{"billing-s3cret", "producer-s3cret", "admin-secret"} {
		if bytes.Contains(hist, []byte(secret)) {
			t.Fatalf("the run's history holds the password %q", secret)
		}
	}
}
