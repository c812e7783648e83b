package activities

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"go.temporal.io/sdk/testsuite"

	"github.com/ferryhq/ferry/runbook"
)

// kafka.users creates SCRAM users with passwords read from secrets: the new user can log in
// with that password, and neither the outputs nor an error carry it.
func TestKafkaUsersFromSecrets(t *testing.T) {
	addr, _ := aclCluster(t)
	t.Setenv("ADMIN_USER", "admin")
	t.Setenv("ADMIN_PASS", "admin-secret")
	t.Setenv("BILLING_PASS", "billing-s3cret")
	in := runbook.StepInput{StepID: "users",
		Clusters: map[string]*runbook.Cluster{"restored": {Bootstrap: []string{addr},
			SASL: &runbook.SASL{Mechanism: "PLAIN", Username: &runbook.SecretRef{Env: "ADMIN_USER"}, Password: &runbook.SecretRef{Env: "ADMIN_PASS"}}}},
		With: map[string]any{"cluster": "restored", "users": []any{
			map[string]any{"name": "billing", "password": map[string]any{"env": "BILLING_PASS"}},
			map[string]any{"name": "shipping", "password": map[string]any{"env": "BILLING_PASS"}, "mechanism": "SCRAM-SHA-256", "iterations": 4096},
		}},
	}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	a := &Activities{}
	env.RegisterActivity(a.kafkaUsers)
	v, err := env.ExecuteActivity(a.kafkaUsers, in)
	if err != nil {
		t.Fatal(err)
	}
	var res runbook.StepResult
	if err := v.Get(&res); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(res.Outputs["users"]); got != "[billing (SCRAM-SHA-512) shipping (SCRAM-SHA-256)]" {
		t.Fatalf("outputs %v", got)
	}
	for user, mech := range map[string]sasl.Mechanism{
		"billing":  scram.Auth{User: "billing", Pass: "billing-s3cret"}.AsSha512Mechanism(),
		"shipping": scram.Auth{User: "shipping", Pass: "billing-s3cret"}.AsSha256Mechanism(),
	} {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(mech))
		if err != nil {
			t.Fatal(err)
		}
		_, err = kadm.NewClient(cl).BrokerMetadata(context.Background())
		cl.Close()
		if err != nil {
			t.Errorf("%s cannot log in with the password from its secret: %v", user, err)
		}
	}
	// A password that is not there fails naming where it was looked for, not a value.
	in.With = map[string]any{"cluster": "restored", "users": []any{map[string]any{"name": "x", "password": map[string]any{"env": "NO_SUCH_PASS"}}}}
	if _, err := env.ExecuteActivity(a.kafkaUsers, in); err == nil || !strings.Contains(err.Error(), "NO_SUCH_PASS") {
		t.Fatalf("missing secret: %v", err)
	}
}
