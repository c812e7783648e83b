package activities

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"go.temporal.io/sdk/testsuite"

	"github.com/ferryhq/ferry/runbook"
)

func aclCluster(t *testing.T) (string, *kadm.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser("PLAIN", "admin", "admin-secret"), kfake.EnableACLs())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.SASL(plain.Auth{User: "admin", Pass: "admin-secret"}.AsMechanism()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return c.ListenAddrs()[0], kadm.NewClient(cl)
}

func TestACLsSync(t *testing.T) {
	ctx := context.Background()
	origin, oadm := aclCluster(t)
	target, tadm := aclCluster(t)
	for _, b := range []*kadm.ACLBuilder{
		kadm.NewACLs().Allow("User:alice").AllowHosts("*").Topics("orders").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral),
		kadm.NewACLs().Allow("User:alice").AllowHosts("*").Groups("billing").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral),
		kadm.NewACLs().Allow("User:bob").AllowHosts("*").Topics("payroll").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral),
		kadm.NewACLs().Allow("User:mm2").AllowHosts("*").Topics("orders").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral),
	} {
		if _, err := oadm.CreateACLs(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("KAFKA_USER", "admin")
	t.Setenv("KAFKA_PASS", "admin-secret")
	sasl := &runbook.SASL{Mechanism: "PLAIN", Username: &runbook.SecretRef{Env: "KAFKA_USER"}, Password: &runbook.SecretRef{Env: "KAFKA_PASS"}}
	in := runbook.StepInput{StepID: "acls",
		Replication: &runbook.Replication{Origin: "na", Target: "eu", Topics: runbook.Patterns{Include: []string{"orders"}}, Naming: "prefixed"},
		Clusters: map[string]*runbook.Cluster{
			"na": {Bootstrap: []string{origin}, SASL: sasl}, "eu": {Bootstrap: []string{target}, SASL: sasl},
		},
		With: map[string]any{"principals": map[string]any{"User:alice": "User:alice-eu"}, "exclude": []any{"User:mm2"}},
	}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	a := &Activities{}
	env.RegisterActivity(a.aclsSync)
	for range 2 { // a second run must change nothing
		if _, err := env.ExecuteActivity(a.aclsSync, in); err != nil {
			t.Fatal(err)
		}
	}
	got, err := tadm.DescribeACLs(ctx, kadm.NewACLs().Topics().Groups().Allow().AllowHosts().Deny().DenyHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range got {
		for _, d := range r.Described {
			lines = append(lines, d.Principal+" "+d.Type.String()+" "+d.Name+" "+d.Operation.String())
		}
	}
	want := "User:alice-eu GROUP billing READ|User:alice-eu TOPIC na.orders READ"
	sort.Strings(lines)
	if strings.Join(lines, "|") != want {
		t.Fatalf("target ACLs %v, want %s (payroll is not replicated, so bob's ACL stays behind; mm2 is excluded)", lines, want)
	}
}
