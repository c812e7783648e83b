package activities

import (
	"cmp"
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/ferryhq/ferry/runbook"
)

func (a *Activities) usersSteps() map[string]Step {
	return map[string]Step{runbook.StepKafkaUsers: a.kafkaUsers}
}

// kafkaUsers upserts SCRAM credentials, each password read from its secret. Errors name the
// user and where the password came from, never the password.
func (a *Activities) kafkaUsers(ctx context.Context, in runbook.StepInput) (runbook.StepResult, error) {
	p, err := decode[runbook.KafkaUsersParams](in)
	if err != nil {
		return runbook.StepResult{}, err
	}
	_, adm, closeFn, err := a.conn(ctx, in, p.Cluster)
	if err != nil {
		return runbook.StepResult{}, err
	}
	defer closeFn()
	var upserts []kadm.UpsertSCRAM
	var names []string
	for _, u := range p.Users {
		pass, err := a.resolveSecret(ctx, &u.Password)
		if err != nil {
			return runbook.StepResult{}, err
		}
		mech := kadm.ScramSha512
		if u.Mechanism == "SCRAM-SHA-256" {
			mech = kadm.ScramSha256
		}
		iterations := cmp.Or(u.Iterations, 4096)
		if iterations < 4096 || iterations > 16384 {
			return runbook.StepResult{}, badInput("%s: user %s: iterations %d is outside Kafka's 4096 to 16384", in.StepID, u.Name, iterations)
		}
		upserts = append(upserts, kadm.UpsertSCRAM{User: u.Name, Mechanism: mech, Iterations: int32(iterations), Password: pass})
		names = append(names, fmt.Sprintf("%s (%s)", u.Name, cmp.Or(u.Mechanism, "SCRAM-SHA-512")))
	}
	res, err := adm.AlterUserSCRAMs(ctx, nil, upserts)
	if err != nil {
		return runbook.StepResult{}, fmt.Errorf("cluster %s: set SCRAM users: %w", p.Cluster, err)
	}
	if err := res.Error(); err != nil {
		return runbook.StepResult{}, classify(fmt.Errorf("cluster %s: set SCRAM users: %w", p.Cluster, err))
	}
	return result(map[string]any{"users": list(names)})
}
