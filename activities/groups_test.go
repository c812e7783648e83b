package activities

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"go.temporal.io/sdk/testsuite"

	"github.com/ferryhq/ferry/internal/mirror"
	"github.com/ferryhq/ferry/runbook"
)

// A target principal allowed to move its groups but not to write MirrorMaker 2 checkpoints
// still completes the cutover: the offsets are committed and the step says why no checkpoint
// was written.
func TestTranslateWithoutCheckpointRights(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	origin, oadm := aclCluster(t)
	target, tadm := aclCluster(t)
	if _, err := oadm.CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	admin := func(addr string) []kgo.Opt {
		return []kgo.Opt{kgo.SeedBrokers(addr), kgo.SASL(plainAuth("admin", "admin-secret"))}
	}
	prod, err := kgo.NewClient(append(admin(origin), kgo.DefaultProduceTopic("orders"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for i := range 10 {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 7, LeaderEpoch: -1})
	if _, err := oadm.CommitOffsets(ctx, "billing", offs); err != nil {
		t.Fatal(err)
	}
	// The mirror copies as admin.
	mctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- mirror.Run(mctx, mirror.Config{Origin: admin(origin), Target: admin(target), SyncTopic: "mm2-offset-syncs.na.internal",
			Select: func(t string) bool { return t == "orders" }, Discover: 100 * time.Millisecond})
	}()
	for ctx.Err() == nil {
		if e, err := tadm.ListEndOffsets(ctx, "orders"); err == nil && e["orders"][0].Offset == 10 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// cutover may read the syncs and orders, and move billing; nothing else.
	if _, err := tadm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "cutover", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "cutover-secret"}}); err != nil {
		t.Fatal(err)
	}
	for _, b := range []*kadm.ACLBuilder{
		kadm.NewACLs().Allow("User:cutover").AllowHosts("*").Topics("orders", "mm2-offset-syncs.na.internal").Operations(kadm.OpRead, kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternLiteral),
		kadm.NewACLs().Allow("User:cutover").AllowHosts("*").Groups("billing").Operations(kadm.OpRead, kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternLiteral),
	} {
		if _, err := tadm.CreateACLs(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("ADMIN_USER", "admin")
	t.Setenv("ADMIN_PASS", "admin-secret")
	t.Setenv("CUTOVER_USER", "cutover")
	t.Setenv("CUTOVER_PASS", "cutover-secret")
	in := runbook.StepInput{StepID: "translate",
		Replication: &runbook.Replication{Origin: "na", Target: "eu", Topics: runbook.Patterns{Include: []string{"orders"}}, Groups: runbook.Patterns{Include: []string{"billing"}}},
		Clusters: map[string]*runbook.Cluster{
			"na": {Bootstrap: []string{origin}, SASL: &runbook.SASL{Mechanism: "PLAIN", Username: &runbook.SecretRef{Env: "ADMIN_USER"}, Password: &runbook.SecretRef{Env: "ADMIN_PASS"}}},
			"eu": {Bootstrap: []string{target}, SASL: &runbook.SASL{Mechanism: "SCRAM-SHA-256", Username: &runbook.SecretRef{Env: "CUTOVER_USER"}, Password: &runbook.SecretRef{Env: "CUTOVER_PASS"}}},
		},
	}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	a := &Activities{}
	env.RegisterActivity(a.groupsTranslate)
	v, err := env.ExecuteActivity(a.groupsTranslate, in)
	if err != nil {
		t.Fatal(err)
	}
	var res runbook.StepResult
	if err := v.Get(&res); err != nil {
		t.Fatal(err)
	}
	if res.Outputs["checkpoints"] != float64(0) || !strings.Contains(res.Outputs["checkpointsSkipped"].(string), "na.checkpoints.internal") {
		t.Fatalf("outputs %v: want no checkpoint and the reason", res.Outputs)
	}
	got, err := tadm.FetchOffsets(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := got.Lookup("orders", 0); o.At != 7 {
		t.Fatalf("billing on the target at %d, want 7", o.At)
	}
}

func plainAuth(user, pass string) sasl.Mechanism {
	return plain.Auth{User: user, Pass: pass}.AsMechanism()
}

// groups.reset takes exactly one of to, at and offsets, and an RFC 3339 time: anything else
// is bad input (not retried), before any cluster is reached.
func TestGroupsResetInput(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	a := &Activities{}
	env.RegisterActivity(a.groupsReset)
	for want, with := range map[string]map[string]any{
		"exactly one of to, at and offsets": {"to": "earliest", "at": "2026-12-01T02:00:00Z"},
		"want RFC 3339":                     {"at": "yesterday"},
	} {
		with["cluster"], with["groups"] = "eu", []any{"billing"}
		_, err := env.ExecuteActivity(a.groupsReset, runbook.StepInput{StepID: "reset", With: with})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "BadInput") {
			t.Errorf("%v: %v", with, err)
		}
	}
}
